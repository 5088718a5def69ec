"""Who may call a Cosmos DB account (through its proxy, ``proxy.py``): a request
signed with one of the account's keys, or carrying an Entra ID token of the account's tenant
whose principal the account's native RBAC allows the request's data actions.

The rules themselves are :mod:`.auth` (signatures, dates, data actions) and
:mod:`.rbac` (role assignments); this module reads them off a request and the
emulator's state, and says why a request is refused, in Cosmos DB's words.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from atg_dataplane_sandbox.emulator.common import rbac
from atg_dataplane_sandbox.emulator.common.tokens import TokenError, same_audience
from atg_dataplane_sandbox.emulator.cosmos import auth as cosmos_auth
from atg_dataplane_sandbox.emulator.cosmos import rbac as cosmos_rbac

GLOBAL_AUDIENCE = "https://cosmos.azure.com"
_RBAC_HELP = "Learn more: https://aka.ms/cosmos-native-rbac."


@dataclass(frozen=True)
class Denial:
    status: int
    code: str
    message: str
    substatus: int = 0


def _unauthorized(message: str) -> Denial:
    return Denial(401, "Unauthorized", message)


def check(
    emu: Any, account: str, method: str, raw_path: str, host: str, headers: Mapping[str, str]
) -> Denial | None:
    """None when the request may go on to the account's server; else why not."""
    lower = {k.lower(): v for k, v in headers.items()}
    header = lower.get("authorization", "")
    if not header:
        return _unauthorized(
            "Required Header authorization is missing. Ensure a valid Authorization token "
            "is passed."
        )
    auth = cosmos_auth.parse_authorization(header)
    if auth is None or auth.type not in ("master", "aad"):
        return _unauthorized(
            "The authorization header is not valid: expected type=master or type=aad, "
            "ver=1.0 and sig."
        )
    resource = cosmos_auth.resource_of(raw_path)
    if auth.type == "master":
        return _check_key(emu, account, method, resource, lower, auth.signature)
    return _check_token(emu, account, method, resource, host, lower, auth.signature)


def _check_key(
    emu: Any,
    account: str,
    method: str,
    resource: cosmos_auth.Resource,
    headers: dict[str, str],
    signature: str,
) -> Denial | None:
    arm = cosmos_rbac.account_resource(emu, account) or {}
    if (arm.get("properties") or {}).get("disableLocalAuth"):
        return _unauthorized(
            "Local Authorization is disabled. Use an AAD token to authorize all requests."
        )
    date_text = headers.get("x-ms-date") or headers.get("date") or ""
    date = cosmos_auth.parse_date(date_text)
    if date is None:
        return _unauthorized(
            "The input date header is invalid format. Please pass in RFC 1123 style date format."
        )
    skew = cosmos_auth.skew_error(date, dt.datetime.now(dt.UTC))
    if skew is not None:
        return Denial(403, "Forbidden", skew)
    primary = emu.read_account_key("cosmos", account)
    keys = cosmos_auth.account_keys(primary) if primary else None
    text = cosmos_auth.string_to_sign(method, resource.type, resource.link, date_text)
    if keys is not None:
        # A read-only key does not sign writes: the service finds no matching signature.
        allowed = keys.read_write + (keys.read_only if cosmos_auth.is_read(method, headers) else [])
        if cosmos_auth.matching_key(signature, text, allowed):
            return None
    return _unauthorized(
        "The input authorization token can't serve the request. The wrong key is being used "
        "or the expected payload is not built as per the protocol. For more info: "
        "https://aka.ms/cosmosdb-tsg-unauthorized. Server used the following payload to "
        f"sign: '{text}'"
    )


def _check_token(
    emu: Any,
    account: str,
    method: str,
    resource: cosmos_auth.Resource,
    host: str,
    headers: dict[str, str],
    token: str,
) -> Denial | None:
    try:
        claims = emu.issuer.validate(token, None)
    except TokenError as exc:
        return _unauthorized(str(exc))
    # The SDKs ask for ``{scheme}://{endpoint host}/.default`` (the account's own name in
    # Azure; 127.0.0.1 here), or Cosmos DB's global resource.
    audiences = (
        GLOBAL_AUDIENCE,
        f"https://{account}.documents.azure.com",
        "https://" + host.rsplit(":", 1)[0],
    )
    if not any(same_audience(claims.audience, a) for a in audiences):
        return _unauthorized(f"The access token audience '{claims.audience}' is invalid.")
    arm = cosmos_rbac.account_resource(emu, account)
    tenant_id = _tenant_id(emu, account, arm)
    if tenant_id is None or tenant_id.lower() != claims.tenant_id.lower():
        return _unauthorized(
            f"The access token is from the wrong issuer '{claims.issuer}'. It must match the "
            f"tenant of this account (https://sts.windows.net/{tenant_id}/)."
        )
    actions = cosmos_auth.data_actions(method, resource, headers)
    if actions is None:
        path = "/" + "/".join(resource.segments)
        return Denial(
            403,
            "Forbidden",
            f"Request blocked by Auth {account} : The given request [{method} {path}] cannot "
            f"be authorized by AAD token in data plane. {_RBAC_HELP}",
            substatus=5300,
        )
    account_id = str((arm or {}).get("id", ""))
    scope = account_id + resource.rbac_path.rstrip("/")
    blocks = cosmos_rbac.permissions(emu, account_id, claims.object_id, scope) if arm else []
    for action in actions:
        if not rbac.is_allowed(blocks, action, data=True):
            return Denial(
                403,
                "Forbidden",
                f"Request blocked by Auth {account} : Request is blocked because principal "
                f"[{claims.object_id}] does not have required RBAC permissions to perform "
                f"action [{action}] on resource [{resource.rbac_path}]. {_RBAC_HELP}",
                substatus=5301,
            )
    return None


def _tenant_id(emu: Any, account: str, arm: dict[str, Any] | None) -> str | None:
    """The tenant of the subscription holding the account (else services.json's pool)."""
    if arm is not None:
        subscription = str(arm["id"]).split("/")[2].lower()
        for tenant in emu.topology.tenants.values():
            if tenant.subscription_id.lower() == subscription:
                return str(tenant.tenant_id)
    accounts = (emu.read_services().get("cosmos") or {}).get("accounts") or {}
    name = (accounts.get(account) or {}).get("tenant")
    tenant = emu.topology.tenants.get(name) if name else None
    return str(tenant.tenant_id) if tenant else None
