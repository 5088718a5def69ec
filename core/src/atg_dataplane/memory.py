"""A long run's memory: fewer collections while items flow, and memory given back as
resources settle.

Both are process-wide (the collector and the C allocator are), so overlapping runs in one
process share them.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

GC_YOUNG_THRESHOLD = 50_000
"""Allocations between collections of the youngest generation during a run (Python's
default is 700)."""


def _collecting() -> bool:
    """Automatic collection is on (neither ``gc.disable()`` nor a threshold of 0)."""
    return gc.isenabled() and gc.get_threshold()[0] > 0


_gc_lock = threading.Lock()
_gc_runs = 0
_gc_restore: tuple[tuple[int, ...], bool] = ((), False)


@contextmanager
def collections_for_a_run() -> Iterator[None]:
    """Fewer garbage collections while items flow.

    Every request builds and drops thousands of short-lived SDK objects: with Python's
    default thresholds the collector runs hundreds of times a run, and each full collection
    walks every module the SDKs imported. Objects alive at the start (modules, clients) are
    frozen out of collection, and the youngest generation is collected less often: 3-5 %
    of the client's CPU in the benchmark. The first of overlapping runs in one process sets
    this up and the last one restores it; nothing changes when the caller has turned
    collection off or frozen objects of its own.
    """
    global _gc_runs, _gc_restore
    with _gc_lock:
        if _gc_runs == 0:
            threshold = gc.get_threshold()
            freeze = _collecting() and gc.get_freeze_count() == 0
            if freeze:
                gc.freeze()
            if threshold[0] > 0:
                gc.set_threshold(max(threshold[0], GC_YOUNG_THRESHOLD), *threshold[1:])
            _gc_restore = (threshold, freeze)
        _gc_runs += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_runs -= 1
            if _gc_runs == 0:
                saved, froze = _gc_restore
                gc.set_threshold(*saved)
                if froze:
                    gc.unfreeze()


RETURN_EVERY_SECONDS = 10.0
"""At most how often a settling resource has memory given back (a full collection and an
allocator trim: tens of milliseconds at 100x the large scenario)."""


def _allocator_trim() -> Callable[[], object] | None:
    """glibc's ``malloc_trim(0)``, or None where there is none (macOS, Windows, musl)."""
    try:
        import ctypes  # not in every Python build

        trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, ImportError, OSError, TypeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return lambda: trim(0)


class MemoryReturn:
    """Give memory back once a resource has let go of what it held, at most every
    ``every`` seconds.

    A released resource (its clients, listings, connections) leaves two things behind
    that a long run otherwise keeps to its end: garbage in reference cycles (the SDKs'
    multipart answers, clients and their pipelines) promoted to the oldest generation,
    which the collector rarely walks while thousands of items flow; and freed blocks the C
    allocator keeps in its heaps (TLS connections, answers' bodies) rather than returning
    to the system. What it saves is in docs/benchmarks.md.
    """

    def __init__(self, every: float = RETURN_EVERY_SECONDS) -> None:
        self.every = every
        self._lock = threading.Lock()
        self._last = time.monotonic()
        self._trim = _allocator_trim()

    def __call__(self) -> bool:
        """Give memory back unless it was given back less than ``every`` seconds ago (or
        is being given back now); whether it was."""
        now = time.monotonic()
        if now - self._last < self.every or not self._lock.acquire(blocking=False):
            return False
        try:
            if now - self._last < self.every:
                return False
            if _collecting():  # a caller that turned collection off keeps it off
                gc.collect()
            if self._trim is not None:
                self._trim()
            self._last = time.monotonic()
            return True
        finally:
            self._lock.release()
