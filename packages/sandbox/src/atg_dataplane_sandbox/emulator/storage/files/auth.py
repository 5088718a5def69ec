"""Who may call the File service: Shared Key, a service SAS, or an Entra token (backup intent).

* Shared Key (``Authorization: SharedKey account:signature``): the string-to-sign of the
  Blob/Queue/File services (verb, the standard headers, canonicalized ``x-ms-`` headers,
  canonicalized resource with the query), HMAC-SHA256 with the account key.
* Service SAS (``sv``, ``sr`` = ``f`` or ``s``, ``sp``, ``st``/``se``, ``spr``, ``sig``):
  string-to-sign ``sp st se /file/account/path si sip spr sv rscc rscd rsce rscl rsct``; the
  SAS covers one file (``sr=f``) or everything in one share (``sr=s``).
* Bearer token of the account's tenant with audience ``https://storage.azure.com``; Azure
  Files takes tokens only with ``x-ms-file-request-intent: backup``, for file and directory
  operations (not share or service ones), and checks RBAC data actions at the share's scope.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import unquote

from aiohttp import web

from atg_dataplane_sandbox.emulator.common import rbac
from atg_dataplane_sandbox.emulator.common.auth import bearer_token
from atg_dataplane_sandbox.emulator.common.context import EMU
from atg_dataplane_sandbox.emulator.common.tokens import TokenError, same_audience
from atg_dataplane_sandbox.emulator.storage.access import (
    STORAGE_AUDIENCE,
    account_id,
    account_tenant,
)

_FS = "Microsoft.Storage/storageAccounts/fileServices"
DATA_ACTIONS = {
    "read": (f"{_FS}/fileshares/files/read", f"{_FS}/readFileBackupSemantics/action"),
    "write": (f"{_FS}/fileshares/files/write", f"{_FS}/writeFileBackupSemantics/action"),
    "delete": (f"{_FS}/fileshares/files/delete", f"{_FS}/writeFileBackupSemantics/action"),
}
# SAS permission letter each kind of operation needs.
_SAS_LETTER = {"read": "r", "list": "l", "write": "w", "create": "c", "delete": "d"}
_STANDARD_HEADERS = (
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
)


class FileAuthError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class Caller:
    kind: str
    """``key``, ``sas`` or ``token``."""
    object_id: str = ""


def sign(key: str, text: str) -> str:
    digest = hmac.new(base64.b64decode(key), text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _failed(detail: str) -> FileAuthError:
    return FileAuthError(
        403,
        "AuthenticationFailed",
        "Server failed to authenticate the request. Make sure the value of Authorization header "
        f"is formed correctly including the signature. {detail}".strip(),
    )


def authenticate(
    request: web.Request,
    account: str,
    share: str,
    path: str,
    operation: str,
    *,
    share_level: bool,
) -> Caller:
    """Raise :class:`FileAuthError` unless the caller may do ``operation`` here.

    ``operation`` is ``read``, ``list``, ``write``, ``create`` or ``delete``.
    """
    emu = request.app[EMU]
    key = emu.read_account_key("azurite", account)
    if key is None:
        raise FileAuthError(404, "ResourceNotFound", f"The account {account} does not exist.")
    header = request.headers.get("Authorization", "")
    if header.startswith("SharedKey "):
        _check_shared_key(request, account, key, header)
        return Caller("key")
    if "sig" in request.query:
        check_sas(dict(request.query), account, share, path, operation, key)
        return Caller("sas")
    token = bearer_token(request)
    if token is None:
        raise FileAuthError(
            401, "NoAuthenticationInformation", "Server failed to authenticate the request."
        )
    return _check_token(request, account, share, token, operation, share_level=share_level)


def _check_shared_key(request: web.Request, account: str, key: str, header: str) -> None:
    name, _, signature = header[len("SharedKey ") :].partition(":")
    if name != account:
        raise _failed("The account in the Authorization header is not this account.")
    headers = {k.lower(): v for k, v in request.headers.items()}
    if headers.get("content-length") == "0":
        headers.pop("content-length")
    parts = [request.method] + [headers.get(h, "") for h in _STANDARD_HEADERS]
    x_ms = sorted((k, v.strip()) for k, v in headers.items() if k.startswith("x-ms-"))
    canonical_headers = "".join(f"{k}:{v}\n" for k, v in x_ms)
    raw_path = request.raw_path.split("?", 1)[0]
    query = "".join(
        f"\n{k}:{','.join(sorted(unquote(v) for v in request.query.getall(k)))}"
        for k in sorted({k.lower() for k in request.query})
    )
    # Path-style addressing (host is an IP) repeats the account: /account/account/share/...
    for resource in (f"/{account}{raw_path}", raw_path):
        text = "\n".join(parts) + "\n" + canonical_headers + resource + query
        if hmac.compare_digest(sign(key, text), signature):
            return
    raise _failed("The MAC signature found in the HTTP request is not the same as any computed.")


def check_sas(
    query: dict[str, str], account: str, share: str, path: str, operation: str, key: str
) -> None:
    """Validate a file service SAS against one share/path (raises FileAuthError)."""
    resource_type = query.get("sr", "")
    if resource_type not in ("f", "s"):
        raise _failed("Only service SAS for files (sr=f) and shares (sr=s) are supported.")
    signed_path = f"/{share}/{path}" if resource_type == "f" else f"/{share}"
    fields = [
        query.get("sp", ""),
        query.get("st", ""),
        query.get("se", ""),
        f"/file/{account}{signed_path}",
        query.get("si", ""),
        query.get("sip", ""),
        query.get("spr", ""),
        query.get("sv", ""),
        query.get("rscc", ""),
        query.get("rscd", ""),
        query.get("rsce", ""),
        query.get("rscl", ""),
        query.get("rsct", ""),
    ]
    if not hmac.compare_digest(sign(key, "\n".join(fields)), query.get("sig", "")):
        raise _failed("Signature did not match.")
    current = dt.datetime.now(dt.UTC)
    if _parse(query.get("se")) is None or _parse(query.get("se")) < current:  # type: ignore[operator]
        raise _failed("Signed expiry time has passed or is missing.")
    start = _parse(query.get("st"))
    if start is not None and start > current + dt.timedelta(minutes=1):
        raise _failed("Signed start time is in the future.")
    if _SAS_LETTER.get(operation, "?") not in query.get("sp", ""):
        raise FileAuthError(
            403,
            "AuthorizationPermissionMismatch",
            "This request is not authorized to perform this operation using this permission.",
        )


def _parse(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _check_token(
    request: web.Request,
    account: str,
    share: str,
    token: str,
    operation: str,
    *,
    share_level: bool,
) -> Caller:
    emu = request.app[EMU]
    try:
        claims = emu.issuer.validate(token, None)
    except TokenError as exc:
        raise FileAuthError(401, "InvalidAuthenticationInfo", str(exc)) from None
    if not same_audience(claims.audience, STORAGE_AUDIENCE):
        raise FileAuthError(401, "InvalidAuthenticationInfo", "Audience validation failed.")
    if request.headers.get("x-ms-file-request-intent", "").lower() != "backup":
        raise FileAuthError(
            400,
            "MissingRequiredHeader",
            "An HTTP header that's mandatory for this request is not specified: "
            "x-ms-file-request-intent (Azure Files accepts OAuth only with intent 'backup').",
        )
    if share_level:
        raise FileAuthError(
            403,
            "FileOAuthManagementApiRestrictedToSrp",
            "Share and service operations are not supported with OAuth; use ARM or Shared Key.",
        )
    tenant = account_tenant(emu, account)
    if tenant is None or tenant.tenant_id.lower() != claims.tenant_id.lower():
        raise FileAuthError(
            401, "InvalidAuthenticationInfo", "Issuer validation failed: token of another tenant."
        )
    scope = account_id(emu, account) + f"/fileServices/default/fileshares/{share}"
    blocks = rbac.permissions_at(
        emu.store.section("role_assignments").values(),
        claims.object_id,
        scope,
        emu.store.section("role_definitions"),
    )
    need = DATA_ACTIONS[
        "read" if operation in ("read", "list") else "delete" if operation == "delete" else "write"
    ]
    if not all(rbac.is_allowed(blocks, action, data=True) for action in need):
        raise FileAuthError(
            403,
            "AuthorizationPermissionMismatch",
            "This request is not authorized to perform this operation using this permission.",
        )
    return Caller("token", claims.object_id)
