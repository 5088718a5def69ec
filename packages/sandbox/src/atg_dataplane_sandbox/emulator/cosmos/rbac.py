"""Cosmos DB's own (native) data-plane RBAC: ``sqlRoleDefinitions`` and
``sqlRoleAssignments``, child resources of an account (ARM side:
``cosmos/arm_roles.py``), and what they grant an Entra ID principal.

Azure role assignments (``Microsoft.Authorization``) grant no Cosmos DB data access; only
these do. Every account has the two built-in definitions (Data Reader ``...0001``, Data
Contributor ``...0002``); an assignment names a definition of the account, a principal and
a scope (the account, ``/dbs/{db}`` or ``/dbs/{db}/colls/{container}`` below it).
"""

from __future__ import annotations

from typing import Any

from atg_dataplane_sandbox.builtin_roles import COSMOS_SQL_ROLES
from atg_dataplane_sandbox.emulator.common import rbac

ACCOUNT_TYPE = "Microsoft.DocumentDB/databaseAccounts"
DEFINITION_TYPE = f"{ACCOUNT_TYPE}/sqlRoleDefinitions"
ASSIGNMENT_TYPE = f"{ACCOUNT_TYPE}/sqlRoleAssignments"
DEFINITIONS = "cosmos_sql_role_definitions"
"""Store section: custom definitions by lower-case id (built-ins are not stored)."""
ASSIGNMENTS = "cosmos_sql_role_assignments"
"""Store section: assignments by lower-case id."""


def account_resource(emu: Any, account: str) -> dict[str, Any] | None:
    """The ARM resource of a Cosmos DB account (names are global), if created."""
    resource = emu.resource_named(ACCOUNT_TYPE, account)
    return dict(resource) if resource is not None else None


def builtin_definitions(account_id: str) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{account_id}/sqlRoleDefinitions/{role['id']}",
            "name": role["id"],
            "type": DEFINITION_TYPE,
            "properties": {
                "roleName": role["roleName"],
                "type": "BuiltInRole",
                "assignableScopes": [account_id],
                "permissions": [
                    {"dataActions": list(block["dataActions"]), "notDataActions": []}
                    for block in role["permissions"]
                ],
            },
        }
        for role in COSMOS_SQL_ROLES
    ]


def definitions(emu: Any, account_id: str) -> dict[str, dict[str, Any]]:
    """Every definition of the account (built-in and custom) by lower-case id."""
    found = {d["id"].lower(): d for d in builtin_definitions(account_id)}
    found.update(_below(emu.store.section(DEFINITIONS), account_id))
    return found


def assignments(emu: Any, account_id: str) -> dict[str, dict[str, Any]]:
    return _below(emu.store.section(ASSIGNMENTS), account_id)


def permissions(
    emu: Any, account_id: str, object_id: str, scope: str
) -> list[dict[str, list[str]]]:
    """The permission blocks of every definition assigned to ``object_id`` at or above
    ``scope`` (a full id: the account's, or a database or container below it)."""
    roles = definitions(emu, account_id)
    blocks: list[dict[str, list[str]]] = []
    for assignment in assignments(emu, account_id).values():
        props = assignment["properties"]
        if str(props.get("principalId", "")).lower() != object_id.lower():
            continue
        if not rbac.scope_covers(str(props.get("scope", "")), scope):
            continue
        role = roles.get(str(props.get("roleDefinitionId", "")).lower())
        if role is not None:
            blocks.extend(role["properties"]["permissions"])
    return blocks


def _below(stored: dict[str, dict[str, Any]], account_id: str) -> dict[str, dict[str, Any]]:
    prefix = account_id.lower() + "/"
    return {key: value for key, value in stored.items() if key.startswith(prefix)}
