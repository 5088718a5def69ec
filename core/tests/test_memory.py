"""A run's memory: collections eased while items flow, memory given back as resources
settle."""

from __future__ import annotations

import gc
import time

import pytest
from atg_dataplane import memory
from atg_dataplane.memory import MemoryReturn


def test_garbage_collection_is_eased_during_runs_and_restored_after() -> None:
    from atg_dataplane.memory import GC_YOUNG_THRESHOLD, collections_for_a_run

    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    with collections_for_a_run():
        assert gc.get_threshold()[0] == max(before[0], GC_YOUNG_THRESHOLD)
        with collections_for_a_run():  # an overlapping run in the same process
            pass
        assert gc.get_threshold()[0] == max(before[0], GC_YOUNG_THRESHOLD)
    assert gc.get_threshold() == before
    if frozen == 0:  # what the run froze is unfrozen again
        assert gc.get_freeze_count() == 0


def test_a_callers_own_collector_settings_are_left_alone() -> None:
    from atg_dataplane.memory import collections_for_a_run

    before = gc.get_threshold()
    gc.set_threshold(0)  # automatic collection off
    try:
        with collections_for_a_run():
            assert gc.get_threshold()[0] == 0
    finally:
        gc.set_threshold(*before)
    gc.freeze()  # objects the caller froze stay frozen
    try:
        frozen = gc.get_freeze_count()
        with collections_for_a_run():
            pass
        # Still frozen (the count only drops by objects freed meanwhile).
        assert gc.get_freeze_count() > frozen // 2
    finally:
        gc.unfreeze()


def test_memory_is_given_back_at_most_every_few_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    trims: list[int] = []
    monkeypatch.setattr(memory, "_allocator_trim", lambda: lambda: trims.append(0))
    full: list[int] = []

    def watch(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2:
            full.append(1)

    give_back = MemoryReturn(every=0.2)
    gc.callbacks.append(watch)
    try:
        assert give_back() is False  # a run that just started has nothing to give back yet
        time.sleep(0.25)
        assert give_back() is True
        assert give_back() is False  # too soon again
    finally:
        gc.callbacks.remove(watch)
    assert full == [1] and trims == [0]


def test_a_callers_collector_turned_off_stays_off(monkeypatch: pytest.MonkeyPatch) -> None:
    collected: list[int] = []
    monkeypatch.setattr(gc, "collect", lambda *a: collected.append(1) or 0)
    give_back = MemoryReturn(every=0)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        assert give_back() is True  # the allocator is still trimmed
    finally:
        if was_enabled:
            gc.enable()
    assert collected == []
    assert give_back() is True
    assert collected == [1]


def test_the_allocator_trim_is_found_on_glibc_and_absent_elsewhere() -> None:
    trim = memory._allocator_trim()
    import platform

    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert trim is not None and trim() in (0, 1)
    else:
        assert trim is None
