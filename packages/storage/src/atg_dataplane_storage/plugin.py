"""atg-dataplane hooks for ``Microsoft.Storage/storageAccounts``.

Item kinds: ``container`` and ``blob`` (Blob service), ``share``,
``directory`` and ``file`` (File service), ``table`` (its entities copied in
per-partition batches), ``queue`` (its metadata and messages). Template mode
discovers containers, shares, directories, tables and queues and creates them
empty; replication mode adds blobs, files, entities and messages.

Options (``storage.<name>``; see :class:`~atg_dataplane_storage.options.StorageOptions`):
``services``, ``server_side``, ``source_sas``, ``sas_minutes``,
``sync_copy_max_bytes``, ``copy_timeout_seconds``, ``queue_read``,
``queue_visibility_seconds``, ``snapshots``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from atg_dataplane import (
    DataPlaneItem,
    Fingerprinter,
    ItemOutcome,
    Permission,
    ReplicationMode,
    ResourceBinding,
    ResourceTypeSpec,
    hookimpl,
)

from atg_dataplane_storage import blobs, files, queues, tables
from atg_dataplane_storage.options import DECLARED, StorageOptions
from atg_dataplane_storage.permissions import RESOURCE_TYPE, permissions

ITEM_KINDS = (
    blobs.CONTAINER,
    blobs.BLOB,
    files.SHARE,
    files.DIRECTORY,
    files.FILE,
    tables.TABLE,
    queues.QUEUE,
)
# Storage accounts take thousands of requests per second; server-side copies
# mostly wait on the service, so many may run at once into one account.
MAX_WRITES_PER_ACCOUNT = 64
ACCOUNT_API_VERSION = "2023-05-01"


@hookimpl
def dataplane_resource_types() -> list[ResourceTypeSpec]:
    return [
        ResourceTypeSpec(
            resource_type=RESOURCE_TYPE,
            item_kinds=ITEM_KINDS,
            max_concurrency_per_resource=MAX_WRITES_PER_ACCOUNT,
            arm_api_version=ACCOUNT_API_VERSION,
            description="Blob containers and blobs, file shares, tables and queues",
            options=DECLARED,
        )
    ]


@hookimpl
def dataplane_permissions(resource_type: str, mode: ReplicationMode) -> list[Permission]:
    return permissions(ReplicationMode(mode))


@hookimpl
def dataplane_discover(
    resource: ResourceBinding,
    mode: ReplicationMode,
    options: Mapping[str, Any],
    fingerprinter: Fingerprinter,
) -> Iterator[DataPlaneItem]:
    mode = ReplicationMode(mode)
    settings = StorageOptions.from_options(options)
    # Few, long items first (a table or a queue is copied whole by one item), so that
    # they run alongside the many short blob items rather than after them. Files come
    # last: listing shares takes the account key (an ARM call) before the first item.
    if "table" in settings.services:
        yield from tables.discover(resource, mode, fingerprinter)
    if "queue" in settings.services:
        yield from queues.discover(resource, mode)
    if "blob" in settings.services:
        yield from blobs.discover(resource, mode, settings, fingerprinter)
    if "file" in settings.services:
        yield from files.discover(resource, mode, fingerprinter)


@hookimpl
def dataplane_replicate_item(
    item: DataPlaneItem,
    source: ResourceBinding,
    target: ResourceBinding,
    mode: ReplicationMode,
    options: Mapping[str, Any],
    fingerprinter: Fingerprinter,
) -> ItemOutcome:
    mode = ReplicationMode(mode)
    settings = StorageOptions.from_options(options)
    kind = item.kind
    if not item.copyable:
        return ItemOutcome(status="skipped", reason=item.not_copyable_reason)
    if kind == blobs.CONTAINER:
        return blobs.replicate_container(item, source, target)
    if kind == blobs.BLOB:
        return blobs.replicate_blob(item, source, target, settings, fingerprinter)
    if kind in (files.SHARE, files.DIRECTORY, files.FILE):
        return files.replicate(item, source, target, mode, settings, fingerprinter)
    if kind == tables.TABLE:
        return tables.replicate(item, source, target, mode, fingerprinter)
    if kind == queues.QUEUE:
        return queues.replicate(item, source, target, mode, settings)
    raise ValueError(f"unknown storage item kind {kind!r}")


@hookimpl
def dataplane_fingerprint(
    item: DataPlaneItem,
    resource: ResourceBinding,
    mode: ReplicationMode,
    fingerprinter: Fingerprinter,
) -> str | None:
    if ReplicationMode(mode) is not ReplicationMode.REPLICATION:
        return None
    if item.kind == blobs.BLOB:
        return blobs.fingerprint(item, resource, fingerprinter)
    if item.kind == files.FILE:
        return files.fingerprint(item, resource, fingerprinter)
    if item.kind == tables.TABLE:
        return tables.fingerprint(item, resource, fingerprinter)
    if item.kind == queues.QUEUE:
        # The hook receives no run options: queues are read with the defaults.
        return queues.fingerprint(item, resource, StorageOptions(), fingerprinter)
    return None
