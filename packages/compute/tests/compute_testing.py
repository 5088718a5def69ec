"""What the compute tests share: the sandbox's resource groups, clients and bindings as
the engine builds them, and the access grants left open (none, after any copy)."""

from __future__ import annotations

from typing import Any

from atg_dataplane import ResourceBinding
from azure.mgmt.compute import ComputeManagementClient

GROUPS = {"source": "rg-source-data", "target": "rg-target-data"}
MIB = 1024 * 1024


def client(sandbox: Any, side: str) -> ComputeManagementClient:
    found: ComputeManagementClient = sandbox.mgmt(ComputeManagementClient, side)
    return found


def binding(sandbox: Any, side: str, vm: str) -> ResourceBinding:
    from atg_dataplane_compute.plugin import dataplane_resource_types

    found = client(sandbox, side).virtual_machines.get(GROUPS[side], vm)
    made: ResourceBinding = sandbox.binding(side, found.id, dataplane_resource_types()[0])
    return made


def open_grants(sandbox: Any) -> list[str]:
    """Disks and snapshots of either side still open to a SAS."""
    states = []
    for side in ("source", "target"):
        compute = client(sandbox, side)
        volumes = [*compute.disks.list_by_resource_group(GROUPS[side]),
                   *compute.snapshots.list_by_resource_group(GROUPS[side])]
        for volume in volumes:
            if volume.disk_state in ("ActiveSAS", "ActiveUpload"):
                states.append(f"{side}:{volume.name}:{volume.disk_state}")
    return states
