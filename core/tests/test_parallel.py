"""read_ahead keeps listing order; FairPool takes turns between keys."""

from __future__ import annotations

import threading
import time
from contextlib import closing

import pytest
from atg_dataplane.parallel import FairPool, Slots, read_ahead


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


def test_calls_wait_for_a_slot_in_the_queue_not_on_a_worker() -> None:
    """Calls sharing full slots stay queued: the workers run the other keys' calls, and
    each call gives its slot back when it returns (or fails, or was cancelled)."""
    pool = FairPool(3)
    slots = Slots(1)
    gate = threading.Event()
    held: list[int] = []
    lock = threading.Lock()

    def limited(n: int) -> int:
        with lock:
            held.append(slots.taken)
        if n == 0:
            gate.wait(5)
        if n == 1:
            raise ValueError("fails, and gives its slot back")
        return n

    first = pool.submit("slow", limited, 0, slots=slots)
    rest = [pool.submit("slow", limited, n, slots=slots) for n in (1, 2)]
    others = [pool.submit("fast", time.sleep, 0) for _ in range(20)]
    for future in others:  # two workers left: none of them waits for the slot
        future.result(5)
    assert not any(f.done() for f in rest)
    gate.set()
    assert first.result(5) == 0
    with pytest.raises(ValueError):
        rest[0].result(5)
    assert rest[1].result(5) == 2
    pool.shutdown(wait=True)
    assert held == [1, 1, 1] and slots.taken == 0


def test_a_waiting_call_lends_its_turn_to_the_next() -> None:
    import time

    from atg_dataplane.parallel import FairPool

    pool = FairPool(2, name="lend-test")
    started: dict[str, float] = {}
    release = threading.Event()

    def waiter(name: str) -> None:
        started[name] = time.monotonic()
        with pool.lend():
            release.wait(5)

    def quick(name: str) -> None:
        started[name] = time.monotonic()

    t0 = time.monotonic()
    waiting = [pool.submit("k", waiter, f"w{i}") for i in range(2)]
    quick_ones = [pool.submit("k", quick, f"q{i}") for i in range(3)]
    for future in quick_ones:
        future.result(timeout=3)  # ran while both workers were waiting
    assert all(started[f"q{i}"] - t0 < 2 for i in range(3))
    release.set()
    for future in waiting:
        future.result(timeout=3)
    assert len(pool._threads) <= 4  # at most twice the workers
    pool.shutdown()


def test_without_lending_the_pool_runs_no_more_than_its_workers() -> None:
    from atg_dataplane.parallel import FairPool

    pool = FairPool(2, name="bound-test")
    running = 0
    most = 0
    lock = threading.Lock()
    gate = threading.Event()

    def call() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        gate.wait(0.05)
        with lock:
            running -= 1

    for future in [pool.submit("k", call) for _ in range(12)]:
        future.result(timeout=5)
    assert most == 2 and len(pool._threads) == 2
    pool.shutdown()


def test_merge_keeps_each_order_and_overlaps_the_listings() -> None:
    from atg_dataplane.parallel import merge

    second_started = threading.Event()
    saw: list[bool] = []

    def first():  # type: ignore[no-untyped-def]
        yield "a0"
        # Listed one after the other, the second listing would not have begun yet.
        saw.append(second_started.wait(5))
        yield "a1"
        yield "a2"

    def second():  # type: ignore[no-untyped-def]
        second_started.set()
        yield "b0"
        yield "b1"

    got = list(merge(first(), second()))
    assert [g for g in got if g[0] == "a"] == ["a0", "a1", "a2"]
    assert [g for g in got if g[0] == "b"] == ["b0", "b1"]
    assert saw == [True]
    assert list(merge(iter(range(3)))) == [0, 1, 2]


def test_merge_raises_the_error_of_a_listing() -> None:
    from atg_dataplane.parallel import merge

    def broken():  # type: ignore[no-untyped-def]
        yield 1
        raise ValueError("listing refused")

    def endless():  # type: ignore[no-untyped-def]
        while True:
            time.sleep(0.01)
            yield 0

    with pytest.raises(ValueError, match="listing refused"):
        list(merge(broken(), endless()))


def test_read_ahead_reads_in_the_callers_context() -> None:
    """The resource whose work a read is (atg_dataplane.http.RESOURCE) goes with it into the
    reading threads: its hosts are closed when it settles, not those of another."""
    from atg_dataplane.http import RESOURCE
    from atg_dataplane.parallel import read_ahead

    token = RESOURCE.set("vault-1")
    try:
        seen = list(read_ahead(lambda _: RESOURCE.get(), range(20), workers=4))
    finally:
        RESOURCE.reset(token)
    assert seen == ["vault-1"] * 20


def test_prefetch_reads_the_next_item_while_the_consumer_works() -> None:
    """The listing is a page ahead (its next read overlaps the consumer's writes), keeps
    its order, reads in the caller's context, and stops with the consumer."""
    from atg_dataplane.http import RESOURCE
    from atg_dataplane.parallel import prefetch

    produced: list[int] = []
    second_read = threading.Event()

    def pages():  # type: ignore[no-untyped-def]
        for n in range(100):
            produced.append(n)
            if n == 1:
                second_read.set()
            yield n, RESOURCE.get()

    token = RESOURCE.set("account-1")
    try:
        listing = prefetch(pages())
        first = next(listing)
        # the consumer has not asked for the second page, and it is read already
        assert second_read.wait(5)
        rest = [next(listing) for _ in range(3)]
        listing.close()  # the consumer stops: so does the listing, a page or two on
    finally:
        RESOURCE.reset(token)
    assert [first, *rest] == [(n, "account-1") for n in range(4)]
    _reader_ends()
    assert len(produced) <= 7


def _reader_ends() -> None:
    """The listing's thread has ended (it would otherwise hold its page for the run)."""
    for thread in threading.enumerate():
        if thread.name.startswith("atg-merge-"):
            thread.join(5)
            assert not thread.is_alive()


def test_prefetch_ends_its_reader_when_the_consumer_fails_after_the_listing_ended() -> None:
    """The listing is done, its last item waits in the queue and its end waits to be put:
    a consumer that fails then must not leave the reader waiting for ever."""
    from atg_dataplane.parallel import prefetch

    with pytest.raises(RuntimeError, match="write refused"), \
            closing(prefetch(iter(range(2)))) as pages:
        for _ in pages:
            time.sleep(0.3)  # the reader has read both and is putting the end
            raise RuntimeError("write refused")
    _reader_ends()


def test_prefetch_raises_the_listings_error_in_its_place() -> None:
    from atg_dataplane.parallel import prefetch

    def broken():  # type: ignore[no-untyped-def]
        yield 1
        raise ValueError("page refused")

    got: list[int] = []
    with pytest.raises(ValueError, match="page refused"):
        for n in prefetch(broken()):
            got.append(n)
    assert got == [1]
