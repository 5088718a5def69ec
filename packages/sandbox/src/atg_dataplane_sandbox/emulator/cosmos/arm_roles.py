"""ARM side of Cosmos DB's native RBAC (``emulator/cosmos/rbac.py``): the account's
``sqlRoleDefinitions`` (built-in and custom) and ``sqlRoleAssignments``.

PUT and DELETE are long-running (``Azure-AsyncOperation``/``Location``), as the service
answers them; lists are one page.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from atg_dataplane_sandbox.emulator.common.arm import ArmContext, read_json_body, start_operation
from atg_dataplane_sandbox.emulator.common.errors import AzureError, json_response
from atg_dataplane_sandbox.emulator.cosmos import rbac as cosmos_rbac

_COLLECTIONS = {
    "sqlroledefinitions": ("sqlRoleDefinitions", cosmos_rbac.DEFINITIONS),
    "sqlroleassignments": ("sqlRoleAssignments", cosmos_rbac.ASSIGNMENTS),
}


def handles(rest: list[str]) -> bool:
    return 1 <= len(rest) <= 2 and rest[0].lower() in _COLLECTIONS


async def child(ctx: ArmContext, account: dict[str, Any], rest: list[str]) -> web.StreamResponse:
    """``{account id}/sqlRoleDefinitions[/{id}]`` and ``.../sqlRoleAssignments[/{id}]``."""
    collection, section = _COLLECTIONS[rest[0].lower()]
    account_id = account["id"]
    method = ctx.request.method
    base = f"{account_id}/{collection}"
    action = f"{cosmos_rbac.ACCOUNT_TYPE}/{collection}"
    known = _known(ctx, account_id, section)
    if len(rest) == 1:
        if method != "GET":
            raise AzureError(405, "MethodNotAllowed", f"The method '{method}' is not allowed.")
        ctx.require(f"{action}/read", base)
        return json_response({"value": sorted(known.values(), key=lambda item: item["id"])})
    item_id = f"{base}/{rest[1]}"
    found = known.get(item_id.lower())
    if method == "GET":
        ctx.require(f"{action}/read", item_id)
        if found is None:
            raise AzureError(404, "NotFound", f"The {collection[:-1]} '{rest[1]}' does not exist.")
        return json_response(found)
    if method == "PUT":
        ctx.require(f"{action}/write", item_id)
        body = read_json_body(ctx.body).get("properties") or {}
        shape = _assignment if section == cosmos_rbac.ASSIGNMENTS else _definition
        item = {
            "id": item_id,
            "name": rest[1],
            "type": action,
            "properties": shape(ctx, account_id, found, body),
        }
        ctx.section(section)[item_id.lower()] = item
        ctx.touch()
        return _operation(ctx, account, item_id, "PUT")
    if method == "DELETE":
        ctx.require(f"{action}/delete", item_id)
        if found is not None and found["properties"].get("type") == "BuiltInRole":
            raise AzureError(400, "BadRequest", "Built-in role definitions cannot be deleted.")
        ctx.section(section).pop(item_id.lower(), None)
        ctx.touch()
        return _operation(ctx, account, item_id, "DELETE")
    raise AzureError(405, "MethodNotAllowed", f"The method '{method}' is not allowed.")


def _known(ctx: ArmContext, account_id: str, section: str) -> dict[str, dict[str, Any]]:
    if section == cosmos_rbac.DEFINITIONS:
        return cosmos_rbac.definitions(ctx.emu, account_id)
    return cosmos_rbac.assignments(ctx.emu, account_id)


def _operation(ctx: ArmContext, account: dict[str, Any], item_id: str, method: str) -> web.Response:
    location = account.get("location") or "eastus"
    return start_operation(ctx, "Microsoft.DocumentDB", location, item_id, None, 202, method)


def _assignment(
    ctx: ArmContext, account_id: str, found: dict[str, Any] | None, body: dict[str, Any]
) -> dict[str, Any]:
    role = str(body.get("roleDefinitionId") or "")
    scope = str(body.get("scope") or "").rstrip("/")
    principal = str(body.get("principalId") or "")
    if role.lower() not in cosmos_rbac.definitions(ctx.emu, account_id):
        raise AzureError(
            400,
            "BadRequest",
            f"The provided SQL Role Definition Id '{role}' does not exist in this account "
            f"('{account_id}/sqlRoleDefinitions/{{guid}}').",
        )
    if not _within(scope, account_id):
        raise AzureError(
            400,
            "BadRequest",
            f"The provided scope '{scope}' is not valid: it must be the account "
            f"'{account_id}' or a database or container below it (/dbs/{{db}}[/colls/{{c}}]).",
        )
    if not principal:
        raise AzureError(400, "BadRequest", "The principalId of the assignment is required.")
    return {"roleDefinitionId": role, "scope": scope, "principalId": principal}


def _definition(
    ctx: ArmContext, account_id: str, found: dict[str, Any] | None, body: dict[str, Any]
) -> dict[str, Any]:
    if found is not None and found["properties"].get("type") == "BuiltInRole":
        raise AzureError(400, "BadRequest", "Built-in role definitions cannot be changed.")
    permissions = body.get("permissions") or []
    if any(block.get("notDataActions") for block in permissions):
        raise AzureError(
            400, "BadRequest", "notDataActions are not supported by Cosmos DB role definitions."
        )
    scopes = [str(s).rstrip("/") for s in body.get("assignableScopes") or [account_id]]
    if not all(_within(scope, account_id) for scope in scopes):
        raise AzureError(400, "BadRequest", "Every assignable scope must be within the account.")
    return {
        "roleName": str(body.get("roleName") or ""),
        "type": "CustomRole",
        "assignableScopes": scopes,
        "permissions": [
            {"dataActions": list(block.get("dataActions") or []), "notDataActions": []}
            for block in permissions
        ],
    }


def _within(scope: str, account_id: str) -> bool:
    """The account itself, ``/dbs/{db}`` or ``/dbs/{db}/colls/{container}`` below it."""
    if scope.lower() == account_id.lower():
        return True
    if not scope.lower().startswith(account_id.lower() + "/"):
        return False
    rest = scope[len(account_id) + 1 :].split("/")
    return len(rest) in (2, 4) and rest[0] == "dbs" and (len(rest) == 2 or rest[2] == "colls")
