"""Small helpers every storage service module shares."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from atg_dataplane import ItemError, ResourceBinding
from atg_dataplane.redact import redact
from azure.core.exceptions import HttpResponseError


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


def backoff(attempt: int) -> float:
    """Polling interval of an asynchronous copy: 0.1 s doubling up to 5 s."""
    return min(5.0, 0.1 * (2**attempt))


def wait_for_copy(
    target: ResourceBinding,
    started: Mapping[str, Any],
    read_copy: Any,
    abort: Any,
    *,
    total_seconds: float,
    stall_seconds: float,
    what: str,
) -> None:
    """Poll an asynchronous server-side copy to its end (polling, not a retry).

    ``read_copy()`` returns the object's ``CopyProperties``. A copy whose progress stands
    still for ``stall_seconds``, or that is still pending after ``total_seconds``, is
    aborted and its item fails with the reason; one that ended otherwise than ``success``
    fails with the service's description.
    """
    status = enum_text(started.get("copy_status"))
    now = time.monotonic()
    deadline, moved_at, progress = now + total_seconds, now, None
    attempt = 0
    copy = None
    while status == "pending":
        now = time.monotonic()
        stalled = now - moved_at > stall_seconds
        if now > deadline or stalled:
            abort(started.get("copy_id"))
            why = (
                f"made no progress for {stall_seconds:.0f} s"
                if stalled
                else f"did not finish within {total_seconds:.0f} s"
            )
            setting = "copy_stall_seconds" if stalled else "copy_timeout_seconds"
            raise ItemError(
                f"the server-side {what} copy {why} and was aborted",
                remedy=f"re-run; if it persists, raise storage.{setting}",
            )
        target.context.pause(backoff(attempt))
        attempt += 1
        copy = read_copy()
        status = enum_text(copy.status)
        if copy.progress != progress:
            progress, moved_at = copy.progress, time.monotonic()
    if status != "success":
        detail = redact(str(getattr(copy, "status_description", "") or ""))
        raise ItemError(f"the server-side {what} copy ended {status}: {detail}".rstrip(": "))


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


INCOMPLETE = "atgdataplaneincomplete"
"""Metadata on a target object while a streamed copy fills it (removed at the end)."""


def unfinished(props: dict[str, Any]) -> dict[str, str]:
    return {**(props["metadata"] or {}), INCOMPLETE: "1"}


def copy_finished(existing: Any) -> bool:
    """False while a server-side copy into the object is pending, or after one failed or was
    aborted (the object may hold part of the contents)."""
    copy = getattr(existing, "copy", None)
    status = enum_text(getattr(copy, "status", None)) if copy is not None else None
    return status in (None, "success")


def abort_pending_copy(client: Any, existing: Any) -> None:
    """Abort a server-side copy still running into the target object (one an earlier
    attempt or run started): Azure refuses a new copy, or a write, while it runs."""
    copy = getattr(existing, "copy", None) if existing is not None else None
    if copy is None or enum_text(copy.status) != "pending" or not copy.id:
        return
    try:
        client.abort_copy(copy.id)
    except HttpResponseError as error:
        if error_code(error) != "NoPendingCopyOperation":  # it ended meanwhile
            raise


class ContentCheck:
    """The MD5 of the bytes a streamed copy read, held against the source's Content-MD5.

    A copy whose bytes differ from what the source says it holds (decoded on the way,
    changed while read) fails before it is committed, instead of landing as a success.
    """

    def __init__(self, expected: Any) -> None:
        self.expected = bytes(expected) if expected else None
        self._md5 = hashlib.md5(usedforsecurity=False) if self.expected else None

    def update(self, chunk: bytes) -> None:
        if self._md5 is not None:
            self._md5.update(chunk)

    def verify(self, name: str) -> None:
        if self._md5 is None or self._md5.digest() == self.expected:
            return
        raise ItemError(
            f"{name}: the bytes read from the source do not match its Content-MD5; nothing "
            "was committed",
            remedy="re-run (the source may have changed while it was read); if it persists, "
            "the source's Content-MD5 property is stale: check the object in the source",
        )
