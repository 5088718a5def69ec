"""Compute in the sandbox (``emulator/compute/``), through azure-mgmt-compute and
azure-storage-blob's page blob client against the disks' access SAS: a disk made for
upload and filled page by page, attached to a VM (no access then), incremental snapshots
and the difference between two of them, Put Page From URL between volumes, grants that end,
and extensions whose protected settings are never shown."""

from __future__ import annotations

import os

import pytest
import requests
from arm_testing import mgmt_client
from atg_dataplane_sandbox.emulator import EmulatorHandle
from atg_dataplane_sandbox.topology import Topology
from atg_dataplane_sandbox.vhd import FOOTER, footer
from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute import ComputeManagementClient
from azure.storage.blob import BlobClient

RG = "rg-compute"
MIB = 1024 * 1024
SIZE = 24 * MIB


@pytest.fixture(scope="module")
def compute(emu: EmulatorHandle, topo: Topology) -> ComputeManagementClient:
    client: ComputeManagementClient = mgmt_client(emu, topo, ComputeManagementClient, RG)
    return client


def _upload_disk(compute: ComputeManagementClient, name: str, size: int) -> str:
    """A disk of ``size`` bytes made for upload (its blob: the size and the VHD footer)."""
    disk = compute.disks.begin_create_or_update(
        RG,
        name,
        {
            "location": "eastus",
            "sku": {"name": "Premium_LRS"},
            "properties": {
                "creationData": {"createOption": "Upload", "uploadSizeBytes": size + FOOTER}
            },
        },
    ).result()
    assert disk.disk_state == "ReadyToUpload" and disk.disk_size_bytes == size
    return str(disk.id)


def _grant(compute: ComputeManagementClient, kind: str, name: str, access: str) -> str:
    operations = compute.disks if kind == "disk" else compute.snapshots
    poller = operations.begin_grant_access(
        RG, name, {"access": access, "durationInSeconds": 600}, polling_interval=0.05
    )
    return str(poller.result().access_sas)


def _blob(emu: EmulatorHandle, url: str) -> BlobClient:
    return BlobClient.from_blob_url(url, connection_verify=str(emu.ca_path))


def _vm_writes(emu: EmulatorHandle, compute: ComputeManagementClient, disk: str,
               offset: int, data: bytes) -> None:
    """What the VM writes to its disk (no Azure API: the sandbox's admin key)."""
    key = compute.disks.get(RG, disk).unique_id
    url = f"{emu._emulator.urls['disks']}/md/{key}/abcd?comp=page"
    answer = requests.put(
        url,
        data=data,
        headers={
            "X-Sandbox-Admin-Key": emu.admin_key,
            "x-ms-range": f"bytes={offset}-{offset + len(data) - 1}",
            "x-ms-page-write": "update",
        },
        verify=str(emu.ca_path),
        timeout=30,
    )
    assert answer.status_code == 201, answer.text


def test_upload_attach_snapshot_and_diff(
    emu: EmulatorHandle, compute: ComputeManagementClient
) -> None:
    with pytest.raises(HttpResponseError) as small:  # Azure's minimum: 20 MiB and a footer
        _upload_disk(compute, "tiny", 4 * MIB)
    assert small.value.status_code == 400
    disk_id = _upload_disk(compute, "data-1", SIZE)
    sas = _grant(compute, "disk", "data-1", "Write")
    blob = _blob(emu, sas)
    first, second = os.urandom(64 * 1024), os.urandom(4096)
    blob.upload_page(first, offset=0, length=len(first))
    blob.upload_page(second, offset=2 * MIB, length=len(second))
    ranges = [(r.start, r.end) for r in blob.list_page_ranges()]
    assert ranges == [(0, len(first) - 1), (2 * MIB, 2 * MIB + len(second) - 1)]
    with pytest.raises(HttpResponseError) as unfinished:  # no VHD footer yet
        compute.disks.begin_revoke_access(RG, "data-1", polling_interval=0.05).result()
    assert unfinished.value.status_code == 400
    blob.upload_page(footer(SIZE), offset=SIZE, length=FOOTER)
    compute.disks.begin_revoke_access(RG, "data-1", polling_interval=0.05).result()
    assert compute.disks.get(RG, "data-1").disk_state == "Unattached"
    with pytest.raises(HttpResponseError) as revoked:
        blob.download_blob(offset=0, length=512).readall()
    assert revoked.value.status_code == 403

    compute.virtual_machines.begin_create_or_update(
        RG,
        "vm-1",
        {
            "location": "eastus",
            "properties": {
                "hardwareProfile": {"vmSize": "Standard_B2s"},
                "storageProfile": {
                    "dataDisks": [
                        {"lun": 0, "createOption": "Attach", "managedDisk": {"id": disk_id}}
                    ]
                },
            },
        },
        polling_interval=0.05,
    ).result()
    assert compute.disks.get(RG, "data-1").managed_by.endswith("/virtualMachines/vm-1")
    with pytest.raises(HttpResponseError) as attached:  # snapshot it instead
        _grant(compute, "disk", "data-1", "Read")
    assert attached.value.status_code == 409

    def snapshot(name: str) -> None:
        compute.snapshots.begin_create_or_update(
            RG,
            name,
            {
                "location": "eastus",
                "properties": {
                    "creationData": {"createOption": "Copy", "sourceResourceId": disk_id},
                    "incremental": True,
                },
            },
        ).result()

    snapshot("data-1-s1")
    _vm_writes(emu, compute, "data-1", MIB, b"\x07" * 1024)
    snapshot("data-1-s2")
    older = _grant(compute, "snapshot", "data-1-s1", "Read")
    newer = _blob(emu, _grant(compute, "snapshot", "data-1-s2", "Read"))
    assert newer.download_blob(offset=0, length=len(first)).readall() == first
    written, cleared = newer.get_page_range_diff_for_managed_disk(older)
    assert written == [{"start": MIB, "end": MIB + 1023}] and cleared == []

    # Put Page From URL: the target filled by the service, range by range
    _upload_disk(compute, "copy-1", SIZE)
    target = _blob(emu, _grant(compute, "disk", "copy-1", "Write"))
    target.upload_pages_from_url(newer.url, offset=0, length=len(first), source_offset=0)
    assert target.download_blob(offset=0, length=len(first)).readall() == first
    target.upload_pages_from_url(newer.url, offset=SIZE, length=FOOTER, source_offset=SIZE)
    compute.disks.begin_revoke_access(RG, "copy-1", polling_interval=0.05).result()

    # another disk at a LUN: not by changing the id (Azure refuses), but detach and attach
    copy_id = compute.disks.get(RG, "copy-1").id
    vm = compute.virtual_machines.get(RG, "vm-1").as_dict()
    vm["properties"]["storageProfile"]["dataDisks"][0]["managedDisk"] = {"id": copy_id}
    with pytest.raises(HttpResponseError) as changed:
        compute.virtual_machines.begin_create_or_update(RG, "vm-1", vm).result()
    assert changed.value.status_code == 409
    compute.virtual_machines.begin_attach_detach_data_disks(
        RG,
        "vm-1",
        {"dataDisksToDetach": [{"diskId": disk_id}],
         "dataDisksToAttach": [{"diskId": copy_id, "lun": 0}]},
        polling_interval=0.05,
    ).result()
    assert compute.disks.get(RG, "copy-1").disk_state == "Attached"
    assert compute.disks.get(RG, "data-1").disk_state == "Unattached"


def test_extensions_never_show_protected_settings(compute: ComputeManagementClient) -> None:
    compute.virtual_machines.begin_create_or_update(
        RG,
        "vm-ext",
        {"location": "eastus", "properties": {"hardwareProfile": {"vmSize": "Standard_B2s"}}},
        polling_interval=0.05,
    ).result()
    made = compute.virtual_machine_extensions.begin_create_or_update(
        RG,
        "vm-ext",
        "custom-script",
        {
            "location": "eastus",
            "properties": {
                "publisher": "Microsoft.Azure.Extensions",
                "type": "CustomScript",
                "typeHandlerVersion": "2.1",
                "settings": {"fileUris": ["https://example.com/setup.sh"]},
                "protectedSettings": {"commandToExecute": "setup.sh --token s3cr3t"},
            },
        },
        polling_interval=0.05,
    ).result()
    assert made.provisioning_state == "Succeeded" and made.protected_settings is None
    listed = compute.virtual_machine_extensions.list(RG, "vm-ext").value
    assert [e.name for e in listed] == ["custom-script"]
    assert listed[0].settings == {"fileUris": ["https://example.com/setup.sh"]}
    view = compute.virtual_machines.instance_view(RG, "vm-ext")
    assert [s.code for s in view.statuses][-1] == "PowerState/running"
