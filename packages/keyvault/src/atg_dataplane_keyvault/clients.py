"""Key Vault SDK clients for one side, built once per vault and run.

Every client shares the side's transport (CA bundle, pooled connections sized
to the engine's concurrency, the engine's retry policy that honours
``Retry-After``) through ``SideContext.client_kwargs()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from atg_dataplane import ResourceBinding
from azure.keyvault.certificates import CertificateClient
from azure.keyvault.keys import KeyClient
from azure.keyvault.secrets import SecretClient

_CACHE_KEY = "keyvault.clients"


@dataclass(frozen=True)
class VaultClients:
    vault_url: str
    vault_name: str
    secrets: SecretClient
    keys: KeyClient
    certificates: CertificateClient


def vault_url(binding: ResourceBinding) -> str:
    """The vault's data-plane URL from its ARM properties (``properties.vaultUri``)."""
    url = binding.resource.properties.get("vaultUri") or binding.resource.properties.get("vaultUrl")
    suffix = binding.context.cloud.suffixes.get("keyvault")
    if not url and suffix:
        # Every vault of a known cloud lives at https://{name}.{suffix}/.
        url = f"https://{binding.resource.name}.{str(suffix).lstrip('.')}/"
    if not url:
        raise ValueError(
            f"{binding.resource.id}: the ARM resource has no properties.vaultUri; "
            "export the vault with its properties (az keyvault show) so the plugin can reach it"
        )
    if not str(url).startswith("https://"):
        raise ValueError(f"{binding.resource.id}: vaultUri {url!r} is not an https:// URL")
    return str(url)


def challenge_kwargs(binding: ResourceBinding, url: str) -> dict[str, Any]:
    """``verify_challenge_resource=False`` only for vaults outside the cloud's Key Vault suffix.

    The SDK checks that the resource named in Key Vault's 401 challenge
    (``https://vault.azure.net``) is a parent domain of the vault's host, so a
    token is never sent to a host that only claims to be a vault. A vault under
    ``*.vault.azure.net`` passes that check, so it stays on there. An emulated
    or custom-cloud vault (``https://127.0.0.1:PORT``, a private DNS name) would
    fail it: the check is turned off for that vault alone.
    """
    host = (urlparse(url).hostname or "").lower()
    suffix = str(binding.context.cloud.suffixes.get("keyvault", "")).lower().lstrip(".")
    if suffix and host.endswith("." + suffix):
        return {}
    return {"verify_challenge_resource": False}


def vault_clients(binding: ResourceBinding) -> VaultClients:
    """The three Key Vault clients of ``binding``'s vault, cached for the run."""
    clients: VaultClients = binding.cached(_CACHE_KEY, lambda: _build(binding))
    return clients


def _build(binding: ResourceBinding) -> VaultClients:
    url = vault_url(binding)
    credential = binding.context.credential

    def kwargs() -> dict[str, Any]:
        # A fresh dict per client: the transport object is per client, the
        # pooled session behind it is shared by the side.
        return {**binding.context.client_kwargs(), **challenge_kwargs(binding, url)}

    return VaultClients(
        vault_url=url,
        vault_name=binding.resource.name,
        secrets=SecretClient(url, credential, **kwargs()),
        keys=KeyClient(url, credential, **kwargs()),
        certificates=CertificateClient(url, credential, **kwargs()),
    )
