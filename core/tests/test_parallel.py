"""read_ahead keeps listing order; FairPool takes turns between keys."""

from __future__ import annotations

import threading
import time

import pytest
from atg_dataplane.parallel import FairPool, read_ahead


def test_read_ahead_yields_in_order_with_reads_in_flight() -> None:
    active, peak, lock = 0, 0, threading.Lock()

    def slow(n: int) -> int:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.01 * (n % 3))
        with lock:
            active -= 1
        return n * n

    assert list(read_ahead(slow, range(20), workers=4)) == [n * n for n in range(20)]
    assert 1 < peak <= 4


def test_read_ahead_raises_where_the_failed_result_belongs() -> None:
    def read(n: int) -> int:
        if n == 3:
            raise ValueError("gone")
        return n

    got: list[int] = []
    with pytest.raises(ValueError, match="gone"):
        for value in read_ahead(read, range(10), workers=2):
            got.append(value)
    assert got == [0, 1, 2]


def test_fair_pool_takes_turns_between_keys() -> None:
    pool = FairPool(1)
    gate = threading.Event()
    order: list[str] = []
    blocker = pool.submit("x", gate.wait)  # holds the only worker while the queues fill
    futures = [pool.submit("big", order.append, f"big{i}") for i in range(4)]
    futures += [pool.submit("small", order.append, f"small{i}") for i in range(2)]
    gate.set()
    for future in [blocker, *futures]:
        future.result(5)
    pool.shutdown()
    assert order == ["big0", "small0", "big1", "small1", "big2", "big3"]


def test_fair_pool_takes_turns_between_groups_first() -> None:
    pool = FairPool(1)
    gate = threading.Event()
    order: list[str] = []
    blocker = pool.submit("x", gate.wait, group="hold")
    futures = [pool.submit(f"vault{v}", order.append, f"v{v}", group="kv") for v in range(3)]
    futures += [pool.submit("account", order.append, f"s{i}", group="st") for i in range(3)]
    gate.set()
    for future in [blocker, *futures]:
        future.result(5)
    pool.shutdown()
    # One call per group in turn; within the Key Vault group, one per vault in turn.
    assert order == ["v0", "s0", "v1", "s1", "v2", "s2"]


def test_fair_pool_futures_carry_results_and_errors() -> None:
    pool = FairPool(2)
    assert pool.submit("k", lambda a, b: a + b, 2, 3).result(5) == 5
    with pytest.raises(ZeroDivisionError):
        pool.submit("k", lambda: 1 / 0).result(5)
    pool.shutdown()
    with pytest.raises(RuntimeError):
        pool.submit("k", print)


def test_fair_pool_shutdown_cancels_what_has_not_started() -> None:
    pool = FairPool(1)
    gate, started = threading.Event(), threading.Event()

    def hold() -> bool:
        started.set()
        return gate.wait(5)

    running = pool.submit("a", hold)
    assert started.wait(5)
    queued = [pool.submit("b", time.sleep, 0) for _ in range(3)]
    pool.shutdown(wait=False, cancel_futures=True)  # while the worker is held
    gate.set()
    assert running.result(5) is True
    pool.shutdown(wait=True)
    assert all(f.cancelled() for f in queued)
