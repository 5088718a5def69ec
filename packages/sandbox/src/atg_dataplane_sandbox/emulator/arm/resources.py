"""Subscriptions, tenants, resource groups and generic resource listing."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from atg_dataplane_sandbox.emulator.arm import tree
from atg_dataplane_sandbox.emulator.common import providers, rbac
from atg_dataplane_sandbox.emulator.common.arm import (
    ArmContext,
    filter_resources,
    paged,
    read_json_body,
)
from atg_dataplane_sandbox.emulator.common.errors import AzureError, json_response
from atg_dataplane_sandbox.topology import Tenant

RG_READ = "Microsoft.Resources/subscriptions/resourceGroups/read"
RG_WRITE = "Microsoft.Resources/subscriptions/resourceGroups/write"
RG_DELETE = "Microsoft.Resources/subscriptions/resourceGroups/delete"
RESOURCES_READ = "Microsoft.Resources/subscriptions/resources/read"
RG_RESOURCES_READ = "Microsoft.Resources/subscriptions/resourceGroups/resources/read"


def _subscription_body(tenant: Tenant) -> dict[str, Any]:
    return {
        "id": f"/subscriptions/{tenant.subscription_id}",
        "authorizationSource": "RoleBased",
        "subscriptionId": tenant.subscription_id,
        "tenantId": tenant.tenant_id,
        "displayName": tenant.subscription_name,
        "state": "Enabled",
        "subscriptionPolicies": {
            "locationPlacementId": "Public_2014-09-01",
            "quotaId": "PayAsYouGo_2014-09-01",
            "spendingLimit": "Off",
        },
        "managedByTenants": [],
    }


def _has_any_role(ctx: ArmContext, scope: str) -> bool:
    oid = ctx.claims.object_id.lower()
    return any(
        a["principalId"].lower() == oid
        and (rbac.scope_covers(a["scope"], scope) or rbac.scope_covers(scope, a["scope"]))
        for a in ctx.assignments()
    )


async def list_tenants(ctx: ArmContext) -> web.Response:
    tenant = ctx.emu.topology.tenant_by_id(ctx.claims.tenant_id)
    items = (
        []
        if tenant is None
        else [
            {
                "id": f"/tenants/{tenant.tenant_id}",
                "tenantId": tenant.tenant_id,
                "tenantCategory": "Home",
                "displayName": f"sandbox {tenant.name}",
            }
        ]
    )
    return paged(ctx, items)


async def list_subscriptions(ctx: ArmContext) -> web.Response:
    items = [
        _subscription_body(t)
        for t in ctx.emu.topology.tenants.values()
        if t.tenant_id == ctx.claims.tenant_id
        and _has_any_role(ctx, f"/subscriptions/{t.subscription_id}")
    ]
    return paged(ctx, items)


async def get_subscription(ctx: ArmContext) -> web.Response:
    assert ctx.tenant is not None
    if not _has_any_role(ctx, f"/subscriptions/{ctx.subscription_id}"):
        ctx.require(
            "Microsoft.Resources/subscriptions/read", f"/subscriptions/{ctx.subscription_id}"
        )
    return json_response(_subscription_body(ctx.tenant))


def rg_key(subscription_id: str, name: str) -> str:
    return f"/subscriptions/{subscription_id}/resourcegroups/{name}".lower()


def get_rg(ctx: ArmContext, name: str) -> dict[str, Any]:
    rg = ctx.section("resource_groups").get(rg_key(ctx.subscription_id, name))
    if rg is None:
        raise AzureError(
            404, "ResourceGroupNotFound", f"Resource group '{name}' could not be found."
        )
    return rg


async def list_resource_groups(ctx: ArmContext) -> web.Response:
    scope = f"/subscriptions/{ctx.subscription_id}"
    prefix = scope.lower() + "/"
    items = [
        rg
        for key, rg in sorted(ctx.section("resource_groups").items())
        if key.startswith(prefix) and rbac.is_allowed(ctx.permissions(rg["id"]), RG_READ)
    ]
    return paged(ctx, items)


async def resource_group(ctx: ArmContext, name: str) -> web.Response:
    scope = f"/subscriptions/{ctx.subscription_id}/resourceGroups/{name}"
    method = ctx.request.method
    groups = ctx.section("resource_groups")
    key = rg_key(ctx.subscription_id, name)
    if method in ("GET", "HEAD"):
        ctx.require(RG_READ, scope)
        rg = get_rg(ctx, name)
        return web.Response(status=204) if method == "HEAD" else json_response(rg)
    if method in ("PUT", "PATCH"):
        ctx.require(RG_WRITE, scope)
        body = read_json_body(ctx.body)
        existing = groups.get(key)
        if method == "PATCH" and existing is None:
            get_rg(ctx, name)
        if method == "PUT" and not body.get("location"):
            raise AzureError(
                400, "LocationRequired", "The location property is required for this definition."
            )
        rg = dict(existing or {})
        rg.update(
            {
                "id": (existing or {}).get("id", scope),
                "name": (existing or {}).get("name", name),
                "type": "Microsoft.Resources/resourceGroups",
                "location": body.get("location") or rg.get("location"),
                "tags": body.get("tags", rg.get("tags", {})) or {},
                "properties": {"provisioningState": "Succeeded"},
            }
        )
        if body.get("managedBy"):
            rg["managedBy"] = body["managedBy"]
        groups[key] = rg
        ctx.touch()
        return json_response(rg, status=200 if existing else 201)
    if method == "DELETE":
        ctx.require(RG_DELETE, scope)
        rg = get_rg(ctx, name)
        for res in [
            r
            for r in ctx.section("resources").values()
            if r["id"].lower().startswith(rg["id"].lower() + "/")
        ]:
            await delete_resource(ctx, res)
        del groups[key]
        ctx.touch()
        return web.Response(status=200)
    raise AzureError(405, "MethodNotAllowed", f"The method '{method}' is not allowed.")


def _summary(resource: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "name", "type", "location", "tags", "kind", "sku", "identity", "managedBy")
    return {k: resource[k] for k in keys if k in resource}


async def list_resources(ctx: ArmContext, rg_name: str | None) -> web.Response:
    if rg_name is None:
        scope = f"/subscriptions/{ctx.subscription_id}"
        ctx.require(RESOURCES_READ, scope)
    else:
        scope = get_rg(ctx, rg_name)["id"]
        ctx.require(RG_RESOURCES_READ, scope)
    prefix = scope.lower() + "/"
    items = [
        _summary(r) for key, r in sorted(ctx.section("resources").items()) if key.startswith(prefix)
    ]
    return paged(ctx, filter_resources(items, ctx.request.query.get("$filter")))


async def delete_resource(ctx: ArmContext, resource: dict[str, Any]) -> None:
    provider = providers.find(*resource["type"].split("/", 1))
    if provider is not None:
        await provider.on_delete(ctx, resource)
    tree.delete_below(ctx, resource["id"])  # its declared children go with it, as in Azure
    ctx.section("resources").pop(resource["id"].lower(), None)
    ctx.touch()
