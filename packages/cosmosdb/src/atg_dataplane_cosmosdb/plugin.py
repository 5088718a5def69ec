"""atg-dataplane hooks for ``Microsoft.DocumentDB/databaseAccounts`` (NoSQL API).

The engine calls these hooks only for Cosmos DB accounts; retries, concurrency, the journal
(and the checkpoints of a container's document copy) and verification are the engine's.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from atg_dataplane import (
    Checkpoint,
    DataPlaneItem,
    Fingerprinter,
    ItemOutcome,
    Permission,
    PluginOption,
    ReplicationMode,
    ResourceBinding,
    ResourceTypeSpec,
    deferred,
    hookimpl,
)

from atg_dataplane_cosmosdb.kinds import KINDS, RESOURCE_TYPE
from atg_dataplane_cosmosdb.permissions import Options, permissions

if TYPE_CHECKING:
    from atg_dataplane_cosmosdb import copy, discovery
else:  # imported when a resource of this type is first worked on
    copy = deferred("atg_dataplane_cosmosdb.copy")
    discovery = deferred("atg_dataplane_cosmosdb.discovery")

MAX_ITEMS_PER_ACCOUNT = 8
"""Containers (and scripts) copied at once per account; each container's copy keeps a few
batches in flight of its own (``documents.WRITERS``)."""
ARM_API_VERSION = "2024-05-15"

OPTIONS = (
    PluginOption(
        "cosmosdb.use_keys",
        "bool",
        False,
        "read and write documents with the account keys (ARM listKeys) instead of Entra ID "
        "tokens and the Cosmos DB data roles",
    ),
)


@hookimpl
def dataplane_resource_types() -> list[ResourceTypeSpec]:
    return [
        ResourceTypeSpec(
            resource_type=RESOURCE_TYPE,
            item_kinds=KINDS,
            max_concurrency_per_resource=MAX_ITEMS_PER_ACCOUNT,
            arm_api_version=ARM_API_VERSION,
            description="Cosmos DB (NoSQL): databases, containers, throughput, scripts and "
            "documents",
            options=OPTIONS,
        )
    ]


@hookimpl
def dataplane_permissions(
    resource_type: str, mode: ReplicationMode, options: Mapping[str, Any]
) -> list[Permission]:
    return permissions(ReplicationMode(mode), Options.of(options).use_keys)


@hookimpl
def dataplane_discover(
    resource: ResourceBinding,
    mode: ReplicationMode,
    options: Mapping[str, Any],
    fingerprinter: Fingerprinter,
) -> Iterator[DataPlaneItem]:
    yield from discovery.discover(
        resource, ReplicationMode(mode), Options.of(options), fingerprinter
    )


@hookimpl
def dataplane_replicate_item(
    item: DataPlaneItem,
    source: ResourceBinding,
    target: ResourceBinding,
    mode: ReplicationMode,
    options: Mapping[str, Any],
    fingerprinter: Fingerprinter,
    checkpoint: Checkpoint,
) -> ItemOutcome:
    return copy.replicate(
        item, source, target, ReplicationMode(mode), Options.of(options),
        fingerprinter, checkpoint,
    )


@hookimpl
def dataplane_fingerprint(
    item: DataPlaneItem,
    resource: ResourceBinding,
    mode: ReplicationMode,
    fingerprinter: Fingerprinter,
    options: Mapping[str, Any],
) -> str | None:
    return copy.fingerprint(
        item, resource, ReplicationMode(mode), Options.of(options), fingerprinter
    )
