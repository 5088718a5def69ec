"""Azure RBAC evaluation: wildcards, notActions/notDataActions, scope inheritance."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from atg_dataplane_sandbox.builtin_roles import ROLES_BY_ID


@lru_cache(maxsize=4096)
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile("^" + ".*".join(re.escape(p) for p in pattern.split("*")) + "$", re.I)


def action_matches(pattern: str, action: str) -> bool:
    return bool(_pattern(pattern).match(action))


def scope_covers(assignment_scope: str, scope: str) -> bool:
    """An assignment at ``/subscriptions/s`` covers everything below it (case-insensitive)."""
    outer = assignment_scope.rstrip("/").lower()
    inner = scope.rstrip("/").lower()
    return outer == "/" or inner == outer or inner.startswith(outer + "/")


def role_guid(role_definition_id: str) -> str:
    return role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()


def role_definition(
    role_definition_id: str, custom: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    guid = role_guid(role_definition_id)
    return ROLES_BY_ID.get(guid) or (custom or {}).get(guid)


def permissions_at(
    assignments: Iterable[dict[str, Any]],
    object_id: str,
    scope: str,
    custom_roles: dict[str, Any] | None = None,
) -> list[dict[str, list[str]]]:
    """The permission blocks of every role assigned to ``object_id`` at or above ``scope``."""
    blocks: list[dict[str, list[str]]] = []
    for assignment in assignments:
        if assignment["principalId"].lower() != object_id.lower():
            continue
        if not scope_covers(assignment["scope"], scope):
            continue
        role = role_definition(assignment["roleDefinitionId"], custom_roles)
        if role is not None:
            blocks.extend(role["permissions"])
    return blocks


def is_allowed(blocks: Iterable[dict[str, list[str]]], action: str, data: bool = False) -> bool:
    allow_key, deny_key = ("dataActions", "notDataActions") if data else ("actions", "notActions")
    for block in blocks:
        if any(action_matches(p, action) for p in block.get(allow_key, [])) and not any(
            action_matches(p, action) for p in block.get(deny_key, [])
        ):
            return True
    return False
