"""atg-dataplane hooks for ``Microsoft.ContainerRegistry/registries``.

The engine calls these hooks only for registries, so there is no type check here; retries,
concurrency, the journal and verification are the engine's.

Options read (``options`` of the hooks):

* ``containerregistry.untagged``: copy untagged manifests too (default: report them);
* ``containerregistry.server_side``: import images server-side (default); ``false`` copies
  every image through this process (pull and push).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from atg_dataplane import (
    DataPlaneItem,
    Fingerprinter,
    ItemOutcome,
    Permission,
    PluginOption,
    ReplicationMode,
    ResourceBinding,
    ResourceTypeSpec,
    hookimpl,
)

from atg_dataplane_containerregistry import copy, discovery
from atg_dataplane_containerregistry.permissions import RESOURCE_TYPE, permissions

# Imports and pushes into one registry at a time: ACR throttles per registry.
MAX_WRITES_PER_REGISTRY = 16
REGISTRY_API_VERSION = "2023-07-01"

OPTIONS = (
    PluginOption(
        "containerregistry.untagged",
        "bool",
        False,
        "copy untagged manifests too (earlier builds); otherwise each is reported",
    ),
    PluginOption(
        "containerregistry.server_side",
        "bool",
        True,
        "import images server-side (ARM importImage); false copies them through this "
        "process (pull and push)",
    ),
)


@hookimpl
def dataplane_resource_types() -> list[ResourceTypeSpec]:
    return [
        ResourceTypeSpec(
            resource_type=RESOURCE_TYPE,
            item_kinds=(discovery.REGISTRY, discovery.MANIFEST),
            max_concurrency_per_resource=MAX_WRITES_PER_REGISTRY,
            arm_api_version=REGISTRY_API_VERSION,
            description="Container images: every tag, digest, untagged manifest and referrer",
            options=OPTIONS,
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
    yield from discovery.discover(
        resource, ReplicationMode(mode), discovery.Options.of(options), fingerprinter
    )


@hookimpl
def dataplane_replicate_item(
    item: DataPlaneItem,
    source: ResourceBinding,
    target: ResourceBinding,
    mode: ReplicationMode,
    options: Mapping[str, Any],
) -> ItemOutcome:
    return copy.replicate(
        item, source, target, ReplicationMode(mode), discovery.Options.of(options)
    )
