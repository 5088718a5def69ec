"""One credential chain per side: source and target are different tenants.

Order: an explicit service principal from the config or command line; else
environment variables and the rest of DefaultAzureCredential; the
interactive browser only with ``--interactive``.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from typing import Any

from atg_dataplane.config import ConfigError, SideConfig

_AADSTS = re.compile(r"(AADSTS\d+)[:\s]+([^\r\n.]*)")

_HINTS = {
    "AADSTS7000215": "the client secret is wrong: check the secret file or variable",
    "AADSTS7000222": "the client secret has expired: create a new one for the app registration",
    "AADSTS700016": "no such application in this tenant: check client_id and tenant_id",
    "AADSTS90002": "no such tenant: check tenant_id",
}


class CredentialError(RuntimeError):
    """A credential that cannot get a token, as one actionable line."""


def build_credential(side: SideConfig, *, interactive: bool = False) -> Any:
    from azure.identity import (
        ClientSecretCredential,
        DefaultAzureCredential,
        InteractiveBrowserCredential,
    )

    cloud = side.cloud
    common: dict[str, Any] = {"authority": cloud.authority_host}
    if cloud.ca_bundle:
        common["connection_verify"] = cloud.ca_bundle
    custom = cloud.name.lower() not in {"azurepubliccloud", "azureusgovernment", "azurechinacloud"}
    if custom:
        common["disable_instance_discovery"] = True
    cred = side.credential
    if cred.explicit:
        try:
            secret = cred.read_secret()
        except ConfigError as exc:
            raise ConfigError(f"{side.name} credential: {exc}") from None
        tenant = cred.tenant_id or side.tenant_id
        return SharedTokens(ClientSecretCredential(tenant, cred.client_id, secret, **common))
    if cred.client_id and not cred.explicit:
        raise ConfigError(
            f"[{side.name}.credential] has client_id but no client_secret_file or client_secret_env"
        )
    if interactive:
        return SharedTokens(InteractiveBrowserCredential(tenant_id=side.tenant_id, **common))
    # One DefaultAzureCredential serves both sides (Azure CLI, managed identity, ...);
    # each side pins its own tenant on every token request.
    chain = DefaultAzureCredential(
        exclude_interactive_browser_credential=True,
        additionally_allowed_tenants=["*"],
        **common,
    )
    return SharedTokens(TenantPinned(chain, side.tenant_id))


class SharedTokens:
    """One token request at a time per scope, so that clients share the first token.

    A run starts dozens of SDK clients at once (three per vault, three per storage
    account); each asks its credential for a token on its first request, and
    azure-identity sends every request that finds its cache still empty to the
    identity provider. Here the first caller of a scope fetches the token while
    the others wait, then find it in the credential's cache.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self._locks: dict[tuple[Any, ...], threading.Lock] = {}
        self._guard = threading.Lock()

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        key = (scopes, *sorted((k, repr(v)) for k, v in kwargs.items()))
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            return self.inner.get_token(*scopes, **kwargs)

    def close(self) -> None:
        self.inner.close()

    def __repr__(self) -> str:
        return repr(self.inner)


class TenantPinned:
    """A credential that asks for tokens of one tenant, whatever its default is."""

    def __init__(self, inner: Any, tenant_id: str) -> None:
        self.inner = inner
        self.tenant_id = tenant_id

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        kwargs.setdefault("tenant_id", self.tenant_id)
        return self.inner.get_token(*scopes, **kwargs)

    def close(self) -> None:
        self.inner.close()

    def __repr__(self) -> str:
        return f"TenantPinned({type(self.inner).__name__}, tenant={self.tenant_id})"


def describe_auth_error(exc: BaseException, side: SideConfig) -> str:
    """Turn an azure-identity error into one line naming the side and the fix."""
    text = str(getattr(exc, "message", "") or exc)
    match = _AADSTS.search(text)
    if match:
        code = match.group(1)
        hint = _HINTS.get(code, match.group(2).strip())
        return f"{side.name} credential refused ({code}): {hint}"
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return f"{side.name} credential cannot get a token: {first}"


def token_claims(credential: Any, scope: str) -> dict[str, Any]:
    """Get a token and return its (unverified) claims: tid, oid, appid."""
    token = credential.get_token(scope).token
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        return dict(json.loads(base64.urlsafe_b64decode(payload)))
    except (IndexError, ValueError):
        return {}


def check_credential(credential: Any, side: SideConfig) -> dict[str, Any]:
    """Get an ARM token now, so a bad credential fails before any work.

    Also refuses a credential that authenticates to another tenant than the
    config names (credentials for the wrong tenant).
    """
    try:
        claims = token_claims(credential, side.cloud.arm_scope)
    except Exception as exc:
        raise CredentialError(describe_auth_error(exc, side)) from None
    tid = claims.get("tid")
    if tid and tid.lower() != side.tenant_id.lower():
        raise CredentialError(
            f"{side.name} credential belongs to tenant {tid}, but the config's "
            f"{side.name}.tenant_id is {side.tenant_id}: use a principal of that tenant"
        )
    return claims
