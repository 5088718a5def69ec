"""A VM's managed data disks, copied server-side and incrementally (replication mode).

For the disk at each LUN:

1. An incremental snapshot of the source disk (the source VM keeps running).
2. If the target's disk at that LUN was made by this tool from an older snapshot of the
   same source disk (its ``atg-dataplane-from`` tag), only the ranges that changed since
   that snapshot come from the source (Get Page Ranges Diff); the rest is copied inside
   the target from a snapshot of its current disk. Otherwise every written range comes
   from the source.
3. A new target disk made for upload is filled range by range with Put Page From URL (no
   byte passes through this process), under grants revoked as soon as the copy ends,
   whether it succeeds, fails or is stopped.
4. The new disk takes the LUN in one update of the target VM (data disks are swapped on a
   running VM; it is never without a disk). The disk it replaces is deleted when this tool
   made it, else left detached, with a warning (Terraform made it: import the new one).

A stopped copy resumes where it stopped (the item's checkpoint holds the snapshot, the new
disk's name and the chunks done: names and counts, never a SAS): the partly filled disk is
finalised by the revoke, and the next attempt copies its finished chunks inside the target
and only the rest from the source.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any

from atg_dataplane import (
    Checkpoint,
    DataPlaneItem,
    Fingerprinter,
    ItemError,
    ItemOutcome,
    ResourceBinding,
)
from atg_dataplane.retry import RunStopping
from azure.core.exceptions import ResourceNotFoundError

from atg_dataplane_compute import volumes
from atg_dataplane_compute.volumes import Grants, chunks, minus

OF_TAG = "atg-dataplane-of"
"""On a snapshot this tool made: the (lower-case) id of the disk it is a snapshot of."""
FROM_TAG = "atg-dataplane-from"
"""On a target disk this tool made: the (lower-case) id of the source snapshot it holds."""
SAVE_EVERY = 1
"""Chunks between checkpoints: every one (a journal write is cheap beside a 4 MiB copy)."""


def _stamp() -> str:
    """Unique in the names this tool gives snapshots and disks (two runs can share a
    second)."""
    return time.strftime("%Y%m%d%H%M%S") + secrets.token_hex(2)


def _parts(resource_id: str) -> tuple[str, str]:
    parts = resource_id.split("/")
    return parts[4], parts[-1]


def vm(binding: ResourceBinding) -> dict[str, Any]:
    found = volumes.client(binding).virtual_machines.get(
        binding.resource.resource_group, binding.resource.name
    )
    return dict(found.as_dict())


def data_disks(machine: dict[str, Any]) -> dict[int, dict[str, Any]]:
    listed = ((machine.get("properties") or {}).get("storageProfile") or {}).get("dataDisks")
    return {int(d["lun"]): d for d in listed or [] if (d.get("managedDisk") or {}).get("id")}


def _disk(binding: ResourceBinding, disk_id: str) -> dict[str, Any]:
    group, name = _parts(disk_id)
    return dict(volumes.client(binding).disks.get(group, name).as_dict())


def items(binding: ResourceBinding) -> Iterator[DataPlaneItem]:
    machine = vm(binding)
    os_disk = ((machine.get("properties") or {}).get("storageProfile") or {}).get("osDisk")
    if os_disk:
        yield DataPlaneItem(
            name="os-disk",
            kind="os_disk",
            source_resource_id=binding.resource.id,
            copyable=False,
            not_copyable_reason="OS disks are out of scope: the target VM boots from its own "
            "image (Terraform); copy data onto data disks",
        )
    for lun, attached in sorted(data_disks(machine).items()):
        disk = _disk(binding, attached["managedDisk"]["id"])
        size = int((disk.get("properties") or {}).get("diskSizeBytes") or 0)
        yield DataPlaneItem(
            name=f"lun-{lun}",
            kind="data_disk",
            source_resource_id=binding.resource.id,
            properties={"lun": lun, "size": size, "caching": attached.get("caching") or ""},
            size_bytes=size,
        )


def _snapshot(binding: ResourceBinding, group: str, name: str, disk: dict[str, Any]) -> str:
    """An incremental snapshot of ``disk`` (made unless it exists); its id."""
    snapshots = volumes.client(binding).snapshots
    try:
        return str(snapshots.get(group, name).id)
    except ResourceNotFoundError:
        pass
    body = {
        "location": disk["location"],
        "tags": {OF_TAG: str(disk["id"]).lower()},
        "properties": {
            "creationData": {"createOption": "Copy", "sourceResourceId": disk["id"]},
            "incremental": True,
        },
    }
    made = snapshots.begin_create_or_update(group, name, body, polling_interval=0.5).result()
    return str(made.id)


def _ours(binding: ResourceBinding, group: str, disk_id: str) -> list[str]:
    """Names of the snapshots this tool made of the disk."""
    listed = volumes.client(binding).snapshots.list_by_resource_group(group)
    return [
        str(s.name)
        for s in listed
        if (s.tags or {}).get(OF_TAG) == disk_id.lower()
    ]


def replicate(
    item: DataPlaneItem,
    source: ResourceBinding,
    target: ResourceBinding,
    checkpoint: Checkpoint,
) -> ItemOutcome:
    lun = int(item.properties["lun"])
    theirs = data_disks(vm(target)).get(lun)
    if theirs is None:
        raise ItemError(
            f"the target VM has no data disk at LUN {lun}",
            remedy="create it with Terraform (the same size) and re-run",
        )
    src = _disk(source, data_disks(vm(source))[lun]["managedDisk"]["id"])
    old = _disk(target, theirs["managedDisk"]["id"])
    state = json.loads(checkpoint.get() or "{}")
    stamp = state.get("stamp") or _stamp()
    src_group, src_name = _parts(src["id"])
    tgt_group, tgt_name = _parts(old["id"])
    snap_name = f"{src_name}-atg-{stamp}"
    base_id = str((old.get("tags") or {}).get(FROM_TAG) or "")
    earlier = [n for n in _ours(source, src_group, src["id"]) if n != snap_name]
    base = next((n for n in earlier if base_id.endswith("/" + n.lower())), None)
    snap_id = _snapshot(source, src_group, snap_name, src)
    state.update(stamp=stamp)
    checkpoint.save(json.dumps(state))
    warnings: list[str] = []
    copied = 0
    with Grants(source) as ours, Grants(target) as here:
        fresh = ours.sas("snapshots", src_group, snap_name)
        origins = {"source": fresh}
        if base is not None:
            new, cleared = volumes.changed(fresh, ours.sas("snapshots", src_group, base), source)
            ours.revoke(src_group, base)
            if not new and not cleared and not state.get("upload"):
                ours.revoke_all()
                _delete_snapshot(source, src_group, snap_name)
                return ItemOutcome(status="unchanged")
            current = f"{tgt_name}-atg-{stamp}"
            _snapshot(target, tgt_group, current, old)
            origins["target"] = here.sas("snapshots", tgt_group, current)
            kept = minus(volumes.written(origins["target"], target), new + cleared)
            plan = [("target", c) for c in chunks(kept)] + [("source", c) for c in chunks(new)]
        else:
            plan = [("source", c) for c in chunks(volumes.written(fresh, source))]
        done = int(state.get("done") or 0)
        partial = state.get("upload")
        if partial:  # a stopped attempt's disk: finalised, its chunks read inside the target
            _finalise(target, tgt_group, partial)
            if done:
                origins["partial"] = here.sas("disks", tgt_group, partial)
                plan = [("partial", chunk) for _, chunk in plan[:done]] + plan[done:]
            else:  # nothing in it to keep
                volumes.client(target).disks.begin_delete(tgt_group, partial).result()
                partial = None
        upload = f"{tgt_name}-atg-{stamp}-{int(state.get('attempt') or 0)}"
        made = _upload_disk(target, tgt_group, upload, old, src, snap_id)
        state.update(upload=upload, attempt=int(state.get("attempt") or 0) + 1, done=0)
        checkpoint.save(json.dumps(state))
        destination = volumes.blob(here.sas("disks", tgt_group, upload, "Write"), target)
        for index, (origin, (offset, length)) in enumerate(plan):
            if target.context.stop.is_set():  # Ctrl-C: the grants close on the way out
                raise RunStopping("the run is stopping")
            destination.upload_pages_from_url(
                origins[origin], offset=offset, length=length, source_offset=offset
            )
            copied += length if origin == "source" else 0
            if (index + 1) % SAVE_EVERY == 0:
                checkpoint.save(json.dumps({**state, "done": index + 1}))
    # every grant is revoked: the new disk is final; it takes the LUN in one VM update
    _swap(target, lun, made)
    if partial:
        volumes.client(target).disks.begin_delete(tgt_group, partial).result()
    if base is not None:
        _delete_snapshot(target, tgt_group, f"{tgt_name}-atg-{stamp}")
    for name in earlier:
        _delete_snapshot(source, src_group, name)
    if (old.get("tags") or {}).get(FROM_TAG):
        volumes.client(target).disks.begin_delete(tgt_group, tgt_name).result()
    else:
        warnings.append(
            f"lun-{lun}: the target's original disk {tgt_name} is detached, not deleted "
            "(Terraform made it): import the new disk or delete the old one"
        )
    return ItemOutcome(
        status="replicated",
        bytes_copied=copied,
        client_bytes=0,
        warnings=tuple(warnings),
    )


def _finalise(target: ResourceBinding, group: str, name: str) -> None:
    """End any access a killed run left open on its upload disk (which finalises it)."""
    disks = volumes.client(target).disks
    try:
        state = disks.get(group, name).as_dict().get("properties", {}).get("diskState")
    except ResourceNotFoundError:
        return
    if state in ("ActiveUpload", "ActiveSAS"):
        disks.begin_revoke_access(group, name, polling_interval=0.5).result()


def _upload_disk(
    target: ResourceBinding,
    group: str,
    name: str,
    old: dict[str, Any],
    src: dict[str, Any],
    snapshot_id: str,
) -> dict[str, Any]:
    size = int(src["properties"]["diskSizeBytes"])
    body = {
        "location": old["location"],
        "sku": old.get("sku") or {"name": "Standard_LRS"},
        "tags": {**(old.get("tags") or {}), FROM_TAG: snapshot_id.lower()},
        "properties": {"creationData": {"createOption": "Upload", "uploadSizeBytes": size}},
    }
    disks = volumes.client(target).disks
    made = disks.begin_create_or_update(group, name, body, polling_interval=0.5).result()
    return dict(made.as_dict())


def _swap(target: ResourceBinding, lun: int, disk: dict[str, Any]) -> None:
    """Put ``disk`` at ``lun`` (one VM update; the VM's disks at other LUNs, swapped by
    other items at the same time, are read afresh under the VM's lock)."""
    with target.cached("vm-update", threading.Lock):
        machine = vm(target)
        for attached in machine["properties"]["storageProfile"]["dataDisks"]:
            if int(attached["lun"]) == lun:
                attached["managedDisk"] = {"id": disk["id"]}
                attached["createOption"] = "Attach"
        volumes.client(target).virtual_machines.begin_create_or_update(
            target.resource.resource_group, target.resource.name, machine, polling_interval=0.5
        ).result()


def _delete_snapshot(binding: ResourceBinding, group: str, name: str) -> None:
    volumes.client(binding).snapshots.begin_delete(group, name, polling_interval=0.5).result()


def fingerprint(
    item: DataPlaneItem, resource: ResourceBinding, fingerprinter: Fingerprinter
) -> str:
    """Size and a keyed hash over the disk's non-zero pages, read through a snapshot that
    is deleted afterwards (verify reads every written range of both sides)."""
    lun = int(item.properties["lun"])
    disk = _disk(resource, data_disks(vm(resource))[lun]["managedDisk"]["id"])
    group, name = _parts(disk["id"])
    snap = f"{name}-atg-verify-{_stamp()}"
    _snapshot(resource, group, snap, disk)
    digest = fingerprinter.stream()
    digest.update(str(disk["properties"]["diskSizeBytes"]).encode())
    try:
        with Grants(resource) as grants:
            sas = grants.sas("snapshots", group, snap)
            reader = volumes.blob(sas, resource)
            for offset, length in chunks(volumes.written(sas, resource)):
                data = reader.download_blob(offset=offset, length=length).readall()
                for at in range(0, len(data), volumes.PAGE):
                    page = data[at : at + volumes.PAGE]
                    if page.count(0) != len(page):  # a zero page is no data
                        digest.update((offset + at).to_bytes(8, "big") + page)
    finally:
        _delete_snapshot(resource, group, snap)
    return digest.hexdigest()
