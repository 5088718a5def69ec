"""The ACR token exchange: AAD access token -> ACR refresh token -> ACR access token with
the actions the caller's Azure roles allow on the registry."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from atg_dataplane_sandbox.emulator.common import rbac
from atg_dataplane_sandbox.emulator.common.errors import json_response
from atg_dataplane_sandbox.emulator.common.tokens import TokenError, same_audience

AAD_AUDIENCES = (
    "https://containerregistry.azure.net",
    "https://management.azure.com/",
    "https://management.core.windows.net/",
)
ACTION_RIGHTS = {
    "pull": "Microsoft.ContainerRegistry/registries/pull/read",
    "push": "Microsoft.ContainerRegistry/registries/push/write",
    "delete": "Microsoft.ContainerRegistry/registries/artifacts/delete",
    # Tag and manifest attributes (locks): read with pull, changed with push, as AcrPull and
    # AcrPush allow on a registry without repository permissions.
    "metadata_read": "Microsoft.ContainerRegistry/registries/pull/read",
    "metadata_write": "Microsoft.ContainerRegistry/registries/push/write",
    "*": "Microsoft.ContainerRegistry/registries/pull/read",
}
REFRESH_LIFETIME = 3 * 3600
ACCESS_LIFETIME = 3600


def _error(status: int, message: str) -> web.Response:
    return json_response({"errors": [{"code": "UNAUTHORIZED", "message": message}]}, status)


async def exchange(
    request: web.Request, emu: Any, registry: dict[str, Any], login_server: str, tenant_id: str
) -> web.Response:
    form = await request.post()
    if form.get("grant_type") != "access_token" or not form.get("access_token"):
        return _error(400, "grant_type must be access_token, with an access_token")
    try:
        claims = emu.issuer.validate(str(form["access_token"]), None)
    except TokenError as exc:
        return _error(401, f"invalid AAD access token: {exc}")
    if not any(same_audience(claims.audience, a) for a in AAD_AUDIENCES):
        return _error(401, f"invalid audience {claims.audience}")
    if claims.tenant_id != tenant_id:
        return _error(401, "the access token is from another tenant than the registry")
    now = int(time.time())
    refresh = emu.issuer.sign(
        {
            "aud": login_server,
            "iss": "sandbox-acr",
            "grant_type": "refresh_token",
            "tid": claims.tenant_id,
            "oid": claims.object_id,
            "appid": claims.app_id,
            "iat": now,
            "nbf": now - 5,
            "exp": now + REFRESH_LIFETIME,
        }
    )
    return json_response({"refresh_token": refresh})


def _parse_scopes(text: str) -> list[tuple[str, str, list[str]]]:
    scopes = []
    for item in text.split():
        kind, _, rest = item.partition(":")
        name, _, actions = rest.rpartition(":")
        scopes.append((kind, name, [a for a in actions.split(",") if a]))
    return scopes


async def token(
    request: web.Request, emu: Any, registry: dict[str, Any], login_server: str
) -> web.Response:
    form = await request.post()
    if form.get("grant_type") != "refresh_token":
        return _error(400, "grant_type must be refresh_token")
    try:
        refresh = emu.issuer.decode(str(form.get("refresh_token", "")))
    except TokenError as exc:
        return _error(401, f"invalid refresh token: {exc}")
    if refresh.get("aud") != login_server or refresh.get("grant_type") != "refresh_token":
        return _error(401, "the refresh token is for another registry")
    assignments = list(emu.store.section("role_assignments").values())
    blocks = rbac.permissions_at(
        assignments, str(refresh["oid"]), registry["id"], emu.store.section("role_definitions")
    )
    access = []
    for kind, name, actions in _parse_scopes(str(form.get("scope", ""))):
        granted = [
            a for a in actions if a in ACTION_RIGHTS and rbac.is_allowed(blocks, ACTION_RIGHTS[a])
        ]
        access.append({"type": kind, "name": name, "actions": granted})
    now = int(time.time())
    access_token = emu.issuer.sign(
        {
            "aud": login_server,
            "iss": "sandbox-acr",
            "grant_type": "access_token",
            "tid": refresh["tid"],
            "oid": refresh["oid"],
            "access": access,
            "iat": now,
            "nbf": now - 5,
            "exp": now + ACCESS_LIFETIME,
        }
    )
    return json_response({"access_token": access_token})


def allowed(claims: dict[str, Any], kind: str, name: str, action: str) -> bool:
    for entry in claims.get("access") or []:
        if (
            entry.get("type") == kind
            and entry.get("name") in (name, "*")
            and (action in entry.get("actions", []) or "*" in entry.get("actions", []))
        ):
            return True
    return False
