"""Who may call Blob, Queue and Table with an Entra ID token, checked by the storage
proxies before Azurite sees the request (Azurite's ``--oauth basic`` checks no signature,
tenant or role).

A bearer token must be ours, for ``https://storage.azure.com``, issued by the tenant that
owns the account (another tenant's token: 403 ``AuthenticationFailed``, "Issuer validation
failed", as Azure answers it); the principal needs the RBAC action or data action of the
operation at the account, container, queue or table (403 ``AuthorizationPermissionMismatch``
otherwise). Shared Key and SAS requests go on unchecked here: Azurite verifies those
signatures itself.

The operation -> permission table follows Azure's "Authorize with Microsoft Entra ID"
pages for each service, with two simplifications: blob tags and index tags count as
``blobs/write``, and a queue's put message as ``messages/write`` (which the Contributor
roles hold).
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from atg_dataplane_sandbox.emulator.common import rbac
from atg_dataplane_sandbox.emulator.common.auth import bearer_token
from atg_dataplane_sandbox.emulator.common.tokens import Claims, TokenError, same_audience

STORAGE_AUDIENCE = "https://storage.azure.com"
ACCOUNT_TYPE = "microsoft.storage/storageaccounts"
_SA = "Microsoft.Storage/storageAccounts"


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def check(emu: Any, kind: str, request: web.Request) -> None:
    """Raise :class:`Refused` when a token request may not do what it asks."""
    token = bearer_token(request)
    if token is None:
        return
    claims = _claims(emu, token)
    if not same_audience(claims.audience, STORAGE_AUDIENCE):
        raise Refused(401, "InvalidAuthenticationInfo", "Audience validation failed.")
    parts = [p for p in request.path.split("/") if p]
    if not parts:
        return
    account, below = parts[0], parts[1:]
    tenant = account_tenant(emu, account)
    if tenant is None or tenant.tenant_id.lower() != claims.tenant_id.lower():
        raise Refused(
            403,
            "AuthenticationFailed",
            "Server failed to authenticate the request. Issuer validation failed. "
            "Issuer did not match (a token of another tenant, or an account of none).",
        )
    action, data, scope = permission(kind, request.method, below, request.query)
    blocks = rbac.permissions_at(
        emu.store.section("role_assignments").values(),
        claims.object_id,
        account_id(emu, account) + scope,
        emu.store.section("role_definitions"),
    )
    if not rbac.is_allowed(blocks, action, data=data):
        raise Refused(
            403,
            "AuthorizationPermissionMismatch",
            "This request is not authorized to perform this operation using this permission.",
        )


def permission(
    kind: str, method: str, below: list[str], query: Any
) -> tuple[str, bool, str]:
    """``(action, is a data action, scope below the account)`` of one request."""
    reading = method in ("GET", "HEAD")
    if kind == "blob":
        return _blob(method, reading, below, query)
    if kind == "queue":
        return _queue(method, reading, below, query)
    return _table(method, reading, below)


def _blob(method: str, reading: bool, below: list[str], query: Any) -> tuple[str, bool, str]:
    svc = f"{_SA}/blobServices"
    if query.get("comp") == "userdelegationkey":
        return f"{svc}/generateUserDelegationKey/action", False, ""
    if not below:
        return (f"{svc}/containers/read" if reading else f"{svc}/write"), False, ""
    scope = f"/blobServices/default/containers/{below[0]}"
    if len(below) == 1:
        if query.get("comp") == "list" and reading:
            return f"{svc}/containers/blobs/read", True, scope
        verb = "read" if reading else "delete" if method == "DELETE" else "write"
        return f"{svc}/containers/{verb}", False, scope
    verb = "read" if reading else "delete" if method == "DELETE" else "write"
    return f"{svc}/containers/blobs/{verb}", True, scope


def _queue(method: str, reading: bool, below: list[str], query: Any) -> tuple[str, bool, str]:
    svc = f"{_SA}/queueServices"
    if not below:
        return (f"{svc}/queues/read" if reading else f"{svc}/write"), False, ""
    scope = f"/queueServices/default/queues/{below[0]}"
    if len(below) == 1:
        verb = "read" if reading else "delete" if method == "DELETE" else "write"
        return f"{svc}/queues/{verb}", False, scope
    messages = f"{svc}/queues/messages"
    if method == "GET" and str(query.get("peekonly", "")).lower() != "true":
        return f"{messages}/process/action", True, scope  # a dequeue
    verb = "read" if reading else "delete" if method == "DELETE" else "write"
    return f"{messages}/{verb}", True, scope


def _table(method: str, reading: bool, below: list[str]) -> tuple[str, bool, str]:
    svc = f"{_SA}/tableServices"
    if not below:
        return (f"{svc}/tables/read" if reading else f"{svc}/write"), False, ""
    first = below[0]
    if re.fullmatch(r"Tables(\('[^']*'\))?", first, re.I):  # the tables themselves
        name = first[len("tables") :].strip("()'")
        scope = f"/tableServices/default/tables/{name}" if name else ""
        verb = "read" if reading else "delete" if method == "DELETE" else "write"
        return f"{svc}/tables/{verb}", False, scope
    if first == "$batch":
        return f"{svc}/tables/entities/write", True, ""
    table = first.split("(", 1)[0]
    scope = f"/tableServices/default/tables/{table}"
    if reading:
        return f"{svc}/tables/entities/read", True, scope
    if method == "DELETE":
        return f"{svc}/tables/entities/delete", True, scope
    if method == "POST":
        return f"{svc}/tables/entities/add/action", True, scope
    return f"{svc}/tables/entities/update/action", True, scope


def account_id(emu: Any, account: str) -> str:
    """The ARM id of a storage account; for a pool account not (yet) created through ARM,
    an id in its tenant's subscription (so subscription-wide assignments cover it)."""
    resource = emu.resource_named(ACCOUNT_TYPE, account)
    if resource is not None:
        return str(resource["id"])
    tenant = account_tenant(emu, account)
    base = f"/subscriptions/{tenant.subscription_id}/resourceGroups/-" if tenant else ""
    return f"{base}/providers/{_SA}/{account}"


def account_tenant(emu: Any, account: str) -> Any:
    """The topology tenant that owns a pool account (None for an account of none)."""
    accounts = (emu.read_services().get("azurite") or {}).get("accounts") or {}
    name = (accounts.get(account) or {}).get("tenant")
    return emu.topology.tenants.get(name) if name else None


def _claims(emu: Any, token: str) -> Claims:
    try:
        return emu.issuer.validate(token, None)  # remembered there once checked
    except TokenError as exc:
        raise Refused(401, "InvalidAuthenticationInfo", str(exc)) from None
