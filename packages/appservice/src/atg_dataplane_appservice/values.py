"""What an app setting, connection string or storage mount becomes in the target.

A value that points at a resource of the source tenant is rewritten, in both modes, to
point at that resource's counterpart (``atg_dataplane.counterparts``: the same name or
the config's ``[mapping.names]``):

* a Key Vault reference ``@Microsoft.KeyVault(SecretUri=...)`` or
  ``@Microsoft.KeyVault(VaultName=...;SecretName=...)`` names the counterpart vault, with
  no secret version (the target's versions are its own: the latest is read);
* a storage connection string names the counterpart account with the target's own key
  and endpoints;
* a URL into a source storage account points at the same path in the counterpart; one
  with a SAS that names a blob gets the blob copied and a SAS of the target's own in
  replication mode (``packages.py``), the path alone in template mode.

Any other value is copied in replication mode and becomes a clearly marked placeholder in
template mode. Both sides are compared on :func:`form`: the reference with the source's
resource already mapped, or ``value`` (compared by keyed hash in replication mode).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from atg_dataplane import ItemError, ResourceBinding
from atg_dataplane.counterparts import (
    STORAGE_ACCOUNTS,
    VAULTS,
    counterpart,
    mapped_url,
    owner,
    repoint_url,
)

from atg_dataplane_appservice import packages

PLACEHOLDER = "atg-dataplane-template-placeholder"
PLATFORM_SETTINGS = (
    "AzureWebJobsStorage",
    "AzureWebJobsDashboard",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "WEBSITE_CONTENTSHARE",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPINSIGHTS_INSTRUMENTATIONKEY",
)
"""Settings the target's platform owns (Terraform creates them with the target's own
storage and monitoring): kept as the target has them, never compared. The config's
``appservice.platform_settings`` replaces the list."""
_KEYVAULT = re.compile(r"^@Microsoft\.KeyVault\((?P<body>.*)\)\s*$", re.IGNORECASE | re.DOTALL)
_ENDPOINTS = ("blobendpoint", "queueendpoint", "tableendpoint", "fileendpoint")


def platform_settings(options: Mapping[str, Any]) -> frozenset[str]:
    names = options.get("appservice.platform_settings")
    chosen = PLATFORM_SETTINGS if names is None else tuple(names)
    return frozenset(str(name).lower() for name in chosen)


def _pairs(text: str) -> dict[str, str]:
    """``k=v;k=v`` as a dict keyed by lower-case key (values keep their ``=``)."""
    out: dict[str, str] = {}
    for part in text.split(";"):
        key, sep, value = part.partition("=")
        if sep and key.strip():
            out[key.strip().lower()] = value.strip()
    return out


def _keyvault(value: str) -> dict[str, str] | None:
    found = _KEYVAULT.match(value.strip())
    return _pairs(found.group("body")) if found else None


def _storage(value: str) -> dict[str, str] | None:
    pairs = _pairs(value) if "=" in value and ";" in value else {}
    if "accountname" in pairs and ("accountkey" in pairs or "sharedaccesssignature" in pairs):
        return pairs
    return None


def _unversioned(secret_uri: str) -> str:
    """A secret URI without its version: ``https://vault/secrets/name``."""
    url = urlsplit(secret_uri)
    segments = [s for s in url.path.split("/") if s]
    if len(segments) < 2 or segments[0].lower() != "secrets":
        raise ItemError("a Key Vault reference's SecretUri is not a secret's URI")
    return f"{url.scheme}://{url.netloc}/secrets/{segments[1]}"


def _is_url(value: str) -> bool:
    return value[:8].lower() == "https://"


def form(value: str, binding: ResourceBinding) -> str:
    """What both sides compare: the reference with the source's resource mapped to its
    target name, or ``value`` for a plain value."""
    vault = _keyvault(value)
    if vault is not None:
        if "secreturi" in vault:
            try:
                uri = _unversioned(vault["secreturi"])
            except ItemError:  # the app cannot resolve it either: compared as written
                return "keyvault:" + vault["secreturi"]
            return "keyvault:" + mapped_url(binding, VAULTS, uri)
        name = vault.get("vaultname", "")
        if binding.side == "source":
            name = binding.context.target_name(name)
        return f"keyvault:{name.lower()}:vault/secrets/{vault.get('secretname', '')}"
    storage = _storage(value)
    if storage is not None:
        name = storage["accountname"]
        if binding.side == "source":
            name = binding.context.target_name(name)
        return f"storage:{name.lower()}"
    if _is_url(value) and owner(binding.context, STORAGE_ACCOUNTS, value):
        # the path, not its SAS: each side's signature is its own
        return "url:" + mapped_url(binding, STORAGE_ACCOUNTS, value.split("?", 1)[0])
    return "value"


def written(
    value: str,
    source: ResourceBinding,
    target: ResourceBinding,
    replication: bool,
    account_key: Any,
    copy_blob: Any = None,
) -> str:
    """The value to write in the target (``account_key(endpoint)``: the target account's
    key, for a rewritten connection string; ``copy_blob(source URL, target URL, endpoint)``:
    a blob URL with a SAS, copied in replication mode, see ``packages.py``)."""
    vault = _keyvault(value)
    if vault is not None:
        if "secreturi" in vault:
            uri = _unversioned(vault["secreturi"])
            found = owner(source.context, VAULTS, uri)
            if found is None:
                raise ItemError(
                    f"the vault behind a Key Vault reference ({urlsplit(uri).netloc}) is not "
                    "in the source subscription",
                    remedy="copy the vault too, or set the setting in the target by hand",
                )
            return f"@Microsoft.KeyVault(SecretUri={repoint_url(source, target, VAULTS, uri)})"
        name = source.context.target_name(vault.get("vaultname", ""))
        return f"@Microsoft.KeyVault(VaultName={name};SecretName={vault.get('secretname', '')})"
    storage = _storage(value)
    if storage is not None:
        return _connection_string(value, storage, source, target, account_key)
    found = owner(source.context, STORAGE_ACCOUNTS, value) if _is_url(value) else None
    if found is not None:
        there = counterpart(source, target, STORAGE_ACCOUNTS, found.name, found.label)
        moved = repoint_url(source, target, STORAGE_ACCOUNTS, value.split("?", 1)[0])
        if "sig=" not in value.lower():
            return moved
        if not packages.is_blob_sas(value) or (replication and copy_blob is None):
            raise ItemError(
                "the URL carries a SAS signed by the source account and names no single blob",
                remedy="issue a SAS in the target account and set the setting by hand",
            )
        # template mode: the path only (structure); replication: the blob and a new SAS
        return copy_blob(value, moved, there) if replication else moved
    return value if replication else PLACEHOLDER


def _connection_string(
    value: str,
    pairs: dict[str, str],
    source: ResourceBinding,
    target: ResourceBinding,
    account_key: Any,
) -> str:
    if "accountkey" not in pairs:
        raise ItemError(
            "the connection string carries a SAS signed by the source account",
            remedy="issue a SAS in the target account and set the setting by hand",
        )
    there = counterpart(source, target, STORAGE_ACCOUNTS, pairs["accountname"], "blob")
    out = []
    for part in value.split(";"):
        key, sep, rest = part.partition("=")
        low = key.strip().lower()
        if not sep:
            continue
        if low == "accountname":
            rest = there.name
        elif low == "accountkey":
            rest = account_key(there)
        elif low in _ENDPOINTS:
            rest = repoint_url(source, target, STORAGE_ACCOUNTS, rest)
        out.append(f"{key}={rest}")
    return ";".join(out)
