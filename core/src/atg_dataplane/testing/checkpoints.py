"""Checkpoints for a plugin's resume tests: one that stops the copy after its Nth save, as
a process killed at that moment would (the saved steps are durable, the rest is not)."""

from __future__ import annotations

from atg_dataplane.context import Checkpoint


class Killed(Exception):
    """The copy was stopped right after a checkpoint was saved."""


class KilledAfter(Checkpoint):
    """Raises :class:`Killed` once ``saves`` values have been saved; keeps them, so the
    same checkpoint given to the next attempt resumes from the last one."""

    def __init__(self, saves: int) -> None:
        super().__init__()
        self.left = saves

    def save(self, value: str) -> None:
        super().save(value)
        self.left -= 1
        if self.left == 0:
            raise Killed
