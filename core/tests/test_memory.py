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


def _given_back(monkeypatch: pytest.MonkeyPatch) -> tuple[MemoryReturn, list[str]]:
    """A MemoryReturn whose collections and trims are recorded, not run."""
    done: list[str] = []
    monkeypatch.setattr(memory, "_allocator_trim", lambda: lambda: done.append("trim"))
    monkeypatch.setattr(gc, "collect", lambda *a: done.append("collect") or 0)
    return MemoryReturn(every=60), done


def _later(give_back: MemoryReturn) -> None:
    give_back._last = time.monotonic() - 61  # as if a minute had gone by


def test_memory_is_given_back_at_most_every_few_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    give_back, done = _given_back(monkeypatch)
    assert give_back() is False  # a run that just started has nothing to give back yet
    _later(give_back)
    assert give_back() is True
    assert give_back() is False  # too soon again
    assert done == ["collect", "trim"]


@pytest.mark.parametrize("turn_off", ["disable", "threshold 0"])
def test_a_callers_collector_turned_off_stays_off(
    monkeypatch: pytest.MonkeyPatch, turn_off: str
) -> None:
    give_back, done = _given_back(monkeypatch)
    was_enabled, threshold = gc.isenabled(), gc.get_threshold()
    if turn_off == "disable":
        gc.disable()
    else:
        gc.enable()
        gc.set_threshold(0)
    try:
        _later(give_back)
        assert give_back() is True  # the allocator is still trimmed
    finally:
        gc.set_threshold(*threshold)
        if was_enabled:
            gc.enable()
        else:
            gc.disable()
    assert done == ["trim"]


def test_memory_is_given_back_with_collection_on(monkeypatch: pytest.MonkeyPatch) -> None:
    give_back, done = _given_back(monkeypatch)
    was_enabled, threshold = gc.isenabled(), gc.get_threshold()
    gc.enable()
    gc.set_threshold(700, 10, 10)
    try:
        _later(give_back)
        assert give_back() is True
    finally:
        gc.set_threshold(*threshold)
        if not was_enabled:
            gc.disable()
    assert done == ["collect", "trim"]


def test_the_allocator_trim_is_found_on_glibc_and_absent_elsewhere() -> None:
    trim = memory._allocator_trim()
    import platform

    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert trim is not None and trim() in (0, 1)
    else:
        assert trim is None
