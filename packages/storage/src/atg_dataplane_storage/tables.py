"""Tables: one item per table; its entities are copied in per-partition transactions.

Entities stream from the source in the service's order (partition key, then
row key), so one partition's entities arrive together: they are written as
upsert (replace) transactions of at most 100 entities and about 3 MiB each,
the limits of an entity group transaction. Property types survive the trip:
the SDK hands back Int64 as ``EntityProperty``, Guid as ``UUID``, DateTime as
``TablesEntityDatetime``, Binary as ``bytes``, Double as ``float``, and writes
them back with the same EDM types.

A table's fingerprint is a keyed hash over its entities in that order, with
every property's type, computed while streaming (bounded memory). A re-run
compares both sides' fingerprints and writes nothing when they agree.
Entities that exist only in the target are left alone (never deleted).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from atg_dataplane import (
    DataPlaneItem,
    Fingerprinter,
    ItemOutcome,
    ReplicationMode,
    ResourceBinding,
    idempotent,
)
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from atg_dataplane_storage.clients import account_clients, scrubbed
from atg_dataplane_storage.sas import require_side

TABLE = "table"
MAX_BATCH = 100
PENDING_LIMIT = 10 * MAX_BATCH
"""Entities held back at most, across partitions, before the fullest batch is sent."""
MAX_BATCH_BYTES = 3 * 1024 * 1024
PENDING_BYTES = 8 * MAX_BATCH_BYTES
"""Entity bytes held back at most, across partitions (entities may be 1 MiB each)."""


def discover(
    binding: ResourceBinding, mode: ReplicationMode, fingerprinter: Fingerprinter
) -> Iterator[DataPlaneItem]:
    service = account_clients(binding).table
    if service is None:
        return
    with scrubbed():
        for table in service.list_tables():
            yield DataPlaneItem(name=table.name, kind=TABLE, source_resource_id=binding.resource.id)


def _entities(binding: ResourceBinding, name: str) -> Iterable[Any]:
    client = require_side(binding, "table").get_table_client(name)
    return client.list_entities(results_per_page=1000)


def _typed(value: Any) -> Any:
    """A JSON-able form of one property value that keeps its EDM type apart."""
    from azure.data.tables import EntityProperty

    if isinstance(value, EntityProperty):
        return [str(getattr(value.edm_type, "value", value.edm_type)), str(value.value)]
    if isinstance(value, bool):
        return ["Edm.Boolean", value]
    if isinstance(value, int):
        return ["Edm.Int32", value]
    if isinstance(value, float):
        return ["Edm.Double", repr(value)]
    if isinstance(value, bytes | bytearray):
        return ["Edm.Binary", bytes(value).hex()]
    if isinstance(value, uuid.UUID):
        return ["Edm.Guid", str(value)]
    if isinstance(value, dt.datetime):
        return ["Edm.DateTime", value.astimezone(dt.UTC).isoformat()]
    return ["Edm.String", str(value)]


def entity_record(entity: Any) -> bytes:
    return json.dumps(
        {key: _typed(value) for key, value in sorted(entity.items())},
        sort_keys=True,
        ensure_ascii=False,
    ).encode("utf-8")


def table_fingerprint(
    binding: ResourceBinding, name: str, fingerprinter: Fingerprinter
) -> str | None:
    """Keyed hash of every entity with its types, in any order (a copy may write a table's
    partitions in another order than its listing had); streaming; None when the table is
    absent. Each entity's keyed hash is summed, so equal tables hash equal in any order."""
    total = 0
    count = 0
    try:
        with scrubbed():
            for entity in _entities(binding, name):
                digest = fingerprinter.of(entity_record(entity))
                total = (total + int(digest.removeprefix(Fingerprinter.PREFIX), 16)) % _MODULUS
                count += 1
    except ResourceNotFoundError:
        return None
    return fingerprinter.of(f"entities={count};sum={total:x}")


_MODULUS = 1 << 128


def replicate(
    item: DataPlaneItem,
    source: ResourceBinding,
    target: ResourceBinding,
    mode: ReplicationMode,
    fingerprinter: Fingerprinter,
) -> ItemOutcome:
    with scrubbed():
        service = require_side(target, "table")
        created = False
        try:
            with idempotent():  # a repeat answers 409: taken as "exists" below
                service.create_table(item.name)
            created = True
        except ResourceExistsError:
            pass
        if mode is not ReplicationMode.REPLICATION:
            return ItemOutcome(status="replicated" if created else "unchanged")
        if not created:
            src = table_fingerprint(source, item.name, fingerprinter)
            if src is not None and src == table_fingerprint(target, item.name, fingerprinter):
                return ItemOutcome(status="unchanged", fingerprint=src)
        client = service.get_table_client(item.name)
        written = 0
        nbytes = 0
        for batch, size in _batches(_entities(source, item.name)):
            with idempotent():  # upserts (replace): the same batch again changes nothing
                client.submit_transaction(batch)
            written += len(batch)
            nbytes += size
        if not written and not created:
            return ItemOutcome(status="unchanged")
        return ItemOutcome(status="replicated", bytes_copied=nbytes, client_bytes=nbytes)


def _batches(entities: Iterable[Any]) -> Iterator[tuple[list[Any], int]]:
    """Upsert transactions: one partition key each, <= 100 entities, about <= 3 MiB.

    A listing need not come partition by partition (Azurite lists in insertion order), so
    entities wait in one batch per partition; a full batch goes at once, and when too many
    entities (PENDING_LIMIT) or bytes (PENDING_BYTES) wait, the fullest batch goes, so
    memory stays bounded even for entities near the 1 MiB limit.
    """
    from azure.data.tables import UpdateMode

    pending: dict[str, tuple[list[Any], int]] = {}
    waiting = waiting_bytes = 0
    for entity in entities:
        entity_size = len(entity_record(entity))
        partition = entity["PartitionKey"]
        batch, size = pending.get(partition, ([], 0))
        if batch and (len(batch) >= MAX_BATCH or size + entity_size > MAX_BATCH_BYTES):
            yield batch, size
            waiting -= len(batch)
            waiting_bytes -= size
            batch, size = [], 0
        batch.append(("upsert", entity, {"mode": UpdateMode.REPLACE}))
        pending[partition] = (batch, size + entity_size)
        waiting += 1
        waiting_bytes += entity_size
        while waiting > PENDING_LIMIT or waiting_bytes > PENDING_BYTES:
            by_bytes = waiting_bytes > PENDING_BYTES
            fullest = max(pending, key=lambda p: pending[p][1] if by_bytes else len(pending[p][0]))
            batch, size = pending.pop(fullest)
            yield batch, size
            waiting -= len(batch)
            waiting_bytes -= size
    yield from pending.values()


def fingerprint(
    item: DataPlaneItem, binding: ResourceBinding, fingerprinter: Fingerprinter
) -> str | None:
    return table_fingerprint(binding, item.name, fingerprinter)
