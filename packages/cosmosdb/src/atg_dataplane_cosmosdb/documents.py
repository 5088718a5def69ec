"""Documents: a container's copy, page by page and resumable, and its fingerprint.

The source is read one feed range at a time (a query scoped to the range, in pages); after
each page the position (feed ranges, current range, continuation token) is saved in the
item's checkpoint, so a stopped copy goes on from the last page written (the next page is
read while one is written, and saved only once written). Each page is
compared with the target under keyed fingerprints of the bodies (:class:`_Target`: nothing
to compare in an empty container, one read of a small one, a ``read_items`` per page of a
large one): only documents that are missing or different are written, as upserts in
transactional batches per partition key (at most 100 operations and well under the 2 MB
request limit), a few batches at a time. A re-run therefore writes
nothing, and no replay duplicates anything: an upsert of the same id replaces.

System properties (``_rid``, ``_etag``, ``_ts``, ``_self``, ``_attachments``) are the
target's own: ``_ts`` becomes the time of the copy, so TTL countdowns restart with it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from atg_dataplane import Checkpoint, Fingerprinter, ItemError, prefetch, read_ahead
from azure.cosmos.exceptions import CosmosBatchOperationError, CosmosHttpResponseError

PAGE = 500
"""Documents read per request (the SDK's ``max_item_count``)."""
BATCH_OPERATIONS = 100
"""Cosmos DB's limit of operations in one transactional batch."""
BATCH_BYTES = 1_500_000
"""Bytes of documents per batch: under the 2 MB request limit, with room for the framing."""
WRITERS = 4
"""Batches in flight per container."""
INDEX_LIMIT = 50_000
"""Target containers up to this many documents are read once (their fingerprints held
during the copy, about 100 bytes a document); larger ones are looked up page by page."""
PERMANENT = (400, 409, 413)
"""Statuses of a batch operation that another attempt cannot change (a malformed or too
large document, a unique key taken by another id)."""
SYSTEM = frozenset(("_rid", "_etag", "_ts", "_self", "_attachments", "_lsn"))
_MISSING = object()


@dataclass
class Counts:
    read: int = 0
    written: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    resumed: bool = False


def clean(document: dict[str, Any]) -> dict[str, Any]:
    """The document as its owner wrote it: without the system properties."""
    return {k: v for k, v in document.items() if k not in SYSTEM}


def partition_value(document: dict[str, Any], paths: Sequence[str]) -> Any:
    """The document's partition key value (a list for hierarchical keys); ``_MISSING`` when
    a path is absent or null (such a document is written alone, the SDK placing it)."""
    values = []
    for path in paths:
        node: Any = document
        for part in path.strip("/").split("/"):
            if not isinstance(node, dict) or part not in node:
                return _MISSING
            node = node[part]
        if node is None:
            return _MISSING
        values.append(node)
    return values if len(paths) > 1 else values[0]


def _key(document: dict[str, Any], pk: Any) -> str:
    return json.dumps([document.get("id"), pk], sort_keys=True, default=str)


def fingerprint(fingerprinter: Fingerprinter, document: dict[str, Any]) -> str:
    return fingerprinter.of(clean(document))


def _size(document: dict[str, Any]) -> int:
    return len(json.dumps(document, separators=(",", ":")).encode())


# -- copy ---------------------------------------------------------------------------------
def copy(
    source: Any,
    target: Any,
    paths: Sequence[str],
    fingerprinter: Fingerprinter,
    checkpoint: Checkpoint,
) -> Counts:
    """Copy every document of ``source`` (a ContainerProxy) into ``target``, resuming from
    ``checkpoint``; return what was read and written."""
    # A position belongs to these two containers: one deleted and made again since (in
    # either account) has other resource ids, and the copy starts afresh.
    ids = {"source": source.read()["_rid"], "target": target.read()["_rid"]}
    saved = checkpoint.get()
    state: dict[str, Any] = json.loads(saved) if saved else {}
    if any(state.get(side) != rid for side, rid in ids.items()):
        state = {}
    counts = Counts(resumed=bool(state))
    if not state:
        state = {"ranges": list(source.read_feed_ranges()), "index": 0, "token": None}
    ranges = state["ranges"]
    existing = _Target(target, paths, fingerprinter)
    for index in range(state["index"], len(ranges)):
        start = state["token"] if index == state["index"] else None
        # The next page is read while this one is written.
        with closing(prefetch(_pages(source, ranges[index], start))) as pages:
            for documents, token in pages:
                counts.read += len(documents)
                counts.bytes_read += sum(_size(d) for d in documents)
                _write_changed(target, existing, documents, paths, fingerprinter, counts)
                # Saved only once the page's writes landed: a stop replays at most one page.
                state = {"ranges": ranges, "index": index if token else index + 1, "token": token,
                         **ids}
                checkpoint.save(json.dumps(state))
    return counts


def _pages(source: Any, feed_range: Any, token: str | None) -> Iterator[tuple[list[Any], Any]]:
    """Each page of ``feed_range`` from ``token`` on, with the position after it."""
    pages = source.query_items(
        "SELECT * FROM c", feed_range=feed_range, max_item_count=PAGE
    ).by_page(token)
    for page in pages:
        yield [clean(d) for d in page], pages.continuation_token


class _Target:
    """What the target container holds, as fingerprints by id and partition key."""

    def __init__(self, container: Any, paths: Sequence[str], fingerprinter: Fingerprinter):
        self.container, self.paths, self.fingerprinter = container, paths, fingerprinter
        held = count(container)
        self.index: dict[str, str] | None = None
        if held <= INDEX_LIMIT:
            # Empty (a first copy): nothing to read. Small: one read beats a lookup a page.
            self.index = {}
            if held:
                for found in container.query_items("SELECT * FROM c", max_item_count=PAGE,
                                                   enable_cross_partition_query=True):
                    self._add(self.index, found)

    def _add(self, into: dict[str, str], found: dict[str, Any]) -> None:
        found = clean(found)
        into[_key(found, partition_value(found, self.paths))] = self.fingerprinter.of(found)

    def fingerprints(self, keyed: list[tuple[dict[str, Any], Any]]) -> dict[str, str]:
        if self.index is not None:
            return self.index
        lookups = [(d["id"], pk) for d, pk in keyed if pk is not _MISSING]
        found: dict[str, str] = {}
        if lookups:
            for document in self.container.read_items(lookups):
                self._add(found, document)
        return found


def count(container: Any) -> int:
    """How many documents the container holds."""
    found = container.query_items("SELECT VALUE COUNT(1) FROM c",
                                  enable_cross_partition_query=True)
    return int(sum(found))


def _write_changed(
    target: Any,
    held: _Target,
    documents: list[dict[str, Any]],
    paths: Sequence[str],
    fingerprinter: Fingerprinter,
    counts: Counts,
) -> None:
    keyed = [(d, partition_value(d, paths)) for d in documents]
    existing = held.fingerprints(keyed)
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    alone: list[dict[str, Any]] = []
    for document, pk in keyed:
        if pk is _MISSING or _size(document) > BATCH_BYTES:
            alone.append(document)
        elif existing.get(_key(document, pk)) != fingerprinter.of(document):
            groups[json.dumps(pk, sort_keys=True, default=str)].append(document)
    batches = [(json.loads(pk), chunk) for pk, docs in groups.items() for chunk in _chunks(docs)]

    def write(batch: tuple[Any, list[dict[str, Any]]]) -> int:
        pk, chunk = batch
        try:
            target.execute_item_batch([("upsert", (d,)) for d in chunk], partition_key=pk)
        except CosmosBatchOperationError as exc:
            index = exc.error_index if 0 <= exc.error_index < len(chunk) else -1
            answers = exc.operation_responses or []
            status = answers[index].get("statusCode") if 0 <= index < len(answers) else None
            if status not in PERMANENT:
                raise  # throttled or unavailable: the engine tries the item again
            failed = chunk[index] if index >= 0 else {}
            raise ItemError(
                f"document {failed.get('id')!r} could not be written: "
                f"{status} {_first_line(exc.message)}",
                remedy="fix or remove the conflicting document in the target (a unique key "
                "taken by another id, a document over 2 MB), then run again",
            ) from None
        return sum(_size(d) for d in chunk)

    for written in read_ahead(write, batches, WRITERS):
        counts.bytes_written += written
    counts.written += sum(len(chunk) for _, chunk in batches)
    for document in alone:
        pk = partition_value(document, paths)
        if pk is not _MISSING:  # too large for a batch: its fingerprint is known already
            current = existing.get(_key(document, pk))
        else:
            found = _read_alone(target, document)
            current = fingerprinter.of(clean(found)) if found is not None else None
        if current != fingerprinter.of(document):
            # An upsert: writing when unsure is safe, it replaces whatever is there.
            target.upsert_item(document)
            counts.written += 1
            counts.bytes_written += _size(document)


def _read_alone(target: Any, document: dict[str, Any]) -> dict[str, Any] | None:
    """The target's document of this id without a partition key value (None: none, or it
    could not be read: the caller then writes, which is safe)."""
    query = "SELECT * FROM c WHERE c.id = @id"
    try:
        found = target.query_items(
            query, parameters=[{"name": "@id", "value": document["id"]}],
            enable_cross_partition_query=True,
        )
        return next(iter(found), None)
    except CosmosHttpResponseError:
        return None


def _chunks(documents: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    size = 0
    for document in documents:
        length = _size(document)
        if chunk and (len(chunk) >= BATCH_OPERATIONS or size + length > BATCH_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(document)
        size += length
    if chunk:
        yield chunk


def _first_line(text: Any) -> str:
    lines = str(text or "").strip().splitlines()
    return lines[0] if lines else ""


# -- verification -------------------------------------------------------------------------
def digest(container: Any, fingerprinter: Fingerprinter) -> tuple[int, str]:
    """The number of documents and one keyed fingerprint of them all, whatever their order
    (each document's fingerprint, combined by XOR: ids are unique per partition key)."""
    count, combined = 0, 0
    for document in container.query_items("SELECT * FROM c", enable_cross_partition_query=True,
                                          max_item_count=PAGE):
        count += 1
        combined ^= int(fingerprinter.of(clean(document)).rsplit(":", 1)[1], 16)
    return count, fingerprinter.of(f"{count}:{combined:032x}")
