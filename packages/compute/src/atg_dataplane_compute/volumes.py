"""Managed disks and snapshots as the copy sees them: access grants that are always
revoked, the page ranges a volume holds (or that changed since an older snapshot of the
same disk), and server-side copies range by range (Put Page From URL: no byte passes
through this process).

A grant's SAS is a secret: it lives only in memory, inside :class:`Grants`, and is never
logged, journalled or put in an error message.

Answers lost on their way back: the run's retry policy repeats a write only when told it
is safe (:func:`atg_dataplane.idempotent`). Here that is every write made by name or at an
offset (a snapshot, a disk, a page range, a deletion, ending access); granting access is
settled by hand (:meth:`Grants.sas`), and so is swapping disks (``disks._swap``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

from atg_dataplane import ResourceBinding, idempotent
from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.mgmt.compute import ComputeManagementClient

log = logging.getLogger(__name__)
PAGE = 512
CHUNK = 4 * 1024 * 1024
"""The most one Put Page From URL may copy."""
GRANT_SECONDS = 4 * 3600
"""Long enough for a large disk; revoked as soon as the copy ends, whatever the outcome."""
TRIES = 3
"""Times a grant or a swap whose answer was lost is settled and asked again."""
LOST = (ServiceRequestError, ServiceResponseError)
"""A request went out (or may have) and no answer came back: its outcome is unknown."""
Range = tuple[int, int]
"""``(offset, length)`` in bytes, 512-aligned."""


def vm_lock(binding: ResourceBinding) -> threading.Lock:
    """Held while this run writes the VM (a disk swap, an extension): Azure refuses an
    operation on a VM while another one runs."""
    lock: threading.Lock = binding.cached("vm-update", threading.Lock)
    return lock


def client(binding: ResourceBinding) -> ComputeManagementClient:
    found: ComputeManagementClient = binding.context.mgmt(
        ComputeManagementClient, binding.resource.subscription_id
    )
    return found


class Grants:
    """Read or write access to volumes of one side, revoked on exit (success, failure or
    Ctrl-C alike)."""

    def __init__(self, binding: ResourceBinding) -> None:
        self.binding = binding
        self.open: list[tuple[Any, str, str]] = []

    def __enter__(self) -> Grants:
        return self

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        try:
            self.revoke_all()
        except Exception:
            if error is None:  # a revoke failure does not hide the copy's own error
                raise

    def sas(self, kind: str, group: str, name: str, access: str = "Read") -> str:
        """``kind``: ``disks`` or ``snapshots``.

        A read grant whose answer was lost is ended and asked for again (whether Azure
        opens an open volume a second time is not a thing to count on). A write grant is
        not: the disk has left ``ReadyToUpload`` and takes no second one, so the item's
        next attempt fills a disk of its own."""
        operations = getattr(client(self.binding), kind)
        body = {"access": access, "durationInSeconds": GRANT_SECONDS}
        # recorded before it is granted: a grant whose answer is lost is revoked too
        self.open.append((operations, group, name))
        tries = 1
        while True:
            try:
                found = operations.begin_grant_access(
                    group, name, body, polling_interval=0.5
                ).result()
                return str(found.access_sas)
            except LOST:
                if access != "Read" or tries == TRIES:
                    raise
                log.info("the answer to a grant on %s/%s was lost: asking again", group, name)
                _end(operations, group, name)
                tries += 1

    def revoke(self, group: str, name: str) -> None:
        for entry in [e for e in self.open if e[1:] == (group, name)]:
            self.open.remove(entry)
            _end(entry[0], group, name)

    def revoke_all(self) -> None:
        """Every grant still open, each tried even when another one fails (the first
        failure is raised afterwards)."""
        failed: BaseException | None = None
        while self.open:
            operations, group, name = self.open.pop()
            try:
                _end(operations, group, name)
            except Exception as exc:  # the others are still revoked
                log.warning("could not end access to %s/%s: %s", group, name, type(exc).__name__)
                failed = failed or exc
        if failed is not None:
            raise failed


def _end(operations: Any, group: str, name: str) -> None:
    """End access to a volume: safe to send twice (a closed volume stays closed)."""
    with idempotent():
        operations.begin_revoke_access(group, name, polling_interval=0.5).result()


def blob(sas: str, binding: ResourceBinding) -> Any:
    from azure.storage.blob import BlobClient

    return BlobClient.from_blob_url(sas, **binding.context.client_kwargs())


def written(sas: str, binding: ResourceBinding) -> list[Range]:
    """The ranges a volume holds."""
    return [
        (int(r.start), int(r.end) - int(r.start) + 1)
        for r in blob(sas, binding).list_page_ranges()
        if not r.cleared
    ]


def changed(sas: str, older: str, binding: ResourceBinding) -> tuple[list[Range], list[Range]]:
    """``(written, cleared)`` since ``older``, an older snapshot of the same disk."""
    pages, clear = blob(sas, binding).get_page_range_diff_for_managed_disk(older)
    return (
        [(int(r["start"]), int(r["end"]) - int(r["start"]) + 1) for r in pages],
        [(int(r["start"]), int(r["end"]) - int(r["start"]) + 1) for r in clear],
    )


def chunks(ranges: list[Range]) -> Iterator[Range]:
    """The ranges cut into pieces one request may copy."""
    for offset, length in ranges:
        for start in range(offset, offset + length, CHUNK):
            yield start, min(CHUNK, offset + length - start)


def minus(ranges: list[Range], cut: list[Range]) -> list[Range]:
    """``ranges`` without the bytes of ``cut`` (the pages a newer copy replaces)."""
    out = list(ranges)
    for c_start, c_length in cut:
        c_end = c_start + c_length
        kept: list[Range] = []
        for start, length in out:
            end = start + length
            if end <= c_start or start >= c_end:
                kept.append((start, length))
                continue
            if start < c_start:
                kept.append((start, c_start - start))
            if end > c_end:
                kept.append((c_end, end - c_end))
        out = kept
    return out
