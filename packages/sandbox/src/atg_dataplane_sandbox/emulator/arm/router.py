"""ARM request routing: parse the path, authenticate, check the tenant, dispatch.

Paths are matched case-insensitively (ARM does; the SDKs send ``resourcegroups`` and
``resourceGroups``); resource ids keep the case they were created with.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from atg_dataplane_sandbox.emulator.arm import authorization, resources, tree
from atg_dataplane_sandbox.emulator.common import providers
from atg_dataplane_sandbox.emulator.common.arm import (
    ArmContext,
    operation_status,
    paged,
    read_json_body,
    start_operation,
)
from atg_dataplane_sandbox.emulator.common.auth import arm_wrong_tenant, authenticate_arm
from atg_dataplane_sandbox.emulator.common.context import EMU
from atg_dataplane_sandbox.emulator.common.errors import AzureError, json_response


async def dispatch(request: web.Request) -> web.StreamResponse:
    emu = request.app[EMU]
    claims = authenticate_arm(request)
    if "api-version" not in request.query:
        raise AzureError(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
    seg = [s for s in request.path.split("/") if s]
    low = [s.lower() for s in seg]
    body: Any = None
    if request.method in ("PUT", "PATCH", "POST") and request.can_read_body:
        raw = await request.read()
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                raise AzureError(
                    400,
                    "InvalidRequestContent",
                    "The request content was invalid and could not be deserialized.",
                ) from None
    ctx = ArmContext(request=request, emu=emu, claims=claims, body=body)
    if low == ["tenants"]:
        return await resources.list_tenants(ctx)
    if low == ["subscriptions"]:
        return await resources.list_subscriptions(ctx)
    if len(seg) < 2 or low[0] != "subscriptions":
        raise AzureError(
            404, "NotFound", f"No HTTP resource was found that matches '{request.path}'."
        )
    tenant = next(
        (t for t in emu.topology.tenants.values() if t.subscription_id.lower() == low[1]), None
    )
    if tenant is None:
        raise AzureError(
            404, "SubscriptionNotFound", f"The subscription '{seg[1]}' could not be found."
        )
    if tenant.tenant_id != claims.tenant_id:
        raise arm_wrong_tenant(request, claims, tenant.tenant_id)
    ctx.tenant = tenant
    auth_at = _authorization_index(low)
    if auth_at is not None:
        scope = "/" + "/".join(seg[:auth_at])
        return await authorization.handle(ctx, scope, seg[auth_at + 2 :])
    if len(seg) == 2:
        return await resources.get_subscription(ctx)
    if low[2:] == ["resources"]:
        return await resources.list_resources(ctx, None)
    if low[2] == "resourcegroups":
        if len(seg) == 3:
            return await resources.list_resource_groups(ctx)
        if len(seg) == 4:
            return await resources.resource_group(ctx, seg[3])
        if low[4:] == ["resources"]:
            return await resources.list_resources(ctx, seg[3])
        if low[4] == "providers" and len(seg) >= 7:
            rg = resources.get_rg(ctx, seg[3])
            return await _provider_path(ctx, rg, seg[5:])
    if low[2] == "providers" and len(seg) >= 5:
        return await _subscription_provider_path(ctx, seg[3:])
    raise AzureError(404, "NotFound", f"No HTTP resource was found that matches '{request.path}'.")


def _authorization_index(low: list[str]) -> int | None:
    for i in range(len(low) - 2, -1, -1):
        if low[i] == "providers" and low[i + 1] == "microsoft.authorization":
            return i
    return None


def _provider(namespace: str, resource_type: str) -> providers.Provider:
    provider = providers.find(namespace, resource_type)
    if provider is None:
        raise AzureError(
            404,
            "InvalidResourceType",
            f"The resource type '{resource_type}' could "
            f"not be found in the namespace '{namespace}' for api version "
            "in the sandbox.",
        )
    return provider


async def _subscription_provider_path(ctx: ArmContext, rest: list[str]) -> web.StreamResponse:
    low = [s.lower() for s in rest]
    if (
        len(rest) == 5
        and low[1] == "locations"
        and low[3] in ("operationstatuses", "operationresults")
    ):
        return operation_status(ctx, rest[4], results=low[3] == "operationresults")
    if len(rest) == 2 and providers.find(rest[0], rest[1]) is not None:
        provider = _provider(rest[0], rest[1])
        scope = f"/subscriptions/{ctx.subscription_id}"
        ctx.require(f"{provider.full_type}/read", scope)
        return _list(ctx, provider, scope)
    for provider in providers.by_namespace(rest[0]):
        answer = await provider.subscription_path(ctx, rest[1:])
        if answer is not None:
            return answer
    raise AzureError(
        404, "NotFound", f"No HTTP resource was found that matches '{ctx.request.path}'."
    )


def _list(ctx: ArmContext, provider: providers.Provider, scope: str) -> web.Response:
    prefix = scope.lower() + "/"
    wanted = provider.full_type.lower()
    items = sorted(
        (key, r)
        for key, r in ctx.section("resources").items()
        if key.startswith(prefix) and r["type"].lower() == wanted
    )
    return paged(ctx, items, lambda item: provider.present(ctx, item[1]))


async def _provider_path(
    ctx: ArmContext, rg: dict[str, Any], rest: list[str]
) -> web.StreamResponse:
    provider = _provider(rest[0], rest[1])
    if len(rest) == 2:
        ctx.require(f"{provider.full_type}/read", rg["id"])
        return _list(ctx, provider, rg["id"])
    resource_id = f"{rg['id']}/providers/{provider.full_type}/{rest[2]}"
    stored = ctx.section("resources").get(resource_id.lower())
    method = ctx.request.method
    if len(rest) == 3:
        if method == "GET":
            ctx.require(f"{provider.full_type}/read", resource_id)
            return json_response(provider.present(ctx, _exists(stored, provider, rest[2], rg)))
        if method in ("PUT", "PATCH"):
            ctx.require(f"{provider.full_type}/write", resource_id)
            return await _put(ctx, provider, rg, resource_id, rest[2], stored)
        if method == "DELETE":
            ctx.require(f"{provider.full_type}/delete", resource_id)
            if stored is None:
                return web.Response(status=204)
            await resources.delete_resource(ctx, stored)
            return web.Response(status=200)
        raise AzureError(405, "MethodNotAllowed", f"The method '{method}' is not allowed.")
    resource = _exists(stored, provider, rest[2], rg)
    action = rest[3].lower()
    if len(rest) == 4 and method == "POST" and action in provider.actions:
        ctx.require(f"{provider.full_type}/{rest[3]}/action", resource_id)
        if action in provider.lro_actions:
            answer = await provider.actions[action](ctx, resource)
            return start_operation(
                ctx,
                provider.namespace,
                resource.get("location", "eastus"),
                resource_id,
                None,
                202,
                "POST",
                result=answer if isinstance(answer, dict) else None,
            )
        return await provider.actions[action](ctx, resource)
    answer = await tree.handle(ctx, provider.full_type, resource, rest[3:])
    if answer is None:
        answer = await provider.child(ctx, resource, rest[3:])
    if answer is None:
        raise AzureError(
            404, "NotFound", f"No HTTP resource was found that matches '{ctx.request.path}'."
        )
    return answer


def _exists(
    stored: dict[str, Any] | None, provider: providers.Provider, name: str, rg: dict[str, Any]
) -> dict[str, Any]:
    if stored is None:
        raise AzureError(
            404,
            "ResourceNotFound",
            f"The Resource '{provider.full_type}/{name}' "
            f"under resource group '{rg['name']}' was not found. For more details "
            "please go to https://aka.ms/ARMResourceNotFoundFix",
        )
    return stored


async def _put(
    ctx: ArmContext,
    provider: providers.Provider,
    rg: dict[str, Any],
    resource_id: str,
    name: str,
    stored: dict[str, Any] | None,
) -> web.StreamResponse:
    body = read_json_body(ctx.body)
    if ctx.request.method == "PATCH":
        if stored is None:
            _exists(stored, provider, name, rg)
        merged = json.loads(json.dumps(stored))
        if "tags" in body:
            merged["tags"] = body["tags"]
        merged.setdefault("properties", {}).update(body.get("properties") or {})
        for key in ("sku", "identity"):
            if key in body:
                merged[key] = body[key]
        resource = merged
    else:
        location = body.get("location") or rg.get("location")
        resource = {
            "id": stored["id"] if stored else resource_id,
            "name": stored["name"] if stored else name,
            "type": provider.full_type,
            "location": location,
            "tags": body.get("tags") or {},
            "properties": dict(body.get("properties") or {}),
        }
        for key in ("sku", "kind", "identity"):
            if key in body:
                resource[key] = body[key]
    resource = await provider.on_put(ctx, resource, stored)
    ctx.section("resources")[resource_id.lower()] = resource
    ctx.touch()
    status = 200 if stored else provider.created_status
    shown = provider.present(ctx, resource)
    location = resource.get("location") or "eastus"
    if provider.location_lro and ctx.request.method == "PUT":
        return start_operation(
            ctx, provider.namespace, location, resource_id, None, 202, "PUT", location_only=True
        )
    if provider.lro_put and ctx.request.method == "PUT":
        return start_operation(ctx, provider.namespace, location, resource_id, shown, status, "PUT")
    return json_response(shown, status=status)
