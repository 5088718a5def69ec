"""Virtual machines: extensions and managed data disks.

The baseline is what users run today, disk by disk: ``az snapshot create``, ``az disk
grant-access`` on it, ``az disk create --upload-type Upload`` and its write grant, AzCopy
(``--blob-type PageBlob``, service to service: Put Page From URL, one range after the
other), the revokes, ``az vm disk detach`` and ``attach`` at the LUN (in one operation);
and ``az vm extension set`` per extension (one that needs protected settings cannot be
set from what Azure shows: counted, not written). The ceiling puts every range once, on
many threads, then swaps each disk in; its snapshots, disks and grants are made before
the clock starts (the source's snapshots and their grants are left to the benchmark's
throw-away sandbox). No disk byte passes through this process in any of them.
"""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from atg_dataplane_compute.known import NEEDS_PROTECTED
from atg_dataplane_compute.volumes import CHUNK
from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute import ComputeManagementClient
from azure.storage.blob import BlobClient

from adapters import Task, arm_client, where

RESOURCE_TYPE = "Microsoft.Compute/virtualMachines"
GRANT = {"access": "Read", "durationInSeconds": 3600}
PROTECTED = frozenset(name.lower() for name in NEEDS_PROTECTED)


class _Vm:
    def __init__(self, resource: Any, side: Any, pool: int | None = None) -> None:
        self.side = side
        self.pool = pool
        self.compute: ComputeManagementClient = arm_client(
            ComputeManagementClient, resource, side, pool
        )
        self.group, self.name = where(resource)
        self.lock = threading.Lock()

    def get(self) -> dict[str, Any]:
        return dict(self.compute.virtual_machines.get(self.group, self.name).as_dict())

    def disks(self) -> dict[int, dict[str, Any]]:
        listed = self.get()["properties"]["storageProfile"].get("dataDisks") or []
        return {int(d["lun"]): d for d in listed}

    def extensions(self) -> list[dict[str, Any]]:
        found = self.compute.virtual_machine_extensions.list(self.group, self.name).value
        return [dict(e.as_dict()) for e in found or []]

    def blob(self, sas: str) -> BlobClient:
        return BlobClient.from_blob_url(sas, **self.side.kwargs(self.pool))


def _prepare(src: _Vm, tgt: _Vm, lun: int, stamp: str) -> tuple[str, str, str, list[Any]]:
    """Snapshot, read grant, upload disk and write grant: ``(read SAS, write SAS, new disk
    id, ranges)``."""
    disk_id = src.disks()[lun]["managedDisk"]["id"]
    group, name = disk_id.split("/")[4], disk_id.split("/")[-1]
    disk = src.compute.disks.get(group, name)
    snap = f"{name}-bench-{stamp}"
    src.compute.snapshots.begin_create_or_update(
        group, snap,
        {"location": disk.location, "properties": {
            "creationData": {"createOption": "Copy", "sourceResourceId": disk_id},
            "incremental": True}},
    ).result()
    read = src.compute.snapshots.begin_grant_access(group, snap, GRANT).result().access_sas
    size = int(disk.as_dict()["properties"]["diskSizeBytes"]) + 512  # and the VHD footer
    made = tgt.compute.disks.begin_create_or_update(
        tgt.group, f"{tgt.name}-{lun}-bench-{stamp}",
        {"location": disk.location, "properties": {
            "creationData": {"createOption": "Upload", "uploadSizeBytes": size}}},
    ).result()
    write = tgt.compute.disks.begin_grant_access(
        tgt.group, str(made.name), {**GRANT, "access": "Write"}
    ).result().access_sas
    ranges = [r for r in src.blob(read).list_page_ranges() if not r.cleared]
    return str(read), str(write), str(made.id), ranges


def _chunks(ranges: list[Any]) -> list[tuple[int, int]]:
    out = []
    for r in ranges:
        for start in range(int(r.start), int(r.end) + 1, CHUNK):
            out.append((start, min(CHUNK, int(r.end) + 1 - start)))
    return out


def _put(destination: BlobClient, read: str, offset: int, length: int) -> int:
    destination.upload_pages_from_url(read, offset=offset, length=length, source_offset=offset)
    return 0  # the service copied: no payload through this process


def _swap(tgt: _Vm, lun: int, disk_id: str) -> int:
    """Finalise the new disk and put it at the LUN in one attach/detach operation (the VM's
    other LUNs may be swapped by other tasks: one at a time per VM)."""
    tgt.compute.disks.begin_revoke_access(tgt.group, disk_id.split("/")[-1]).result()
    with tgt.lock:
        old = tgt.disks()[lun]["managedDisk"]["id"]
        tgt.compute.virtual_machines.begin_attach_detach_data_disks(
            tgt.group, tgt.name,
            {"dataDisksToDetach": [{"diskId": old}],
             "dataDisksToAttach": [{"diskId": disk_id, "lun": lun}]},
        ).result()
    return 0


def _extension(tgt: _Vm, extension: dict[str, Any]) -> int:
    props = extension.get("properties") or {}
    if f"{props.get('publisher')}.{props.get('type')}".lower() in PROTECTED:
        return 0  # its protected settings are not in what Azure shows
    body = {"location": extension.get("location") or "eastus", "properties": {
        k: props[k] for k in ("publisher", "type", "typeHandlerVersion",
                              "autoUpgradeMinorVersion", "settings") if k in props}}
    tgt.compute.virtual_machine_extensions.begin_create_or_update(
        tgt.group, tgt.name, str(extension["name"]), body
    ).result()
    return 0


class ComputeAdapter:
    resource_type = RESOURCE_TYPE
    kinds = ("extension", "data_disk")
    server_side_kinds = ("data_disk",)

    def baseline(self, pair: Any, source: Any, target: Any, tally: Any) -> None:
        src, tgt = _Vm(pair.source, source), _Vm(pair.target, target)
        stamp = time.strftime("%Y%m%d%H%M%S")
        for extension in src.extensions():
            tally.add("extension", _extension(tgt, extension))
        for lun in sorted(src.disks()):
            read, write, made, ranges = _prepare(src, tgt, lun, stamp)
            destination = tgt.blob(write)
            for offset, length in _chunks(ranges):
                _put(destination, read, offset, length)
            tally.add("data_disk", _swap(tgt, lun, made))

    def plan(self, pair: Any, source: Any, target: Any, pool: int) -> list[Task]:
        src, tgt = _Vm(pair.source, source), _Vm(pair.target, target, pool)
        stamp = time.strftime("%Y%m%d%H%M%S") + "c"
        tasks = [
            Task("extension", str(e["name"]), lambda e=e: _extension(tgt, e))
            for e in src.extensions()
        ]
        for lun in sorted(src.disks()):
            read, write, made, ranges = _prepare(src, tgt, lun, stamp)
            destination = tgt.blob(write)
            for offset, length in _chunks(ranges):
                put = lambda o=offset, n=length, d=destination, r=read: _put(d, r, o, n)  # noqa: E731
                tasks.append(Task("data_disk", f"lun-{lun}@{offset}", put, counted=False))
            tasks.append(Task(
                "data_disk", f"lun-{lun}",
                lambda lun=lun, m=made: _swap(tgt, lun, m), phase=1,
            ))
        return tasks

    # -- sandbox targets ------------------------------------------------------
    def fresh_targets(self, sandbox_dir: str, names: list[str], tag: str) -> dict[str, str]:
        """Each target VM's twin: empty data disks of the same sizes at the same LUNs."""
        from atg_dataplane_sandbox.scenarios import VmContents
        from atg_dataplane_sandbox.seed import context
        from atg_dataplane_sandbox.seeders.compute import create_vm

        ctx = context(sandbox_dir)
        compute = ctx.mgmt(ComputeManagementClient, "target")
        group = ctx.resource_groups["target"]
        fresh = {name: f"{name}-{tag}"[:60] for name in names}

        def make(name: str) -> None:
            machine = compute.virtual_machines.get(group, name).as_dict()
            sizes = []
            for attached in machine["properties"]["storageProfile"].get("dataDisks") or []:
                disk = compute.disks.get(group, attached["managedDisk"]["id"].split("/")[-1])
                sizes.append(int(disk.as_dict()["properties"]["diskSizeBytes"]) // (1024**2))
            create_vm(ctx, "target", fresh[name], VmContents(disks_mib=tuple(sizes)))

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(make, names))
        return fresh

    def drop_targets(self, sandbox_dir: str, names: list[str]) -> None:
        """The VMs and every disk named after them (the ones swapped in and out)."""
        from atg_dataplane_sandbox.seed import context

        ctx = context(sandbox_dir)
        compute = ctx.mgmt(ComputeManagementClient, "target")
        group = ctx.resource_groups["target"]
        for name in names:
            compute.virtual_machines.begin_delete(group, name).result()
        for disk in compute.disks.list_by_resource_group(group):
            if any(str(disk.name).startswith(f"{name}-") for name in names):
                # a copy that failed under faults may leave an upload without its
                # footer, whose access cannot be ended: it is deleted all the same
                with contextlib.suppress(HttpResponseError):
                    compute.disks.begin_revoke_access(group, str(disk.name)).result()
                compute.disks.begin_delete(group, str(disk.name)).result()


ADAPTER = ComputeAdapter()
