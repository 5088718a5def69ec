"""Virtual machines: a VM in each tenant through ARM (azure-mgmt-compute), the source's
data disks written with a few sparse, non-zero ranges (through an upload grant, as
``az disk`` uploads do, then attached), and its extensions (one with protected settings, a
canary Azure never returns). The target VM is what Terraform leaves: empty data disks of
the same sizes at the same LUNs, no extensions."""

from __future__ import annotations

import os
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.compute import ComputeManagementClient
from azure.storage.blob import BlobClient

from atg_dataplane_sandbox.scenarios import ResourceSpec, VmContents
from atg_dataplane_sandbox.seeders.context import SeedContext
from atg_dataplane_sandbox.vhd import FOOTER, footer

MIB = 1024 * 1024
RANGES = ((0, 64 * 1024), (MIB, 4096), (2 * MIB - 8192, 8192), (17 * MIB, 6 * MIB))
"""``(offset, length)`` written in each source disk (within its size): sparse, non-zero; the
last is longer than one Put Page From URL copies (4 MiB)."""


def _disk(
    ctx: SeedContext, compute: Any, side: str, name: str, size: int, fill: bool
) -> str:
    """A data disk of ``size`` bytes (made for upload, then finalised with its VHD footer),
    filled when ``fill``; its id."""
    rg = ctx.resource_groups[side]
    disk = compute.disks.begin_create_or_update(
        rg,
        name,
        {
            "location": ctx.location(side),
            "sku": {"name": "Premium_LRS"},
            "properties": {
                "creationData": {"createOption": "Upload", "uploadSizeBytes": size + FOOTER}
            },
        },
        polling_interval=0.1,
    ).result()
    grant = compute.disks.begin_grant_access(
        rg, name, {"access": "Write", "durationInSeconds": 600}, polling_interval=0.1
    ).result()
    blob = BlobClient.from_blob_url(grant.access_sas, connection_verify=ctx.ca_bundle)
    if fill:
        for offset, length in RANGES:
            if offset + length <= size:
                blob.upload_page(os.urandom(length), offset=offset, length=length)
    blob.upload_page(footer(size), offset=size, length=FOOTER)
    compute.disks.begin_revoke_access(rg, name, polling_interval=0.1).result()
    return str(disk.id)


def create_vm(ctx: SeedContext, side: str, name: str, contents: VmContents) -> Any:
    """The VM with its data disks attached (filled on the source side); a VM that exists
    is left as it is (seeding again adds nothing)."""
    compute = ctx.mgmt(ComputeManagementClient, side)
    try:
        compute.virtual_machines.get(ctx.resource_groups[side], name)
        return compute
    except ResourceNotFoundError:
        pass
    attached = [
        {
            "lun": lun,
            "createOption": "Attach",
            "caching": "ReadOnly" if lun == 0 else "None",
            "managedDisk": {
                "id": _disk(ctx, compute, side, f"{name}-data-{lun}", mib * MIB, side == "source")
            },
        }
        for lun, mib in enumerate(contents.disks_mib)
    ]
    compute.virtual_machines.begin_create_or_update(
        ctx.resource_groups[side],
        name,
        {
            "location": ctx.location(side),
            "properties": {
                "hardwareProfile": {"vmSize": "Standard_D2s_v5"},
                "storageProfile": {"dataDisks": attached},
            },
        },
        polling_interval=0.1,
    ).result()
    return compute


def seed(ctx: SeedContext, spec: ResourceSpec) -> dict[str, int]:
    contents: VmContents = spec.contents
    compute = ctx.mgmt(ComputeManagementClient, "source")
    rg = ctx.resource_groups["source"]
    try:
        compute.virtual_machines.get(rg, spec.source_name)
        return {}  # seeded before
    except ResourceNotFoundError:
        pass
    create_vm(ctx, "target", spec.target_name, contents)
    create_vm(ctx, "source", spec.source_name, contents)
    for extension in contents.extensions:
        props: dict[str, Any] = {
            "publisher": extension.publisher,
            "type": extension.type,
            "typeHandlerVersion": extension.version,
            "autoUpgradeMinorVersion": True,
            "settings": extension.settings,
        }
        if extension.protected:
            token = ctx.canaries.add(ctx.canaries.new())
            props["protectedSettings"] = {"commandToExecute": f"setup.sh --token {token}"}
        compute.virtual_machine_extensions.begin_create_or_update(
            rg,
            spec.source_name,
            extension.name,
            {"location": ctx.location("source"), "properties": props},
            polling_interval=0.1,
        ).result()
    return {"extension": len(contents.extensions), "data_disk": len(contents.disks_mib)}


def write_as_vm(ctx: SeedContext, disk: str, offset: int, data: bytes) -> None:
    """What a source VM writes to its data disk ``disk``: no Azure API does this, so the
    sandbox takes a Put Page with its admin key on the disk data endpoint."""
    import json

    import requests

    key = ctx.mgmt(ComputeManagementClient, "source").disks.get(
        ctx.resource_groups["source"], disk
    ).unique_id
    emulator = json.loads((ctx.directory / "emulator.json").read_text())
    admin = (ctx.directory / emulator["admin_key_file"]).read_text().strip()
    answer = requests.put(
        f"{emulator['disks']}/md/{key}/abcd?comp=page",
        data=data,
        headers={
            "X-Sandbox-Admin-Key": admin,
            "x-ms-range": f"bytes={offset}-{offset + len(data) - 1}",
            "x-ms-page-write": "update",
        },
        verify=ctx.ca_bundle,
        timeout=30,
    )
    answer.raise_for_status()
