"""ARM side of Cosmos DB's native RBAC (``emulator/cosmos/rbac.py``): the account's
``sqlRoleDefinitions`` (built-in and custom) and ``sqlRoleAssignments``, declared for the
ARM resource tree. PUT and DELETE are long-running (``Azure-AsyncOperation``/``Location``),
as the service answers them; lists are one page (the SDK follows no ``nextLink`` here).
"""

from __future__ import annotations

from typing import Any

from atg_dataplane_sandbox.builtin_roles import COSMOS_SQL_ROLES
from atg_dataplane_sandbox.emulator.common.arm import ArmContext
from atg_dataplane_sandbox.emulator.common.errors import AzureError
from atg_dataplane_sandbox.emulator.common.providers import ChildType, declare
from atg_dataplane_sandbox.emulator.cosmos import rbac as cosmos_rbac


def _builtins(ctx: ArmContext, account: dict[str, Any]) -> list[dict[str, Any]]:
    return cosmos_rbac.builtin_definitions(account["id"])


def _assignment(
    ctx: ArmContext, account: dict[str, Any], found: dict[str, Any] | None, body: dict[str, Any]
) -> dict[str, Any]:
    account_id = account["id"]
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
    ctx: ArmContext, account: dict[str, Any], found: dict[str, Any] | None, body: dict[str, Any]
) -> dict[str, Any]:
    account_id = account["id"]
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


DEFINITIONS = declare(
    ChildType(
        parent=cosmos_rbac.ACCOUNT_TYPE,
        name="sqlRoleDefinitions",
        lro="async",
        one_page=True,
        section=cosmos_rbac.DEFINITIONS,
        shape=_definition,
        builtins=_builtins,
        read_only=frozenset(role["id"] for role in COSMOS_SQL_ROLES),
    )
)
ASSIGNMENTS = declare(
    ChildType(
        parent=cosmos_rbac.ACCOUNT_TYPE,
        name="sqlRoleAssignments",
        lro="async",
        one_page=True,
        section=cosmos_rbac.ASSIGNMENTS,
        shape=_assignment,
    )
)
