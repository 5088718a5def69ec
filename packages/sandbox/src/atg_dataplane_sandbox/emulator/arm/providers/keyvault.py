"""Microsoft.KeyVault/vaults: each vault gets its own HTTPS listener (its ``vaultUri``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from atg_dataplane_sandbox.emulator.arm.common import ArmContext, read_json_body
from atg_dataplane_sandbox.emulator.arm.providers.base import Provider, register
from atg_dataplane_sandbox.emulator.errors import AzureError, json_response

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
        props = resource["properties"]
        if existing is None:
            if not props.get("tenantId"):
                raise AzureError(
                    400, "BadRequest", "The parameter properties.tenantId is required."
                )
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

    async def on_delete(self, ctx: ArmContext, resource: dict[str, Any]) -> None:
        # The vault's objects go with it (deleted vaults are not emulated); its port stays
        # reserved so a vault re-created under the same name keeps its URL.
        vault = ctx.section("vaults").get(resource["name"].lower())
        if vault is not None:
            for key in [k for k in vault if k not in ("port",)]:
                del vault[key]

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
