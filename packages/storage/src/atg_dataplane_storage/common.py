"""Small helpers every storage service module shares."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from atg_dataplane import ResourceBinding


def sorted_dict(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(sorted((value or {}).items()))


def enum_text(value: Any) -> str | None:
    """``BlobType.BLOCKBLOB`` -> ``BlockBlob``; plain strings unchanged."""
    if value is None:
        return None
    return str(getattr(value, "value", value))


def error_code(error: Exception) -> str:
    """The storage error code (``ContainerNotFound``...) the SDKs attach to their errors."""
    return str(getattr(error, "error_code", None) or "")


def split_name(name: str) -> tuple[str, str]:
    """``container/path/to/blob`` -> (``container``, ``path/to/blob``)."""
    container, _, rest = name.partition("/")
    return container, rest


_once_lock = threading.Lock()


class _Once:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = False
        self.value: Any = None


def once(binding: ResourceBinding, key: str, action: Any, *, again: bool = False) -> Any:
    """Run ``action()`` once per binding and run, remembering its result.

    Unlike ``ResourceBinding.cached`` the binding's lock is not held while
    ``action`` runs, so ``action`` may build clients of the same binding; a
    failed ``action`` is tried again by the next caller. ``again`` forgets the
    remembered result first.
    """
    with _once_lock:
        entry = binding.state.get(key)
        if entry is None or again:
            entry = binding.state[key] = _Once()
    with entry.lock:
        if not entry.done:
            entry.value = action()
            entry.done = True
        return entry.value


def backoff(attempt: int) -> float:
    """Polling interval of an asynchronous copy: 0.1 s doubling up to 5 s."""
    return min(5.0, 0.1 * (2**attempt))


def sleep(seconds: float) -> None:
    time.sleep(seconds)


class Hints:
    """What discovery saw of each item (e.g. last-modified), bounded, for replication to use.

    Saves replication a second request per item for what the listing already
    said. Entries are taken once; the oldest are dropped beyond ``limit``, and
    a missing entry only means the item is read again.
    """

    def __init__(self, limit: int = 50_000) -> None:
        self.limit = limit
        self._data: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.limit:
                self._data.popitem(last=False)

    def take(self, key: str) -> Any:
        with self._lock:
            return self._data.pop(key, None)


def hints(binding: ResourceBinding, name: str) -> Hints:
    found: Hints = binding.cached(f"storage.hints:{name}", Hints)
    return found
