"""Microsoft.Authorization: permissions of the caller, role definitions, role assignments."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from atg_dataplane_sandbox.builtin_roles import BUILTIN_ROLES
from atg_dataplane_sandbox.emulator.common import rbac
from atg_dataplane_sandbox.emulator.common.arm import ArmContext, now_iso, paged, read_json_body
from atg_dataplane_sandbox.emulator.common.errors import AzureError, json_response

NS = "Microsoft.Authorization"
RA_TYPE = "Microsoft.Authorization/roleAssignments"
RD_TYPE = "Microsoft.Authorization/roleDefinitions"


def seed_role_assignments(ctx_store: dict[str, Any], topology: Any) -> None:
    """Copy the topology's role assignments into the state on first start."""
    section = ctx_store.setdefault("role_assignments", {})
    if section:
        return
    for a in topology.role_assignments:
        sub = topology.tenants[a.tenant].subscription_id
        section[a.id.lower()] = {
            "id": a.id,
            "name": a.name,
            "scope": a.scope,
            "roleDefinitionId": f"/subscriptions/{sub}/providers/{RD_TYPE}/{a.role_definition_id}",
            "principalId": a.principal_id,
            "principalType": "ServicePrincipal",
            "createdOn": now_iso(),
        }


async def handle(ctx: ArmContext, scope: str, rest: list[str]) -> web.StreamResponse:
    kind = rest[0].lower() if rest else ""
    if kind == "permissions" and len(rest) == 1:
        return _permissions(ctx, scope)
    if kind == "roledefinitions":
        return _role_definitions(ctx, scope, rest[1] if len(rest) > 1 else None)
    if kind == "roleassignments":
        return _role_assignments(ctx, scope, rest[1] if len(rest) > 1 else None)
    raise AzureError(
        404,
        "InvalidResourceType",
        f"The resource type '{'/'.join(rest)}' could not be found in the namespace '{NS}'.",
    )


def _permissions(ctx: ArmContext, scope: str) -> web.Response:
    if ctx.request.method != "GET":
        raise AzureError(405, "MethodNotAllowed", "Only GET is supported.")
    blocks = ctx.permissions(scope)
    items = [
        {
            "actions": list(b.get("actions", [])),
            "notActions": list(b.get("notActions", [])),
            "dataActions": list(b.get("dataActions", [])),
            "notDataActions": list(b.get("notDataActions", [])),
        }
        for b in blocks
    ]
    return paged(ctx, items)


def _definition_body(scope: str, role: dict[str, Any]) -> dict[str, Any]:
    sub_scope = (
        "/".join(scope.split("/")[:3]) if scope.lower().startswith("/subscriptions/") else ""
    )
    return {
        "id": f"{sub_scope}/providers/{RD_TYPE}/{role['id']}",
        "name": role["id"],
        "type": RD_TYPE,
        "properties": {
            "roleName": role["roleName"],
            "type": role.get("type", "BuiltInRole"),
            "description": role.get("description", ""),
            "assignableScopes": role.get("assignableScopes", ["/"]),
            "permissions": role["permissions"],
            "createdOn": "2015-02-02T21:55:09.8806423Z",
            "updatedOn": "2024-01-01T00:00:00.0000000Z",
        },
    }


_ROLE_NAME = re.compile(r"roleName\s+eq\s+'([^']+)'", re.I)
_ROLE_TYPE = re.compile(r"type\s+eq\s+'([^']+)'", re.I)


def _role_definitions(ctx: ArmContext, scope: str, guid: str | None) -> web.Response:
    ctx.require(f"{RD_TYPE}/read", scope)
    custom = ctx.section("role_definitions")
    roles = [*BUILTIN_ROLES, *custom.values()]
    if guid is not None:
        if ctx.request.method != "GET":
            raise AzureError(
                403, "AuthorizationFailed", "The sandbox supports built-in role definitions only."
            )
        role = rbac.role_definition(guid, custom)
        if role is None:
            raise AzureError(
                404,
                "RoleDefinitionDoesNotExist",
                "The specified role definition with ID '" + guid + "' does not exist.",
            )
        return json_response(_definition_body(scope, role))
    text = ctx.request.query.get("$filter", "")
    names = {n.lower() for n in _ROLE_NAME.findall(text)}
    types = {t.lower() for t in _ROLE_TYPE.findall(text)}
    items = [
        _definition_body(scope, r)
        for r in roles
        if (not names or r["roleName"].lower() in names)
        and (not types or r.get("type", "BuiltInRole").lower() in types)
    ]
    return paged(ctx, items)


def _assignment_body(a: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": a["id"],
        "name": a["name"],
        "type": RA_TYPE,
        "properties": {
            "roleDefinitionId": a["roleDefinitionId"],
            "principalId": a["principalId"],
            "principalType": a.get("principalType", "ServicePrincipal"),
            "scope": a["scope"],
            "condition": None,
            "conditionVersion": None,
            "createdOn": a.get("createdOn"),
            "updatedOn": a.get("createdOn"),
            "createdBy": a.get("createdBy"),
            "updatedBy": a.get("createdBy"),
            "delegatedManagedIdentityResourceId": None,
            "description": None,
        },
    }


_PRINCIPAL = re.compile(r"(?:principalId\s+eq\s+|assignedTo\()'([^']+)'", re.I)


def _role_assignments(ctx: ArmContext, scope: str, name: str | None) -> web.Response:
    section = ctx.section("role_assignments")
    method = ctx.request.method
    if name is None:
        ctx.require(f"{RA_TYPE}/read", scope)
        text = ctx.request.query.get("$filter", "")
        principals = {p.lower() for p in _PRINCIPAL.findall(text)}
        at_scope = "atscope()" in text.lower()
        items = [
            _assignment_body(a)
            for a in section.values()
            if (
                rbac.scope_covers(a["scope"], scope)
                or (not at_scope and rbac.scope_covers(scope, a["scope"]))
            )
            and (not principals or a["principalId"].lower() in principals)
        ]
        return paged(ctx, items)
    assignment_id = f"{scope}/providers/{RA_TYPE}/{name}"
    existing = section.get(assignment_id.lower())
    if method == "GET":
        ctx.require(f"{RA_TYPE}/read", scope)
        if existing is None:
            raise AzureError(
                404, "RoleAssignmentNotFound", f"The role assignment '{name}' is not found."
            )
        return json_response(_assignment_body(existing))
    if method == "PUT":
        ctx.require(f"{RA_TYPE}/write", scope)
        props = read_json_body(ctx.body).get("properties") or {}
        role_id = str(props.get("roleDefinitionId", ""))
        principal_id = str(props.get("principalId", ""))
        if rbac.role_definition(role_id, ctx.section("role_definitions")) is None:
            raise AzureError(
                400,
                "RoleDefinitionDoesNotExist",
                "The specified role definition "
                f"with ID '{rbac.role_guid(role_id)}' does not exist.",
            )
        assert ctx.tenant is not None
        known = {p.object_id.lower() for p in ctx.tenant.principals.values()}
        if principal_id.lower() not in known:
            raise AzureError(
                400,
                "PrincipalNotFound",
                f"Principal {principal_id.replace('-', '')} "
                f"does not exist in the directory {ctx.tenant.tenant_id}.",
            )
        if existing is not None:
            if existing["principalId"].lower() != principal_id.lower() or rbac.role_guid(
                existing["roleDefinitionId"]
            ) != rbac.role_guid(role_id):
                raise AzureError(
                    409,
                    "RoleAssignmentUpdateNotPermitted",
                    "Tenant ID, application "
                    "ID, principal ID, and scope are not allowed to be updated.",
                )
            return json_response(_assignment_body(existing), status=201)
        duplicate = any(
            a["scope"].lower() == scope.lower()
            and a["principalId"].lower() == principal_id.lower()
            and rbac.role_guid(a["roleDefinitionId"]) == rbac.role_guid(role_id)
            for a in section.values()
        )
        if duplicate:
            raise AzureError(409, "RoleAssignmentExists", "The role assignment already exists.")
        record = {
            "id": assignment_id,
            "name": name,
            "scope": scope,
            "roleDefinitionId": role_id,
            "principalId": principal_id,
            "principalType": props.get("principalType", "ServicePrincipal"),
            "createdOn": now_iso(),
            "createdBy": ctx.claims.object_id,
        }
        section[assignment_id.lower()] = record
        ctx.touch()
        return json_response(_assignment_body(record), status=201)
    if method == "DELETE":
        ctx.require(f"{RA_TYPE}/delete", scope)
        if existing is None:
            return web.Response(status=204)
        del section[assignment_id.lower()]
        ctx.touch()
        return json_response(_assignment_body(existing))
    raise AzureError(405, "MethodNotAllowed", f"The method '{method}' is not allowed.")
