"""Microsoft.KeyVault/vaults: each vault gets its own HTTPS listener (its ``vaultUri``)."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from atg_dataplane_sandbox.emulator.common.arm import (
    ArmContext,
    paged,
    read_json_body,
    start_operation,
)
from atg_dataplane_sandbox.emulator.common.errors import AzureError, json_response
from atg_dataplane_sandbox.emulator.common.providers import Provider, register

_DEFAULTS: dict[str, Any] = {
    "sku": {"family": "A", "name": "standard"},
    "accessPolicies": [],
    "enabledForDeployment": False,
    "enabledForDiskEncryption": False,
    "enabledForTemplateDeployment": False,
    "enableSoftDelete": True,
    "softDeleteRetentionInDays": 90,
    "enableRbacAuthorization": False,
    "publicNetworkAccess": "Enabled",
}


class KeyVaultProvider(Provider):
    namespace = "Microsoft.KeyVault"
    resource_type = "vaults"
    lro_put = True

    async def on_put(
        self, ctx: ArmContext, resource: dict[str, Any], existing: dict[str, Any] | None
    ) -> dict[str, Any]:
        name = resource["name"]
        vaults = ctx.section("vaults")
        data = vaults.get(name.lower())
        props = resource["properties"]
        deleted = ctx.section("deleted_vaults").get(name.lower())
        if deleted is not None:
            if props.get("createMode") != "recover":
                raise AzureError(
                    409,
                    "ConflictError",
                    f"Exist soft deleted vault with the same "
                    f"name '{name}'. Recover it (createMode 'recover') or purge it.",
                )
            return await self._recover(ctx, resource, deleted)
        if props.get("createMode") == "recover":
            raise AzureError(
                404, "ResourceNotFound", f"No deleted vault named '{name}' to recover."
            )
        if (
            existing is None
            and data is not None
            and data.get("resource_id")
            and data["resource_id"].lower() != resource["id"].lower()
        ):
            raise AzureError(
                409,
                "VaultAlreadyExists",
                f"The vault name '{name}' is already in "
                "use. Vault names are globally unique so it is possible that the "
                "name is already taken.",
            )
        if not props.get("tenantId"):
            raise AzureError(400, "BadRequest", "The parameter properties.tenantId is required.")
        if ctx.request.method == "PUT":
            for key, value in _DEFAULTS.items():
                props.setdefault(key, value)
        if (
            existing is not None
            and existing["properties"].get("enablePurgeProtection")
            and props.get("enablePurgeProtection") is False
        ):
            raise AzureError(
                400,
                "BadRequest",
                'The property "enablePurgeProtection" cannot be '
                "set to false. Enabling the purge protection for a vault is an "
                "irreversible action.",
            )
        if (
            existing is not None
            and existing["properties"].get("enableSoftDelete")
            and props.get("enableSoftDelete") is False
        ):
            raise AzureError(
                400,
                "BadRequest",
                'The property "enableSoftDelete" cannot be set '
                "to false. Enabling the soft delete for a vault is an irreversible "
                "action.",
            )
        for policy in props.get("accessPolicies") or []:
            _check_policy(policy)
        url = await ctx.emu.open_vault(name.lower())
        props["vaultUri"] = url + "/"
        props["provisioningState"] = "Succeeded"
        vault = vaults.setdefault(name.lower(), {})
        vault["resource_id"] = resource["id"]
        return resource

    async def _recover(
        self, ctx: ArmContext, resource: dict[str, Any], deleted: dict[str, Any]
    ) -> dict[str, Any]:
        recovered: dict[str, Any] = deleted["resource"]
        recovered["id"], recovered["name"] = resource["id"], resource["name"]
        recovered["tags"] = resource.get("tags") or recovered.get("tags") or {}
        del ctx.section("deleted_vaults")[resource["name"].lower()]
        ctx.section("vaults")[resource["name"].lower()]["resource_id"] = resource["id"]
        return recovered

    async def on_delete(self, ctx: ArmContext, resource: dict[str, Any]) -> None:
        # Soft delete (the default) keeps the vault and its objects as a deleted vault until
        # purged; the port stays reserved so a vault of the same name keeps its URL.
        name = resource["name"].lower()
        vault = ctx.section("vaults").get(name)
        if resource["properties"].get("enableSoftDelete", True):
            days = int(resource["properties"].get("softDeleteRetentionInDays") or 90)
            now = time.time()
            ctx.section("deleted_vaults")[name] = {
                "resource": resource,
                "deletionDate": _iso(now),
                "scheduledPurgeDate": _iso(now + days * 86400),
            }
        elif vault is not None:
            _drop_contents(vault)

    async def subscription_path(
        self, ctx: ArmContext, rest: list[str]
    ) -> web.StreamResponse | None:
        low = [s.lower() for s in rest]
        scope = f"/subscriptions/{ctx.subscription_id}"
        deleted = ctx.section("deleted_vaults")
        mine = {
            k: v
            for k, v in deleted.items()
            if v["resource"]["id"].lower().startswith(scope.lower() + "/")
        }
        if low == ["deletedvaults"] and ctx.request.method == "GET":
            ctx.require("Microsoft.KeyVault/deletedVaults/read", scope)
            return paged(ctx, [_deleted_body(ctx, v) for _, v in sorted(mine.items())])
        if len(low) >= 4 and low[0] == "locations" and low[2] == "deletedvaults":
            entry = mine.get(low[3])
            if entry is None:
                raise AzureError(
                    404, "ResourceNotFound", f"The deleted vault '{rest[3]}' was not found."
                )
            if len(low) == 4 and ctx.request.method == "GET":
                ctx.require("Microsoft.KeyVault/deletedVaults/read", scope)
                return json_response(_deleted_body(ctx, entry))
            if low[4:] == ["purge"] and ctx.request.method == "POST":
                ctx.require("Microsoft.KeyVault/locations/deletedVaults/purge/action", scope)
                if entry["resource"]["properties"].get("enablePurgeProtection"):
                    raise AzureError(
                        409,
                        "ConflictError",
                        "The vault has purge protection "
                        "enabled: it is purged automatically at its scheduled "
                        "purge date.",
                    )
                del deleted[low[3]]
                vault = ctx.section("vaults").get(low[3])
                if vault is not None:
                    _drop_contents(vault)
                ctx.touch()
                return start_operation(
                    ctx, self.namespace, rest[1], entry["resource"]["id"], None, 202, "POST"
                )
        return None

    async def child(
        self, ctx: ArmContext, resource: dict[str, Any], rest: list[str]
    ) -> web.StreamResponse | None:
        if len(rest) != 2 or rest[0].lower() != "accesspolicies":
            return None
        kind = rest[1].lower()
        if kind not in ("add", "replace", "remove") or ctx.request.method != "PUT":
            raise AzureError(
                400, "BadRequest", "Access policy operation must be PUT add, replace or remove."
            )
        ctx.require("Microsoft.KeyVault/vaults/accessPolicies/write", resource["id"])
        incoming = (read_json_body(ctx.body).get("properties") or {}).get("accessPolicies") or []
        for policy in incoming:
            _check_policy(policy)
        policies: list[dict[str, Any]] = resource["properties"].setdefault("accessPolicies", [])
        if kind == "replace":
            policies[:] = incoming
        else:
            for policy in incoming:
                _merge(policies, policy, remove=kind == "remove")
        ctx.touch()
        return json_response(
            {
                "id": f"{resource['id']}/accessPolicies/{kind}",
                "type": "Microsoft.KeyVault/vaults/accessPolicies",
                "location": resource.get("location"),
                "properties": {"accessPolicies": incoming},
            }
        )


def _iso(stamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))


def _drop_contents(vault: dict[str, Any]) -> None:
    for key in [k for k in vault if k != "port"]:
        del vault[key]


def _deleted_body(ctx: ArmContext, entry: dict[str, Any]) -> dict[str, Any]:
    resource = entry["resource"]
    location = resource.get("location", "eastus")
    return {
        "id": f"/subscriptions/{ctx.subscription_id}/providers/Microsoft.KeyVault/locations/"
        f"{location}/deletedVaults/{resource['name']}",
        "name": resource["name"],
        "type": "Microsoft.KeyVault/deletedVaults",
        "properties": {
            "vaultId": resource["id"],
            "location": location,
            "deletionDate": entry["deletionDate"],
            "scheduledPurgeDate": entry["scheduledPurgeDate"],
            "tags": resource.get("tags") or {},
            "purgeProtectionEnabled": bool(resource["properties"].get("enablePurgeProtection")),
        },
    }


def _check_policy(policy: dict[str, Any]) -> None:
    if not policy.get("objectId") or not policy.get("tenantId"):
        raise AzureError(400, "BadRequest", "An access policy needs tenantId and objectId.")


def _merge(policies: list[dict[str, Any]], policy: dict[str, Any], remove: bool) -> None:
    match = next(
        (
            p
            for p in policies
            if p["objectId"].lower() == policy["objectId"].lower()
            and p["tenantId"].lower() == policy["tenantId"].lower()
        ),
        None,
    )
    if match is None:
        if not remove:
            policies.append(policy)
        return
    perms = match.setdefault("permissions", {})
    for collection, values in (policy.get("permissions") or {}).items():
        current = {v.lower(): v for v in perms.get(collection, [])}
        for value in values:
            if remove:
                current.pop(value.lower(), None)
            else:
                current.setdefault(value.lower(), value)
        perms[collection] = list(current.values())


register(KeyVaultProvider())
