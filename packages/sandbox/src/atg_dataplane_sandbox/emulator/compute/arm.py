"""Microsoft.Compute: virtual machines (with their ``extensions``), managed disks and
snapshots; shapes per the 2024-03-02 / 2025-04-01 specifications
(``specification/compute/resource-manager``).

* A disk is ``Empty`` (``diskSizeGB``), ``Upload`` (``uploadSizeBytes``: ``ReadyToUpload``
  until written through a ``Write`` grant and revoked) or a ``Copy`` of a disk or
  snapshot. A snapshot is a ``Copy`` of a disk, ``incremental`` or not (its bytes are a
  copy either way; the difference between two snapshots of one disk is what
  ``pages.py`` computes).
* ``beginGetAccess`` (long-running; its ``Location`` answers ``{"accessSAS"}``) opens the
  volume on the disk data endpoint (``data.py``) for ``durationInSeconds``, ``Read`` or
  (for a disk made for upload) ``Write``; ``endGetAccess`` closes it. A disk attached to a
  VM cannot be opened (Azure: snapshot it, or deallocate the VM).
* A VM's ``storageProfile.dataDisks`` attach managed disks (``createOption: Attach``) at a
  LUN; dropping one detaches it; another disk at a LUN is refused as Azure refuses it
  (``attachDetachDataDisks`` swaps disks in one operation).
* A disk's blob ends with a 512-byte VHD footer: ``uploadSizeBytes`` is the size plus 512,
  at least 20 MiB and 512; an upload is final only with its footer written.
* ``deallocate`` and ``start`` set a VM's power state, which ``instanceView`` reports.
* Extensions are declared for the ARM tree: ``protectedSettings`` are stored and never
  shown, as Azure never returns them.
"""

from __future__ import annotations

import secrets
import time
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web

from atg_dataplane_sandbox.emulator.common.arm import ArmContext, now_iso, read_json_body
from atg_dataplane_sandbox.emulator.common.errors import AzureError, json_response
from atg_dataplane_sandbox.emulator.common.providers import ChildType, Provider, declare, register
from atg_dataplane_sandbox.emulator.compute.pages import Volume
from atg_dataplane_sandbox.vhd import COOKIE, FOOTER, footer

NAMESPACE = "Microsoft.Compute"
VM_TYPE = f"{NAMESPACE}/virtualMachines"
VOLUMES = "disk_volumes"
"""Store section: volume key (the disk's or snapshot's ``uniqueId``) -> ``{resource_id,
size, ranges, grant, source}``."""
GIB = 1024**3
MIN_UPLOAD = 20 * 1024**2 + FOOTER
"""The smallest ``uploadSizeBytes`` Azure takes (20 MiB and the VHD footer)."""


def volume_dir(emu: Any) -> Path:
    return Path(emu.directory) / "emulator-state" / "disks"


def volume(emu: Any, key: str) -> Volume:
    record = emu.store.section(VOLUMES)[key]
    return Volume(volume_dir(emu) / f"{key}.img", int(record["size"]), record["ranges"])


def save(emu: Any, key: str, found: Volume) -> None:
    emu.store.section(VOLUMES)[key]["ranges"] = found.stored()
    emu.store.touch()


def _new_volume(ctx: ArmContext, resource: dict[str, Any], size: int, source: str = "") -> str:
    key = str(uuid.uuid4())
    ctx.section(VOLUMES)[key] = {
        "resource_id": resource["id"],
        "size": size,
        "ranges": [],
        "grant": None,
        "source": source,
    }
    ctx.touch()
    return key


def _copy_from(ctx: ArmContext, source_id: str, resource: dict[str, Any]) -> tuple[str, int]:
    """A new volume holding the written ranges of the disk or snapshot ``source_id``."""
    source = ctx.section("resources").get(source_id.lower())
    if source is None or source["type"].lower() not in (
        f"{NAMESPACE}/disks".lower(),
        f"{NAMESPACE}/snapshots".lower(),
    ):
        raise AzureError(404, "NotFound", f"The source '{source_id}' was not found.")
    old_key = source["properties"]["uniqueId"]
    size = int(ctx.section(VOLUMES)[old_key]["size"])
    lineage = ctx.section(VOLUMES)[old_key].get("source") or source["id"]
    key = _new_volume(ctx, resource, size, lineage)
    copied = volume(ctx.emu, old_key).copy_to(volume_dir(ctx.emu) / f"{key}.img")
    save(ctx.emu, key, copied)
    return key, size - FOOTER


class _Volumes(Provider):
    """What disks and snapshots share: sizes, copies, access grants."""

    namespace = NAMESPACE
    created_status = 200
    lro_actions = frozenset({"begingetaccess", "endgetaccess"})

    def __init__(self) -> None:
        self.actions = {"begingetaccess": self._grant, "endgetaccess": self._revoke}

    def _create(self, ctx: ArmContext, resource: dict[str, Any]) -> tuple[str, int]:
        raise NotImplementedError

    async def on_put(
        self, ctx: ArmContext, resource: dict[str, Any], existing: dict[str, Any] | None
    ) -> dict[str, Any]:
        props = resource["properties"]
        if existing is not None:  # an update: the bytes stay
            kept = existing["properties"]
            for field in ("uniqueId", "diskSizeBytes", "creationData", "timeCreated",
                          "diskState", "diskSizeGB"):
                if field in kept:
                    props[field] = kept[field]
            resource["managedBy"] = existing.get("managedBy")
        else:
            key, size = self._create(ctx, resource)
            props["uniqueId"] = key
            props["diskSizeBytes"] = size
            props["diskSizeGB"] = max(1, size // GIB)
            props["timeCreated"] = now_iso()
        props["provisioningState"] = "Succeeded"
        resource.setdefault("sku", {"name": "Standard_LRS"})
        return resource

    async def on_delete(self, ctx: ArmContext, resource: dict[str, Any]) -> None:
        if resource.get("managedBy"):
            raise AzureError(
                409,
                "OperationNotAllowed",
                f"Disk {resource['name']} is attached to VM {resource['managedBy']}.",
            )
        key = resource["properties"]["uniqueId"]
        volume(ctx.emu, key).delete()
        ctx.section(VOLUMES).pop(key, None)

    async def _grant(self, ctx: ArmContext, resource: dict[str, Any]) -> dict[str, Any]:
        body = read_json_body(ctx.body)
        access = str(body.get("access") or "")
        seconds = int(body.get("durationInSeconds") or 0)
        if access not in ("Read", "Write") or seconds <= 0:
            raise AzureError(
                400, "InvalidParameter", "access must be Read or Write and durationInSeconds > 0."
            )
        props = resource["properties"]
        state = props.get("diskState")
        if resource.get("managedBy"):
            raise AzureError(
                409,
                "OperationNotAllowed",
                f"Disk '{resource['name']}' is attached to VM '{resource['managedBy']}': "
                "snapshot it and grant access to the snapshot, or detach it.",
            )
        if access == "Write" and state != "ReadyToUpload":
            raise AzureError(
                409, "OperationNotAllowed", "Write access is granted only to a disk made for "
                "upload (createOption Upload) that is ReadyToUpload."
            )
        grant = {
            "token": secrets.token_urlsafe(32),
            "access": access,
            "expires": time.time() + seconds,
        }
        key = props["uniqueId"]
        ctx.section(VOLUMES)[key]["grant"] = grant
        props["diskState"] = "ActiveUpload" if access == "Write" else "ActiveSAS"
        ctx.touch()
        url = f"{ctx.emu.urls['disks']}/md/{key}/abcd?sv=2018-03-28&sr=b&si={uuid.uuid4()}"
        return {"accessSAS": f"{url}&sig={grant['token']}"}

    async def _revoke(self, ctx: ArmContext, resource: dict[str, Any]) -> None:
        props = resource["properties"]
        key = props["uniqueId"]
        if props.get("diskState") == "ActiveUpload":
            made = volume(ctx.emu, key)
            if not made.read(made.size - FOOTER, made.size - 1).startswith(COOKIE):
                raise AzureError(
                    400,
                    "InvalidVhd",
                    "The upload ends without a VHD footer: write the disk's last 512 bytes.",
                )
        ctx.section(VOLUMES)[key]["grant"] = None
        if props.get("diskState") in ("ActiveSAS", "ActiveUpload"):
            props["diskState"] = "Attached" if resource.get("managedBy") else "Unattached"
        ctx.touch()


class Disks(_Volumes):
    resource_type = "disks"

    def _create(self, ctx: ArmContext, resource: dict[str, Any]) -> tuple[str, int]:
        props = resource["properties"]
        data = props.get("creationData") or {}
        option = data.get("createOption")
        if option == "Empty":
            if not props.get("diskSizeGB"):
                raise AzureError(400, "InvalidParameter", "diskSizeGB is required for Empty.")
            size = int(props["diskSizeGB"]) * GIB
            props["diskState"] = "Unattached"
            key = _new_volume(ctx, resource, size + FOOTER)
            made = volume(ctx.emu, key)
            made.write(size, footer(size))
            save(ctx.emu, key, made)
            return key, size
        if option == "Upload":
            size = int(data.get("uploadSizeBytes") or 0)
            if size < MIN_UPLOAD or (size - FOOTER) % (1024**2):
                raise AzureError(
                    400,
                    "InvalidParameter",
                    f"uploadSizeBytes must be the disk's size in whole MiB plus {FOOTER} for "
                    f"the VHD footer, at least {MIN_UPLOAD}.",
                )
            props["diskState"] = "ReadyToUpload"
            return _new_volume(ctx, resource, size), size - FOOTER
        if option == "Copy":
            props["diskState"] = "Unattached"
            return _copy_from(ctx, str(data.get("sourceResourceId") or ""), resource)
        raise AzureError(
            400, "InvalidParameter", f"createOption '{option}' is not emulated: use Empty, "
            "Upload or Copy."
        )


class Snapshots(_Volumes):
    resource_type = "snapshots"

    def _create(self, ctx: ArmContext, resource: dict[str, Any]) -> tuple[str, int]:
        data = resource["properties"].get("creationData") or {}
        if data.get("createOption") != "Copy":
            raise AzureError(400, "InvalidParameter", "A snapshot is a Copy of a disk.")
        resource["properties"].setdefault("incremental", False)
        resource["properties"]["diskState"] = "Unattached"
        return _copy_from(ctx, str(data.get("sourceResourceId") or ""), resource)


class VirtualMachines(Provider):
    namespace = NAMESPACE
    resource_type = "virtualMachines"
    lro_put = True
    lro_actions = frozenset({"deallocate", "start", "attachdetachdatadisks"})

    def __init__(self) -> None:
        self.actions = {
            "deallocate": self._deallocate,
            "start": self._start,
            "attachdetachdatadisks": self._attach_detach,
        }

    async def on_put(
        self, ctx: ArmContext, resource: dict[str, Any], existing: dict[str, Any] | None
    ) -> dict[str, Any]:
        props = resource["properties"]
        profile = props.setdefault("storageProfile", {})
        wanted = profile.get("dataDisks") or []
        luns = [int(d.get("lun", -1)) for d in wanted]
        if len(set(luns)) != len(luns) or min(luns, default=0) < 0:
            raise AzureError(400, "InvalidParameter", "Each data disk needs its own LUN.")
        disks = ctx.section("resources")
        attached = {}
        before = {
            int(d["lun"]): d
            for d in ((existing or {}).get("properties", {}).get("storageProfile", {})
                      .get("dataDisks") or [])
        }
        for disk in wanted:
            disk_id = str((disk.get("managedDisk") or {}).get("id") or "")
            old = before.get(int(disk["lun"]))
            old_id = str(((old or {}).get("managedDisk") or {}).get("id") or "")
            if old is not None and old_id.lower() != disk_id.lower():
                raise AzureError(
                    409,
                    "PropertyChangeNotAllowed",
                    "Changing property 'dataDisk.managedDisk.id' is not allowed: detach the "
                    "disk at this LUN and attach the other one.",
                )
            found = disks.get(disk_id.lower())
            if found is None:
                raise AzureError(404, "NotFound", f"The disk '{disk_id}' was not found.")
            owner = found.get("managedBy")
            if owner and owner.lower() != resource["id"].lower():
                raise AzureError(
                    409, "OperationNotAllowed", f"Disk '{found['name']}' is attached to {owner}."
                )
            if found["properties"].get("diskState") in ("ReadyToUpload", "ActiveUpload",
                                                         "ActiveSAS"):
                raise AzureError(
                    409, "OperationNotAllowed",
                    f"Disk '{found['name']}' is {found['properties']['diskState']}: end its "
                    "access (and upload) first.",
                )
            attached[disk_id.lower()] = found
            disk.setdefault("createOption", "Attach")
            disk["managedDisk"] = {**disk.get("managedDisk", {}), "id": found["id"]}
            disk["diskSizeGB"] = found["properties"].get("diskSizeGB")
            disk["name"] = found["name"]
        for old in (existing or {}).get("properties", {}).get("storageProfile", {}).get(
            "dataDisks"
        ) or []:
            old_id = str((old.get("managedDisk") or {}).get("id") or "").lower()
            gone = disks.get(old_id)
            if gone is not None and old_id not in attached:
                gone["managedBy"] = None
                gone["properties"]["diskState"] = "Unattached"
        for found in attached.values():
            found["managedBy"] = resource["id"]
            found["properties"]["diskState"] = "Attached"
        props["vmId"] = (existing or {}).get("properties", {}).get("vmId") or str(uuid.uuid4())
        props["provisioningState"] = "Succeeded"
        props["powerState"] = (existing or {}).get("properties", {}).get("powerState", "running")
        ctx.touch()
        return resource

    def present(self, ctx: ArmContext, resource: dict[str, Any]) -> dict[str, Any]:
        shown = {**resource, "properties": dict(resource["properties"])}
        shown["properties"].pop("powerState", None)  # Azure shows it in the instance view
        return shown

    async def on_delete(self, ctx: ArmContext, resource: dict[str, Any]) -> None:
        for disk in resource["properties"].get("storageProfile", {}).get("dataDisks") or []:
            found = ctx.section("resources").get(str(disk["managedDisk"]["id"]).lower())
            if found is not None:
                found["managedBy"] = None
                found["properties"]["diskState"] = "Unattached"

    async def _attach_detach(
        self, ctx: ArmContext, resource: dict[str, Any]
    ) -> dict[str, Any]:
        """Detach, then attach, data disks in one operation (a disk swapped at a LUN)."""
        body = read_json_body(ctx.body)
        gone = {str(d.get("diskId") or "").lower() for d in body.get("dataDisksToDetach") or []}
        profile = resource["properties"]["storageProfile"]
        kept = [
            d
            for d in profile.get("dataDisks") or []
            if str(d["managedDisk"]["id"]).lower() not in gone
        ]
        attached = [
            {
                "lun": int(disk["lun"]),
                "createOption": "Attach",
                "caching": disk.get("caching") or "None",
                "managedDisk": {"id": disk["diskId"]},
            }
            for disk in body.get("dataDisksToAttach") or []
        ]

        def with_disks(disks: list[dict[str, Any]]) -> dict[str, Any]:
            props = {**resource["properties"], "storageProfile": {**profile, "dataDisks": disks}}
            return {**resource, "properties": props}

        detached = await self.on_put(ctx, with_disks(kept), resource)
        done = await self.on_put(ctx, with_disks(kept + attached), detached)
        resource["properties"] = done["properties"]
        ctx.touch()
        return dict(done["properties"]["storageProfile"])

    async def _deallocate(self, ctx: ArmContext, resource: dict[str, Any]) -> None:
        resource["properties"]["powerState"] = "deallocated"
        ctx.touch()

    async def _start(self, ctx: ArmContext, resource: dict[str, Any]) -> None:
        resource["properties"]["powerState"] = "running"
        ctx.touch()

    async def child(
        self, ctx: ArmContext, resource: dict[str, Any], rest: list[str]
    ) -> web.StreamResponse | None:
        if [r.lower() for r in rest] != ["instanceview"] or ctx.request.method != "GET":
            return None
        ctx.require(f"{VM_TYPE}/instanceView/read", resource["id"])
        power = resource["properties"].get("powerState", "running")
        return json_response(
            {
                "statuses": [
                    {"code": "ProvisioningState/succeeded", "level": "Info"},
                    {"code": f"PowerState/{power}", "level": "Info"},
                ]
            }
        )


def _extension(
    ctx: ArmContext, vm: dict[str, Any], found: dict[str, Any] | None, props: dict[str, Any]
) -> dict[str, Any]:
    absent = [f for f in ("publisher", "type", "typeHandlerVersion") if not props.get(f)]
    if absent:
        raise AzureError(400, "InvalidParameter", f"{', '.join(absent)} required.")
    props.setdefault("autoUpgradeMinorVersion", False)
    props.setdefault("settings", {})
    props["provisioningState"] = "Succeeded"
    return props


register(Disks())
register(Snapshots())
register(VirtualMachines())
EXTENSIONS = declare(
    ChildType(
        parent=VM_TYPE,
        name="extensions",
        secrets=("protectedSettings",),
        lro="async",
        lro_status=201,
        shape=_extension,
    )
)
