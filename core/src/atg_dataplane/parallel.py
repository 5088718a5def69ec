"""Concurrency helpers: reading ahead through a listing, and a pool fair to resources.

Discovery often lists names and then reads each one (a key's type and size, a
certificate's policy). Done one after the other, that is a round trip per item before
the engine sees the next item; :func:`read_ahead` keeps a few reads in flight instead.
:class:`FairPool` runs the engine's items, taking turns between resources.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_Task = tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]

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
            window.append(pool.submit(fn, item))
            if len(window) >= 2 * workers:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class FairPool:
    """Worker threads that take queued calls in turn across groups, then across keys.

    A plain thread pool runs calls in the order they were submitted, so the resource
    discovered first has its whole backlog served before anything of a resource found
    later: a tenant's one big storage account would start last and finish alone. Here
    each ``(group, key)`` has its own queue: the workers take one call from each group
    in turn (the engine's groups are resource types, so every service stays busy), and
    within a group from each key in turn (the engine's keys are a resource and an item
    kind: a storage account's blobs, tables and queues move together).

    The futures are :class:`concurrent.futures.Future`; ``shutdown`` matches
    :meth:`concurrent.futures.Executor.shutdown`. Workers are daemon threads, so an
    abandoned run (a second Ctrl-C) can exit while calls are still in flight.
    """

    def __init__(self, workers: int, name: str = "atg-worker") -> None:
        self._groups: dict[Any, dict[Any, deque[_Task]]] = {}
        self._cond = threading.Condition()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}_{i}", daemon=True)
            for i in range(max(1, workers))
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, key: Any, fn: Callable[..., R], *args: Any, group: Any = None) -> Future[R]:
        future: Future[R] = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("cannot submit after shutdown")
            keys = self._groups.setdefault(group, {})
            keys.setdefault(key, deque()).append((future, fn, args))
            self._cond.notify()
        return future

    def _next(self) -> _Task | None:
        with self._cond:
            while not self._groups:
                if self._closed:
                    return None
                self._cond.wait()
            # Take from the first group's first key, then send both to the back of the line.
            group = next(iter(self._groups))
            keys = self._groups.pop(group)
            key = next(iter(keys))
            queue = keys.pop(key)
            task = queue.popleft()
            if queue:
                keys[key] = queue
            if keys:
                self._groups[group] = keys
            return task

    def _work(self) -> None:
        while (task := self._next()) is not None:
            future, fn, args = task
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args)
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)
            del future, fn, args, task  # do not keep the last result alive while waiting

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._cond:
            self._closed = True
            if cancel_futures:
                for keys in self._groups.values():
                    for queue in keys.values():
                        for future, _, _ in queue:
                            future.cancel()
                self._groups.clear()
            self._cond.notify_all()
        if wait:
            for thread in self._threads:
                if thread is not threading.current_thread():
                    thread.join()
