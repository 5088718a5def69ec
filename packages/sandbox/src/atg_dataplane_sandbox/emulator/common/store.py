"""The emulator's state: plain JSON-able dicts in memory, snapshotted to disk.

Everything runs on one event loop, so no locks. Handlers call :meth:`Store.touch` after a
change; a background task writes the snapshot at most every ``interval`` seconds and on
shutdown, so the data survives ``sandbox down``/``up``.

Encoding the snapshot holds the loop, and its cost grows with the state: at the
benchmark's 100x (a 20 MB snapshot) one encoding took about as long as the interval, so
the emulator spent most of its loop saving itself and every request waited behind it.
The wait after an encoding is therefore at least ``LOOP_SHARE_INVERSE`` times what the
encoding took: snapshots never take more than a small, fixed share of the loop, whatever
the state's size.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path
from typing import Any

STATE_FILE = "state.json"
LOOP_SHARE_INVERSE = 20
"""A snapshot costs at most 1/20 of the loop's time (see the module's docstring)."""


class Section(dict):  # type: ignore[type-arg]
    """A section of the state (lower-case id -> item) that also knows the keys below each
    parent (a key up to its last ``/``): the ARM tree lists one parent's children from it
    instead of walking every stored child of every type, which made each listing cost
    the tenant's size (12 % of the emulator's CPU at the benchmark's 100x).

    Every way of changing a dict goes through the index; reading is a plain dict's."""

    __slots__ = ("_below",)

    def __init__(self, items: Any = (), /) -> None:
        super().__init__()
        self._below: dict[str, dict[str, None]] = {}
        self.update(items)

    def __reduce__(self) -> Any:
        return (Section, (dict(self),))

    def below(self, parent: str) -> list[str]:
        """The keys right below ``parent`` (lower case, no trailing ``/``)."""
        return list(self._below.get(parent, ()))

    def __setitem__(self, key: Any, value: Any) -> None:
        if key not in self and isinstance(key, str):
            self._below.setdefault(key.rpartition("/")[0], {})[key] = None
        super().__setitem__(key, value)

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(key)
        self._forget(key)

    def pop(self, key: Any, *default: Any) -> Any:
        if key in self:
            self._forget(key)
        return super().pop(key, *default)

    def popitem(self) -> tuple[Any, Any]:
        key, value = super().popitem()
        self._forget(key)
        return key, value

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def __ior__(self, other: Any) -> Section:
        self.update(other)
        return self

    def clear(self) -> None:
        super().clear()
        self._below.clear()

    def _forget(self, key: Any) -> None:
        if not isinstance(key, str):
            return
        parent = key.rpartition("/")[0]
        keys = self._below.get(parent)
        if keys is not None:
            keys.pop(key, None)
            if not keys:
                del self._below[parent]


class Store:
    def __init__(self, directory: Path | None, interval: float = 0.5) -> None:
        self.directory = directory
        self.interval = interval
        self.data: dict[str, Any] = {}
        self._dirty = False
        self._task: asyncio.Task[None] | None = None
        if directory is not None and (directory / STATE_FILE).exists():
            loaded = json.loads((directory / STATE_FILE).read_text())
            self.data = {k: Section(v) if isinstance(v, dict) else v for k, v in loaded.items()}

    def section(self, name: str) -> Section:
        found = self.data.get(name)
        if not isinstance(found, Section):  # new, or put in as a plain dict at start-up
            found = self.data[name] = Section(found or {})
        return found

    def touch(self) -> None:
        self._dirty = True

    def start(self) -> None:
        if self.directory is not None:
            self._task = asyncio.get_running_loop().create_task(self._flusher())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.save()

    async def _flusher(self) -> None:
        loop = asyncio.get_running_loop()
        wait = self.interval
        while True:
            await asyncio.sleep(wait)
            if self._dirty:
                # Encode on the loop (the data may change between awaits); write in a thread.
                self._dirty = False
                started = loop.time()
                text = json.dumps(self.data)
                wait = max(self.interval, LOOP_SHARE_INVERSE * (loop.time() - started))
                await loop.run_in_executor(None, self._write, text)

    def save(self) -> None:
        if self.directory is not None:
            self._dirty = False
            self._write(json.dumps(self.data))

    def _write(self, text: str) -> None:
        assert self.directory is not None
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        path = self.directory / STATE_FILE
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
