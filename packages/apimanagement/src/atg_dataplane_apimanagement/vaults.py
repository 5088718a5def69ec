"""Key Vault-backed named values point at a vault of the tenant they live in. A copy
points at the counterpart vault (the config's ``[mapping.names]``: the same name when not
mapped), found through ARM, with the same secret name and no version (the target's
versions are its own). Both sides compare the reference as ``vault name/secret``, the
source's vault already mapped, so verify sees a re-pointed reference as equal."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from atg_dataplane import ItemError, ResourceBinding
from atg_dataplane.counterparts import VAULTS, owner, repoint_url


def _secret(identifier: str) -> str:
    """The secret's name in a secret identifier."""
    segments = [s for s in urlsplit(identifier).path.split("/") if s]
    if len(segments) < 2 or segments[0] != "secrets":
        raise ItemError(f"'{identifier}' is not a Key Vault secret identifier")
    return segments[1]


def reference(props: dict[str, Any], binding: ResourceBinding) -> dict[str, Any]:
    """``props`` with a Key Vault reference as ``vault name/secret`` (the source's vault
    mapped to its counterpart), for comparing both sides."""
    vault = props.get("keyVault")
    if not isinstance(vault, dict) or not vault.get("secretIdentifier"):
        return props
    identifier = str(vault["secretIdentifier"])
    found = owner(binding.context, VAULTS, identifier)
    name = found.name if found else urlsplit(identifier).netloc.lower()
    if binding.side == "source":
        name = binding.context.target_name(name)
    kept = {
        k: v
        for k, v in vault.items()
        if k not in ("secretIdentifier", "lastStatus", "identityClientId")
    }
    return {**props, "keyVault": {**kept, "secret": f"{name}/{_secret(identifier)}"}}


def repoint(
    props: dict[str, Any], source: ResourceBinding, target: ResourceBinding
) -> dict[str, Any]:
    """For the write: the reference re-pointed at the counterpart vault in the target."""
    vault = props.get("keyVault")
    if not isinstance(vault, dict) or not vault.get("secretIdentifier"):
        return props
    identifier = str(vault["secretIdentifier"])
    found = owner(source.context, VAULTS, identifier)
    if found is None:
        raise ItemError(
            f"the Key Vault behind {identifier} is not in the source subscription",
            remedy="copy the vault too, or give the named value a value in the target by hand",
        )
    unversioned = f"{found.url.rstrip('/')}/secrets/{_secret(identifier)}"
    # identityClientId names an identity of the source tenant: the target's service reads
    # the vault with its own system-assigned identity instead
    kept = {k: v for k, v in vault.items() if k not in ("lastStatus", "identityClientId")}
    kept["secretIdentifier"] = repoint_url(source, target, VAULTS, unversioned)
    return {**props, "keyVault": kept}
