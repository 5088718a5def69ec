"""Key Vault-backed named values point at a vault of the tenant they live in. A copy
points at the counterpart vault (the config's ``[mapping.names]``: the same name when not
mapped), found through ARM, with the same secret name and no version (the target's
versions are its own). Both sides compare the reference as ``vault name/secret``, the
source's vault already mapped, so verify sees a re-pointed reference as equal."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from atg_dataplane import ItemError, ResourceBinding
from atg_dataplane.inventory import arm_client

VAULT_TYPE = "Microsoft.KeyVault/vaults"
API_VERSION = "2023-07-01"


def _vaults(binding: ResourceBinding) -> dict[str, str]:
    """The side's vaults: name (lower case) -> vaultUri, and vault host -> name."""

    def load() -> dict[str, str]:
        client = arm_client(binding.context)
        found: dict[str, str] = {}
        for generic in client.resources.list(filter=f"resourceType eq '{VAULT_TYPE}'"):
            full = client.resources.get_by_id(generic.id, api_version=API_VERSION)
            uri = str((full.properties or {}).get("vaultUri") or "")
            if uri:
                found[str(generic.name).lower()] = uri
                found["host:" + urlsplit(uri).netloc.lower()] = str(generic.name)
        return found

    vaults: dict[str, str] = binding.cached("apimanagement.vaults", load)
    return vaults


def _parts(identifier: str) -> tuple[str, str]:
    """``(vault host, secret name)`` of a secret identifier."""
    url = urlsplit(identifier)
    segments = [s for s in url.path.split("/") if s]
    if len(segments) < 2 or segments[0] != "secrets":
        raise ItemError(f"'{identifier}' is not a Key Vault secret identifier")
    return url.netloc.lower(), segments[1]


def reference(props: dict[str, Any], binding: ResourceBinding) -> dict[str, Any]:
    """``props`` with a Key Vault reference as ``vault name/secret`` (the source's vault
    mapped to its counterpart), for comparing both sides."""
    vault = props.get("keyVault")
    if not isinstance(vault, dict) or not vault.get("secretIdentifier"):
        return props
    host, secret = _parts(str(vault["secretIdentifier"]))
    name = _vaults(binding).get("host:" + host, host)
    if binding.side == "source":
        name = binding.context.target_name(name)
    kept = {
        k: v
        for k, v in vault.items()
        if k not in ("secretIdentifier", "lastStatus", "identityClientId")
    }
    return {**props, "keyVault": {**kept, "secret": f"{name}/{secret}"}}


def repoint(
    props: dict[str, Any], source: ResourceBinding, target: ResourceBinding
) -> dict[str, Any]:
    """For the write: the reference re-pointed at the counterpart vault in the target."""
    vault = props.get("keyVault")
    if not isinstance(vault, dict) or not vault.get("secretIdentifier"):
        return props
    host, secret = _parts(str(vault["secretIdentifier"]))
    source_vault = _vaults(source).get("host:" + host)
    if source_vault is None:
        raise ItemError(
            f"the Key Vault behind {vault['secretIdentifier']} is not in the source subscription",
            remedy="copy the vault too, or give the named value a value in the target by hand",
        )
    wanted = source.context.target_name(source_vault)
    uri = _vaults(target).get(wanted.lower())
    if uri is None:
        raise ItemError(
            f"no vault {wanted!r} in the target for the value's reference to {source_vault!r}",
            remedy="create it (Terraform) or map its name under [mapping.names]",
        )
    # identityClientId names an identity of the source tenant: the target's service reads
    # the vault with its own system-assigned identity instead
    kept = {k: v for k, v in vault.items() if k not in ("lastStatus", "identityClientId")}
    kept["secretIdentifier"] = f"{uri.rstrip('/')}/secrets/{secret}"
    return {**props, "keyVault": kept}
