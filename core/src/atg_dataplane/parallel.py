"""Concurrency helpers: reading ahead through a listing, and a pool fair to resources.

Discovery often lists names and then reads each one (a key's type and size, a
certificate's policy). Done one after the other, that is a round trip per item before
the engine sees the next item; :func:`read_ahead` keeps a few reads in flight instead.
:class:`FairPool` runs the engine's items, taking turns between resources.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_Task = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], "Slots | None"]

READ_AHEAD = 8
"""Reads in flight per listing by default."""


def read_ahead(fn: Callable[[T], R], items: Iterable[T], workers: int = READ_AHEAD) -> Iterator[R]:
    """``fn(item)`` for each item, ``workers`` at a time, yielded in the items' order.

    Lazy: at most ``2 * workers`` results wait ahead of the consumer, so memory does
    not grow with the listing. An exception from ``fn`` is raised where its result
    would have been yielded; reads not yet started are then cancelled.
    """
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="atg-read")
    window: deque[Future[R]] = deque()
    try:
        for item in items:
            # in the caller's context: the resource whose work it is (atg_dataplane.http)
            window.append(pool.submit(contextvars.copy_context().run, fn, item))
            if len(window) >= 2 * workers:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


_DONE = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def merge(*iterables: Iterable[T], ahead: int = READ_AHEAD) -> Iterator[T]:
    """The items of every iterable, each listed on a thread of its own, in the order they
    arrive (each iterable's own order is kept).

    Discovery of one resource often walks several listings one after the other (a vault's
    certificates, then its keys, then its secrets): merged, the items of all of them reach
    the engine at once, and a slow listing does not hold back the others. At most
    ``ahead`` items per iterable wait for the consumer (and one more is being read). An
    exception is raised where it happened; the other listings are then stopped.
    """
    if len(iterables) == 1:
        yield from iterables[0]
        return
    yield from _drained(iterables, ahead)


def prefetch(iterable: Iterable[T], ahead: int = 1) -> Iterator[T]:
    """The items of ``iterable``, listed on a thread of its own, at most ``ahead`` of the
    consumer (and one more being read).

    A copy that reads a page and then writes it waits on two round trips a page, one after
    the other; with the next page read while this one is written, it waits on the longer of
    the two. An exception is raised where it happened. The listing stops when the consumer
    does (at its next item): close the generator (``contextlib.closing``) when leaving
    early, so that it stops at once rather than when the generator is collected.
    """
    yield from _drained((iterable,), ahead)


def _drained(iterables: tuple[Iterable[T], ...], ahead: int) -> Iterator[T]:
    out: queue.Queue[tuple[int, Any]] = queue.Queue(maxsize=max(1, ahead) * len(iterables))
    stop = threading.Event()

    def put(entry: tuple[int, Any]) -> bool:
        """Hand ``entry`` to the consumer; False once it has stopped (nobody will take it:
        a plain ``put`` on a full queue would wait for ever)."""
        while not stop.is_set():
            try:
                out.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def drain(index: int, iterable: Iterable[T]) -> None:
        try:
            for item in iterable:
                if not put((index, item)):
                    return
            put((index, _DONE))
        except BaseException as exc:  # handed to the consumer
            put((index, _Failed(exc)))

    threads = [
        # in the caller's context: the resource whose work it is (atg_dataplane.http)
        threading.Thread(target=contextvars.copy_context().run, args=(drain, i, it),
                         name=f"atg-merge-{i}", daemon=True)
        for i, it in enumerate(iterables)
    ]
    for thread in threads:
        thread.start()
    running = len(threads)
    try:
        while running:
            _, item = out.get()
            if item is _DONE:
                running -= 1
            elif isinstance(item, _Failed):
                raise item.error
            else:
                yield item
    finally:
        stop.set()


class Slots:
    """At most ``size`` calls at once of what shares these slots (one resource's items:
    its plugin's ``max_concurrency_per_resource``), counted by the :class:`FairPool` that
    runs them."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self.taken = 0
        """Calls holding a slot (changed under the pool's lock only)."""


class FairPool:
    """Worker threads that take queued calls in turn across groups, then across keys.

    A plain thread pool runs calls in the order they were submitted, so the resource
    discovered first has its whole backlog served before anything of a resource found
    later: a tenant's one big storage account would start last and finish alone. Here
    each ``(group, key)`` has its own queue: the workers take one call from each group
    in turn (the engine's groups are resource types, so every service stays busy), and
    within a group from each key in turn (the engine's keys are a resource and an item
    kind: a storage account's blobs, tables and queues move together).

    ``workers`` calls run at once. A call that waits on a service (``Retry-After``, a
    backoff, a long-running copy polled) lends its turn out with :meth:`lend`: another
    worker takes the next call meanwhile, up to ``workers`` more threads. A waiting call
    costs neither CPU nor network, and what bounds the pressure on one service is the
    engine's per-resource limit, which the waiting call keeps.

    That limit is the pool's to keep: a call submitted with :class:`Slots` starts only
    when one of them is free, and holds it until it returns. A worker never waits for a
    slot: were it handed a call whose resource is full, every worker would in time be
    waiting on the slowest resource while the others' calls queued behind it.

    The futures are :class:`concurrent.futures.Future`; ``shutdown`` matches
    :meth:`concurrent.futures.Executor.shutdown`. Workers are daemon threads, so an
    abandoned run (a second Ctrl-C) can exit while calls are still in flight.
    """

    def __init__(self, workers: int, name: str = "atg-worker") -> None:
        self._groups: dict[Any, dict[Any, deque[_Task]]] = {}
        self._cond = threading.Condition()
        self._closed = False
        self._workers = max(1, workers)
        self._most_threads = 2 * self._workers
        self._name = name
        self._busy = 0
        """Calls running (waiting ones included)."""
        self._lent = 0
        """Calls waiting on a service, their turn lent out."""
        self._threads: list[threading.Thread] = []
        for _ in range(self._workers):
            self._spawn()

    def _spawn(self) -> None:
        thread = threading.Thread(
            target=self._work, name=f"{self._name}_{len(self._threads)}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    @contextmanager
    def lend(self) -> Iterator[None]:
        """Inside: the calling worker waits on a service; another takes its turn."""
        with self._cond:
            self._lent += 1
            idle = len(self._threads) - self._busy
            if idle <= 0 and len(self._threads) < self._most_threads and self._groups:
                self._spawn()
            self._cond.notify()
        try:
            yield
        finally:
            with self._cond:
                self._lent -= 1

    def submit(
        self, key: Any, fn: Callable[..., R], *args: Any, group: Any = None,
        slots: Slots | None = None,
    ) -> Future[R]:
        """Queue ``fn(*args)`` under ``(group, key)``; with ``slots``, it starts only when
        one is free (the calls of one key should share the same slots)."""
        future: Future[R] = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("cannot submit after shutdown")
            keys = self._groups.setdefault(group, {})
            keys.setdefault(key, deque()).append((future, fn, args, slots))
            self._cond.notify()
        return future

    def _next(self) -> _Task | None:
        with self._cond:
            while True:
                if self._busy < self._workers + self._lent:
                    task = self._take()
                    if task is not None:
                        self._busy += 1
                        return task
                if self._closed and not self._groups:
                    return None
                self._cond.wait()

    def _take(self) -> _Task | None:
        """The next call whose slots allow it: from the first such group's first such key,
        both then sent to the back of the line. None when every queued call waits for a
        slot."""
        for group, keys in self._groups.items():
            for key, calls in keys.items():
                slots = calls[0][3]
                if slots is not None and slots.taken >= slots.size:
                    continue
                task = calls.popleft()
                if slots is not None:
                    slots.taken += 1
                del keys[key]
                if calls:
                    keys[key] = calls
                del self._groups[group]
                if keys:
                    self._groups[group] = keys
                return task
        return None

    def _done(self, slots: Slots | None) -> None:
        with self._cond:
            self._busy -= 1
            if slots is not None:
                slots.taken -= 1
            self._cond.notify()

    def _work(self) -> None:
        while (task := self._next()) is not None:
            future, fn, args, slots = task
            if not future.set_running_or_notify_cancel():
                self._done(slots)
                continue
            try:
                result = fn(*args)
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)
            finally:
                self._done(slots)
            del future, fn, args, task  # do not keep the last result alive while waiting

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._cond:
            self._closed = True
            if cancel_futures:
                for keys in self._groups.values():
                    for queue in keys.values():
                        for future, *_ in queue:
                            future.cancel()
                self._groups.clear()
            self._cond.notify_all()
        if wait:
            for thread in self._threads:
                if thread is not threading.current_thread():
                    thread.join()
