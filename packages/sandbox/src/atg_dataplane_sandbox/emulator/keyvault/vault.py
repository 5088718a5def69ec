"""One Key Vault request in context: the vault, its objects, attributes, ids and paging."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from cryptography.fernet import Fernet, InvalidToken

from atg_dataplane_sandbox.emulator.common.context import Emulator
from atg_dataplane_sandbox.emulator.common.errors import AzureError, json_response
from atg_dataplane_sandbox.emulator.common.tokens import Claims
from atg_dataplane_sandbox.emulator.keyvault import access

_NAME = re.compile(r"[0-9A-Za-z-]{1,127}")
SINGULAR = {"secrets": "Secret", "keys": "Key", "certificates": "Certificate"}
DELETED_PATH = {
    "secrets": "deletedsecrets",
    "keys": "deletedkeys",
    "certificates": "deletedcertificates",
}


def now() -> int:
    return int(time.time())


def new_version() -> str:
    return uuid.uuid4().hex


@dataclass
class VaultContext:
    request: web.Request
    emu: Emulator
    name: str
    data: dict[str, Any]
    resource: dict[str, Any]
    claims: Claims
    url: str
    body: Any = None

    # -- vault properties ----------------------------------------------------------------
    @property
    def props(self) -> dict[str, Any]:
        return self.resource["properties"]

    @property
    def soft_delete(self) -> bool:
        return bool(self.props.get("enableSoftDelete", True))

    @property
    def purge_protection(self) -> bool:
        return bool(self.props.get("enablePurgeProtection"))

    @property
    def retention_days(self) -> int:
        return int(self.props.get("softDeleteRetentionInDays") or 90)

    @property
    def subscription_id(self) -> str:
        return self.resource["id"].split("/")[2]

    def recovery_level(self) -> str:
        if not self.soft_delete:
            return "Purgeable"
        prefix = "Customized" if self.retention_days < 90 else ""
        return prefix + ("Recoverable" if self.purge_protection else "Recoverable+Purgeable")

    def touch(self) -> None:
        self.emu.store.touch()

    # -- access ----------------------------------------------------------------------------
    def require(self, collection: str, operation: str, object_name: str = "") -> None:
        access.check(
            resource=self.resource,
            assignments=list(self.emu.store.section("role_assignments").values()),
            custom_roles=self.emu.store.section("role_definitions"),
            claims=self.claims,
            collection=collection,
            operation=operation,
            object_path=f"{collection}/{object_name}" if object_name else "",
        )

    # -- objects -----------------------------------------------------------------------------
    def live(self, kind: str) -> dict[str, Any]:
        return self.data.setdefault(kind, {})

    def deleted(self, kind: str) -> dict[str, Any]:
        return self.data.setdefault("deleted_" + kind, {})

    def get(self, kind: str, name: str) -> dict[str, Any]:
        obj = self.live(kind).get(name.lower())
        if obj is None:
            raise not_found(kind, name, self.name)
        return obj

    def get_deleted(self, kind: str, name: str) -> dict[str, Any]:
        obj = self.deleted(kind).get(name.lower())
        if obj is None:
            raise AzureError(
                404, f"{SINGULAR[kind]}NotFound", f"Deleted {SINGULAR[kind]} not found: {name}"
            )
        return obj

    def version(self, kind: str, obj: dict[str, Any], version: str) -> tuple[str, dict[str, Any]]:
        if not version:
            version = obj["order"][-1]
        record = obj["versions"].get(version)
        if record is None:
            raise AzureError(
                404,
                f"{SINGULAR[kind]}NotFound",
                (
                    f"A {SINGULAR[kind].lower()} with (name/id) {obj['name']}/{version} was not "
                    "found "
                    "in this key vault. If you recently deleted this "
                    f"{SINGULAR[kind].lower()} you may be able to recover it using the correct "
                    "recovery command. For help resolving this issue, please see "
                    "https://go.microsoft.com/fwlink/?linkid=2125182"
                ),
            )
        return version, record

    def check_not_deleted(self, kind: str, name: str) -> None:
        if name.lower() in self.deleted(kind):
            noun = SINGULAR[kind].lower()
            raise AzureError(
                409,
                "Conflict",
                (
                    f"{SINGULAR[kind]} {name} is currently in a deleted but recoverable state, and "
                    f"its name cannot be reused; in this state, the {noun} can only be recovered "
                    "or "
                    "purged."
                ),
                inner_code="ObjectIsDeletedButRecoverable",
            )

    def check_name(self, kind: str, name: str) -> None:
        if not _NAME.fullmatch(name):
            raise AzureError(
                400,
                "BadParameter",
                (
                    f"The request URI contains an invalid name: {name}. Object names must be 1-127 "
                    "characters of 0-9, a-z, A-Z and -."
                ),
            )

    def add_version(
        self, kind: str, name: str, record: dict[str, Any], version: str | None = None
    ) -> tuple[dict[str, Any], str]:
        self.check_name(kind, name)
        self.check_not_deleted(kind, name)
        obj = self.live(kind).setdefault(name.lower(), {"name": name, "versions": {}, "order": []})
        version = version or new_version()
        obj["versions"][version] = record
        obj["order"].append(version)
        self.touch()
        return obj, version

    def object_id(self, kind: str, name: str, version: str | None = None) -> str:
        return f"{self.url}/{kind}/{name}" + (f"/{version}" if version else "")

    def attributes(self, stored: dict[str, Any]) -> dict[str, Any]:
        attrs = {k: v for k, v in stored.items() if v is not None}
        attrs["recoveryLevel"] = self.recovery_level()
        if self.soft_delete:
            attrs["recoverableDays"] = self.retention_days
        return attrs

    def deleted_fields(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        if "deletedDate" not in obj:
            return {}
        return {
            "recoveryId": f"{self.url}/{DELETED_PATH[kind]}/{obj['name']}",
            "deletedDate": obj["deletedDate"],
            "scheduledPurgeDate": obj["scheduledPurgeDate"],
        }

    # -- soft delete -------------------------------------------------------------------------
    def soft_delete_object(self, kind: str, name: str) -> dict[str, Any]:
        obj = self.live(kind).pop(name.lower())
        if self.soft_delete:
            obj["deletedDate"] = now()
            obj["scheduledPurgeDate"] = now() + self.retention_days * 86400
            self.deleted(kind)[name.lower()] = obj
        self.touch()
        return obj

    def recover_object(self, kind: str, name: str) -> dict[str, Any]:
        obj = self.deleted(kind).pop(name.lower())
        obj.pop("deletedDate", None)
        obj.pop("scheduledPurgeDate", None)
        self.live(kind)[name.lower()] = obj
        self.touch()
        return obj

    def purge_object(self, kind: str, name: str) -> None:
        if self.purge_protection:
            raise AzureError(
                403,
                "Forbidden",
                (
                    'Operation "purge" is not allowed because purge protection is enabled for this '
                    "vault. Key Vault service will automatically purge it after the retention "
                    "period "
                    "has passed."
                ),
                inner_code="VaultPurgeProtectionEnabled",
            )
        self.get_deleted(kind, name)
        del self.deleted(kind)[name.lower()]
        self.touch()

    # -- paging ----------------------------------------------------------------------------
    def page(
        self, items: list[Any], build: Callable[[Any], dict[str, Any]] | None = None
    ) -> web.Response:
        """One page of ``items`` (``build`` shapes only the items of this page)."""
        query = self.request.query
        size = self.emu.options.keyvault_page_size
        try:
            limit = min(size, int(query.get("maxresults", size)))
            skip = int(query.get("$skiptoken", "0"))
        except ValueError:
            raise AzureError(400, "BadParameter", "Invalid maxresults or skiptoken.") from None
        limit = max(limit, 1)
        chosen = items[skip : skip + limit]
        value = [build(i) for i in chosen] if build is not None else chosen
        body: dict[str, Any] = {"value": value, "nextLink": None}
        if skip + limit < len(items):
            body["nextLink"] = self.url + str(
                self.request.rel_url.update_query(
                    {"$skiptoken": str(skip + limit), "maxresults": str(limit)}
                )
            )
        return json_response(body)

    # -- backup blobs ------------------------------------------------------------------------
    def seal(self, kind: str, obj: dict[str, Any]) -> dict[str, str]:
        payload = json.dumps(
            {
                "kind": kind,
                "subscription": self.subscription_id,
                "location": self.resource.get("location"),
                "object": obj,
            }
        )
        token = _fernet(self.emu).encrypt(payload.encode())
        return {"value": base64.urlsafe_b64encode(token).decode().rstrip("=")}

    def unseal(self, kind: str) -> dict[str, Any]:
        value = str((self.body or {}).get("value", ""))
        try:
            token = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            payload = json.loads(_fernet(self.emu).decrypt(token))
        except (ValueError, InvalidToken):
            raise AzureError(
                400, "BadParameter", "Backup blob contains invalid or corrupt version."
            ) from None
        if payload["kind"] != kind:
            raise AzureError(
                400, "BadParameter", "Backup blob contains invalid or corrupt version."
            )
        if payload["subscription"].lower() != self.subscription_id.lower():
            # What Azure answers (az CLI issue 8767): the blob is sealed to its subscription.
            raise AzureError(
                400,
                "BadParameter",
                "Cannot decrypt backup blob. A backup can only be restored into a key vault of "
                "the same Azure subscription and geography as the vault it was taken from.",
            )
        obj: dict[str, Any] = payload["object"]
        name = obj["name"]
        if name.lower() in self.live(kind) or name.lower() in self.deleted(kind):
            raise AzureError(
                409,
                "Conflict",
                f"{SINGULAR[kind]} {name} already exists or is in "
                "a deleted state; restore needs a free name.",
            )
        return obj


def not_found(kind: str, name: str, vault: str) -> AzureError:
    noun = SINGULAR[kind].lower()
    return AzureError(
        404,
        f"{SINGULAR[kind]}NotFound",
        (
            f"A {noun} with (name/id) {name} was not found in this key vault. If you recently "
            f"deleted this {noun} you may be able to recover it using the correct recovery "
            "command. "
            "For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"
        ),
    )


def path_not_found(vc: VaultContext) -> AzureError:
    return AzureError(404, "NotFound", f"The requested path {vc.request.path} was not found.")


def _fernet(emu: Emulator) -> Fernet:
    path = emu.directory / "emulator-state" / "backup-key"
    if not path.exists():
        import os

        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(Fernet.generate_key())
    return Fernet(path.read_bytes().strip())


def read_attributes(body: dict[str, Any], existing: dict[str, Any] | None = None) -> dict[str, Any]:
    """Stored attributes from a request's ``attributes`` (keeps ``created``)."""
    incoming = body.get("attributes") or {}
    stamp = now()
    attrs = dict(existing or {"enabled": True, "created": stamp})
    for key in ("enabled", "nbf", "exp", "exportable"):
        if key in incoming:
            attrs[key] = incoming[key]
    attrs["updated"] = stamp
    return attrs
