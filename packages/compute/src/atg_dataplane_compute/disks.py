"""A VM's managed data disks, copied server-side and incrementally (replication mode).

For the disk at each LUN:

1. An incremental snapshot of the source disk (the source VM keeps running).
2. If the target's disk at that LUN was made by this tool from an older snapshot of the
   same source disk (its ``atg-dataplane-from`` tag), only the ranges that changed since
   that snapshot come from the source (Get Page Ranges Diff); the rest is copied inside
   the target from a snapshot of its current disk. Otherwise (or with
   ``compute.full_copy``) every written range comes from the source.
3. A new target disk made for upload (the size plus the 512-byte VHD footer, which is
   copied with the rest) is filled range by range with Put Page From URL (no byte passes
   through this process), under grants revoked as soon as the copy ends, whether it
   succeeds, fails or is stopped.
4. The new disk replaces the old one at the LUN in one ``attachDetachDataDisks`` operation
   (data disks are swapped on a running VM; Azure refuses another disk id at a LUN in a
   VM update). The disk it replaces is deleted when this tool made it, else left
   detached, with a warning (Terraform made it).

A stopped copy resumes where it stopped (the item's checkpoint holds names and counts,
never a SAS): the partly filled disk is finalised by the revoke, and the next attempt
copies its finished chunks inside the target and only the rest from the source. A copy
stopped after the swap resumes at its clean-up.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import time
from collections.abc import Iterator, Mapping
from typing import Any

from atg_dataplane import (
    Checkpoint,
    DataPlaneItem,
    Fingerprinter,
    ItemError,
    ItemOutcome,
    ResourceBinding,
    idempotent,
)
from atg_dataplane.retry import RunStopping, is_settling, is_transient
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from atg_dataplane_compute import volumes
from atg_dataplane_compute.volumes import LOST, TRIES, Grants, chunks, minus

log = logging.getLogger(__name__)

OF_TAG = "atg-dataplane-of"
"""On a snapshot this tool keeps as the next copy's base: the (lower-case) id of its disk."""
FROM_TAG = "atg-dataplane-from"
"""On a target disk this tool made: the (lower-case) id of the source snapshot it holds."""
VERIFY_TAG = "atg-dataplane-verify"
"""On a snapshot made to read a disk for verify (deleted at once; never a base)."""
FOOTER = 512
"""A managed disk's blob ends with a VHD footer: an upload is the size plus these bytes."""
KEPT = (
    "encryption",
    "networkAccessPolicy",
    "diskAccessId",
    "publicNetworkAccess",
    "dataAccessAuthMode",
    "tier",
    "burstingEnabled",
    "maxShares",
)
"""Properties of the disk being replaced that the new one keeps (its keys, its network)."""


def _stamp() -> str:
    """Unique in the names this tool gives (two runs can share a second)."""
    return time.strftime("%Y%m%d%H%M%S") + secrets.token_hex(2)


def _stem(vm_name: str, lun: int) -> str:
    """The fixed start of the names this tool gives a LUN's snapshots and disks: they never
    grow from run to run (Azure's limit is 80 characters)."""
    return f"{vm_name[:40]}-lun{lun}"


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
    return {int(d["lun"]): d for d in listed or []}


def _disk(binding: ResourceBinding, disk_id: str) -> dict[str, Any]:
    group, name = _parts(disk_id)
    return dict(volumes.client(binding).disks.get(group, name).as_dict())


def _managed(machine: dict[str, Any], lun: int, side: str) -> str:
    attached = data_disks(machine).get(lun)
    if attached is None:
        raise ItemError(
            f"the {side} VM has no data disk at LUN {lun}",
            remedy="create it (Terraform: the same size) and re-run"
            if side == "target"
            else "the disk was removed from the source since discovery: re-run",
        )
    return str((attached.get("managedDisk") or {}).get("id") or "")


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
        disk_id = str((attached.get("managedDisk") or {}).get("id") or "")
        if not disk_id:
            yield DataPlaneItem(
                name=f"lun-{lun}",
                kind="data_disk",
                source_resource_id=binding.resource.id,
                properties={"lun": lun},
                copyable=False,
                not_copyable_reason="an unmanaged (VHD in a storage account) disk: convert "
                "the VM to managed disks (az vm convert), or copy the VHD blob with "
                "atg-dataplane-storage",
            )
            continue
        disk = _disk(binding, disk_id)
        size = int((disk.get("properties") or {}).get("diskSizeBytes") or 0)
        yield DataPlaneItem(
            name=f"lun-{lun}",
            kind="data_disk",
            source_resource_id=binding.resource.id,
            properties={"lun": lun, "size": size, "caching": attached.get("caching") or ""},
            size_bytes=size,
        )


def _snapshot(
    binding: ResourceBinding, group: str, name: str, disk: dict[str, Any], tag: str
) -> str:
    """An incremental snapshot of ``disk`` tagged ``tag`` (made unless it exists); its id."""
    snapshots = volumes.client(binding).snapshots
    try:
        return str(snapshots.get(group, name).id)
    except ResourceNotFoundError:
        pass
    body = {
        "location": disk["location"],
        "tags": {tag: str(disk["id"]).lower()},
        "properties": {
            "creationData": {"createOption": "Copy", "sourceResourceId": disk["id"]},
            "incremental": True,
        },
    }
    with idempotent():  # by name: a second time finds the first
        made = snapshots.begin_create_or_update(group, name, body, polling_interval=0.5).result()
    return str(made.id)


def _bases(binding: ResourceBinding, group: str, disk_id: str) -> list[str]:
    """Names of the snapshots this tool keeps of the disk as a copy's base.

    The group's snapshots are listed once per run, not once per disk: each disk's listing
    grew with the group (200 listings of up to 200 snapshots at the benchmark's 100x).
    A listing from earlier in the run is enough: only this disk's item makes or deletes
    the snapshots kept of this disk, and the one it makes in this run is left out by name.
    An item tried again reads afresh: its failed attempt may have left a snapshot.
    """
    subscription = binding.resource.subscription_id

    def listing() -> list[tuple[str, str]]:
        found = volumes.client(binding).snapshots.list_by_resource_group(group)
        return [(str(s.name), str((s.tags or {}).get(OF_TAG) or "")) for s in found]

    key = f"compute.snapshots:{subscription}:{group.lower()}"
    listed: list[tuple[str, str]] = (
        listing() if is_settling() else binding.context.run_cached(key, listing)
    )
    return [name for name, of in listed if of == disk_id.lower()]


def replicate(
    item: DataPlaneItem,
    source: ResourceBinding,
    target: ResourceBinding,
    checkpoint: Checkpoint,
    options: Mapping[str, Any],
) -> ItemOutcome:
    state = json.loads(checkpoint.get() or "{}")
    if state.get("swapped"):  # stopped after the swap: only the clean-up was left
        return _finish(source, target, state)
    lun = int(item.properties["lun"])
    src = _disk(source, _managed(vm(source), lun, "source"))
    old = _disk(target, _managed(vm(target), lun, "target"))
    stamp = state.get("stamp") or _stamp()
    src_group, _ = _parts(src["id"])
    tgt_group, tgt_name = _parts(old["id"])
    src_stem, tgt_stem = _stem(source.resource.name, lun), _stem(target.resource.name, lun)
    snap_name = f"{src_stem}-atg-{stamp}"
    base_id = str((old.get("tags") or {}).get(FROM_TAG) or "")
    earlier = [n for n in _bases(source, src_group, src["id"]) if n != snap_name]
    base = next((n for n in earlier if base_id.endswith("/" + n.lower())), None)
    if options.get("compute.full_copy"):
        base = None
    snap_id = _snapshot(source, src_group, snap_name, src, OF_TAG)
    state.update(stamp=stamp)
    checkpoint.save(json.dumps(state))
    copied = 0
    current = f"{tgt_stem}-atg-{stamp}-t"
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
            _snapshot(target, tgt_group, current, old, VERIFY_TAG)
            origins["target"] = here.sas("snapshots", tgt_group, current)
            kept = minus(volumes.written(origins["target"], target), new + cleared)
            plan = [("target", c) for c in chunks(kept)] + [("source", c) for c in chunks(new)]
        else:
            plan = [("source", c) for c in chunks(volumes.written(fresh, source))]
        # the VHD footer first: a disk stopped part way is then finalised by the revoke (an
        # upload without its footer is refused) and its chunks can be read back
        size = int(src["properties"]["diskSizeBytes"])
        plan = [p for p in plan if p[1][0] >= size] + [p for p in plan if p[1][0] < size]
        done = int(state.get("done") or 0)
        partials = list(state.get("partials") or [])
        if state.get("upload"):  # a stopped attempt's disk: finalised, its chunks reused
            partials.append(state["upload"])
            if not _finalise(target, tgt_group, state["upload"]):
                done = 0  # it cannot be read: every chunk comes from the source again
            if done:
                origins["partial"] = here.sas("disks", tgt_group, state["upload"])
                plan = [("partial", chunk) for _, chunk in plan[:done]] + plan[done:]
        attempt = int(state.get("attempt") or 0)
        upload = f"{tgt_stem}-atg-{stamp}-{attempt}"
        state.update(upload=upload, attempt=attempt + 1, done=0, partials=partials)
        checkpoint.save(json.dumps(state))
        made = _upload_disk(target, tgt_group, upload, old, src, snap_id)
        destination = volumes.blob(here.sas("disks", tgt_group, upload, "Write"), target)
        for index, (origin, (offset, length)) in enumerate(plan):
            if target.context.stop.is_set():  # Ctrl-C: the grants close on the way out
                raise RunStopping("the run is stopping")
            with idempotent():  # the same pages at the same offset
                destination.upload_pages_from_url(
                    origins[origin], offset=offset, length=length, source_offset=offset
                )
            copied += length if origin == "source" else 0
            checkpoint.save(json.dumps({**state, "done": index + 1}))
    # every grant is revoked: the new disk is final; it takes the LUN in one operation
    _swap(target, lun, old, made)
    mine = bool((old.get("tags") or {}).get(FROM_TAG))
    state.update(
        swapped=True,
        copied=copied,
        cleanup=[
            ["target", "disks", tgt_group, name] for name in partials
        ] + [["target", "snapshots", tgt_group, current]]
        + [["source", "snapshots", src_group, name] for name in earlier]
        + ([["target", "disks", tgt_group, tgt_name]] if mine else []),
        kept_original="" if mine else tgt_name,
    )
    checkpoint.save(json.dumps(state))
    return _finish(source, target, state)


def _finish(
    source: ResourceBinding, target: ResourceBinding, state: dict[str, Any]
) -> ItemOutcome:
    """What is left after the swap: delete what this copy no longer needs (what is already
    gone is fine)."""
    sides = {"source": source, "target": target}
    for side, kind, group, name in state.get("cleanup") or []:
        operations = getattr(volumes.client(sides[side]), kind)
        with contextlib.suppress(ResourceNotFoundError), idempotent():
            operations.begin_delete(group, name, polling_interval=0.5).result()
    warnings = ()
    if state.get("kept_original"):
        warnings = (
            f"the target's original disk {state['kept_original']} is detached, not deleted "
            "(Terraform made it): delete it (and `terraform state rm` it), as the data disk "
            "is now this tool's to replace",
        )
    return ItemOutcome(
        status="replicated",
        bytes_copied=int(state.get("copied") or 0),
        client_bytes=0,
        warnings=warnings,
    )


def _finalise(target: ResourceBinding, group: str, name: str) -> bool:
    """End any access a killed run left open on its upload disk (which finalises it);
    whether its chunks can be read back. An upload whose footer never landed (the footer
    is copied first, but its write may be what failed) cannot be finalised: the disk is
    left to the clean-up and its chunks come from the source again."""
    disks = volumes.client(target).disks
    try:
        found = disks.get(group, name).as_dict().get("properties", {}).get("diskState")
    except ResourceNotFoundError:
        return False
    if found in ("ActiveUpload", "ActiveSAS"):
        try:
            with idempotent():
                disks.begin_revoke_access(group, name, polling_interval=0.5).result()
        except HttpResponseError as exc:
            if is_transient(exc):
                raise
            log.warning("the partly filled disk %s cannot be finalised (%s): copying its "
                        "chunks again", name, exc.status_code)
            return False
    return True


def _upload_disk(
    target: ResourceBinding,
    group: str,
    name: str,
    old: dict[str, Any],
    src: dict[str, Any],
    snapshot_id: str,
) -> dict[str, Any]:
    """A disk made for upload, the source's size and the footer, with what the disk it
    replaces had of its own (zones, encryption, network access, tier)."""
    size = int(src["properties"]["diskSizeBytes"]) + FOOTER
    kept = {k: v for k, v in (old.get("properties") or {}).items() if k in KEPT}
    body: dict[str, Any] = {
        "location": old["location"],
        "sku": old.get("sku") or {"name": "Standard_LRS"},
        "tags": {**(old.get("tags") or {}), FROM_TAG: snapshot_id.lower()},
        "properties": {
            **kept,
            "creationData": {"createOption": "Upload", "uploadSizeBytes": size},
        },
    }
    if old.get("zones"):
        body["zones"] = old["zones"]
    disks = volumes.client(target).disks
    with idempotent():  # by name: a second time finds the first, still ReadyToUpload
        made = disks.begin_create_or_update(group, name, body, polling_interval=0.5).result()
    return dict(made.as_dict())


def _swap(target: ResourceBinding, lun: int, old: dict[str, Any], new: dict[str, Any]) -> None:
    """``new`` replaces ``old`` at ``lun`` in one operation (under the VM's lock: the VM's
    other LUNs and its extensions are written by other items at the same time).

    A swap whose answer was lost is settled by reading the VM, not sent again blindly:
    once it has landed, Azure refuses it a second time (``old`` is no longer attached)."""
    caching = data_disks(vm(target))[lun].get("caching") or "None"
    body = {
        "dataDisksToDetach": [{"diskId": old["id"]}],
        "dataDisksToAttach": [{"diskId": new["id"], "lun": lun, "caching": caching}],
    }
    machines = volumes.client(target).virtual_machines
    group, name = target.resource.resource_group, target.resource.name
    with volumes.vm_lock(target):
        tries = 1
        while True:
            try:
                machines.begin_attach_detach_data_disks(
                    group, name, body, polling_interval=0.5
                ).result()
                return
            except LOST:
                at = _managed(_settled(target), lun, "target").lower()
                if at == str(new["id"]).lower():
                    return  # it landed
                if at != str(old["id"]).lower() or tries == TRIES:
                    raise
                log.info("the answer to the swap at LUN %s was lost, and it did not land: "
                         "sending it again", lun)
                tries += 1


def _settled(target: ResourceBinding, seconds: float = 600) -> dict[str, Any]:
    """The target VM once no operation runs on it (Azure shows an accepted swap at once,
    and finishes it while the VM is ``Updating``)."""
    deadline = time.monotonic() + seconds
    while True:
        machine = vm(target)
        state = (machine.get("properties") or {}).get("provisioningState")
        if state != "Updating" or time.monotonic() > deadline:
            return machine
        target.context.pause(2)


def _delete_snapshot(binding: ResourceBinding, group: str, name: str) -> None:
    with idempotent():
        snapshots = volumes.client(binding).snapshots
        snapshots.begin_delete(group, name, polling_interval=0.5).result()


def fingerprint(
    item: DataPlaneItem, resource: ResourceBinding, fingerprinter: Fingerprinter
) -> str:
    """Size and a keyed hash over the disk's non-zero pages, read through a snapshot that
    is deleted afterwards (verify reads every written range of both sides)."""
    lun = int(item.properties["lun"])
    disk = _disk(resource, _managed(vm(resource), lun, resource.side))
    group, _ = _parts(disk["id"])
    snap = f"{_stem(resource.resource.name, lun)}-atgv-{_stamp()}"
    _snapshot(resource, group, snap, disk, VERIFY_TAG)
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
