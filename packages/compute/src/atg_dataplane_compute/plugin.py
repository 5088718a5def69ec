"""atg-dataplane hooks for ``Microsoft.Compute/virtualMachines``: a VM's extensions
(``extensions.py``) and, in replication mode, its managed data disks, copied server-side
and incrementally (``disks.py``, over ``volumes.py``). The OS disk is listed and reported
out of scope. Terraform recreates the VM and its (empty) data disks; this fills them.
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

from atg_dataplane_compute.known import NEEDS_PROTECTED

if TYPE_CHECKING:
    from atg_dataplane_compute import disks, extensions
else:  # imported when a resource of this type is first worked on
    disks = deferred("atg_dataplane_compute.disks")
    extensions = deferred("atg_dataplane_compute.extensions")

RESOURCE_TYPE = "Microsoft.Compute/virtualMachines"
ARM_API_VERSION = "2024-07-01"
MAX_ITEMS_PER_VM = 4
OPTIONS = (
    PluginOption(
        "compute.protected_settings_file",
        help='JSON file {"<vm>/<extension>": {protected settings}} (never logged)',
    ),
    PluginOption(
        "compute.full_copy",
        kind="bool",
        default=False,
        help="copy every written range from the source, not only what changed since the "
        "last copy (after writes on the target's disk)",
    ),
    PluginOption(
        "compute.protected_extensions",
        kind="list",
        default=list(NEEDS_PROTECTED),
        help="Publisher.Type of extensions that need their protected settings given",
    ),
)
_C = "Microsoft.Compute"
SOURCE = (
    f"{_C}/virtualMachines/read",
    f"{_C}/virtualMachines/extensions/read",
    f"{_C}/disks/read",
    f"{_C}/snapshots/read",
    f"{_C}/snapshots/write",
    f"{_C}/snapshots/delete",
    f"{_C}/snapshots/beginGetAccess/action",
    f"{_C}/snapshots/endGetAccess/action",
)
TARGET = (
    f"{_C}/virtualMachines/read",
    f"{_C}/virtualMachines/write",
    f"{_C}/virtualMachines/extensions/read",
    f"{_C}/virtualMachines/extensions/write",
    f"{_C}/disks/read",
    f"{_C}/disks/write",
    f"{_C}/disks/delete",
    f"{_C}/disks/beginGetAccess/action",
    f"{_C}/disks/endGetAccess/action",
    f"{_C}/virtualMachines/attachDetachDataDisks/action",
    *SOURCE[3:],
)


@hookimpl
def dataplane_resource_types() -> list[ResourceTypeSpec]:
    return [
        ResourceTypeSpec(
            resource_type=RESOURCE_TYPE,
            item_kinds=("extension", "data_disk", "os_disk"),
            max_concurrency_per_resource=MAX_ITEMS_PER_VM,
            arm_api_version=ARM_API_VERSION,
            description="Virtual machines: extensions, and managed data disks copied "
            "server-side, range by range, incrementally",
            options=OPTIONS,
        )
    ]


@hookimpl
def dataplane_permissions(resource_type: str, mode: ReplicationMode) -> list[Permission]:
    return [
        Permission(
            "subscription",
            SOURCE,
            side="source",
            description="read VMs and extensions; snapshot data disks and read them",
            suggested_role="Reader and Disk Snapshot Contributor",
        ),
        Permission(
            "subscription",
            TARGET,
            side="target",
            description="create extensions; fill new data disks and attach them",
            suggested_role="Virtual Machine Contributor and Disk Snapshot Contributor",
        ),
    ]


@hookimpl
def dataplane_discover(
    resource: ResourceBinding, mode: ReplicationMode, options: Mapping[str, Any]
) -> Iterator[DataPlaneItem]:
    replication = ReplicationMode(mode) is ReplicationMode.REPLICATION
    yield from extensions.items(resource, replication, options)
    if replication:  # disk contents are data: template mode copies structure only
        yield from disks.items(resource)


@hookimpl
def dataplane_replicate_item(
    item: DataPlaneItem,
    source: ResourceBinding,
    target: ResourceBinding,
    options: Mapping[str, Any],
    checkpoint: Checkpoint,
) -> ItemOutcome:
    if item.kind == "extension":
        return extensions.replicate(item, source, target, options)
    if not item.copyable:
        return ItemOutcome(status="skipped", reason=item.not_copyable_reason)
    return disks.replicate(item, source, target, checkpoint, options)


@hookimpl
def dataplane_fingerprint(
    item: DataPlaneItem, resource: ResourceBinding, fingerprinter: Fingerprinter
) -> str | None:
    """A data disk by size and keyed hash of its contents; extensions by properties."""
    if item.kind == "data_disk":
        return disks.fingerprint(item, resource, fingerprinter)
    return None
