"""Keys: discovery, backup/restore where Azure allows it, recreation elsewhere.

Key material never leaves a vault through the SDK: ``backup_key`` produces a
blob that Key Vault restores only into a vault of the same subscription and
geography, and exportable keys are released only to an attested environment
(secure key release). Across tenants a key is therefore recreated with the
same type, size or curve and operations, and new key material; every key is
discovered with ``copyable=False`` and a reason that says so.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from typing import Any

from atg_dataplane import (
    DataPlaneItem,
    Fingerprinter,
    ItemError,
    ItemOutcome,
    ReplicationMode,
    ResourceBinding,
    read_ahead,
)
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.keyvault.keys import KeyClient, KeyReleasePolicy, KeyVaultKey

from atg_dataplane_keyvault.clients import vault_clients
from atg_dataplane_keyvault.common import (
    KeyVaultOptions,
    absent_in_target,
    common_attributes,
    parse_iso,
    recover_soft_deleted,
)

KIND = "key"

# Parameters that only a new key (or version) can change; the rest is updated in place.
MATERIAL_PARAMETERS = ("key_type", "key_size", "curve", "exportable", "public_exponent")
UPDATABLE = ("operations", "enabled", "expires_on", "not_before", "tags", "release_policy")

_REMEDY = (
    "Re-encrypt or re-sign what depends on this key with the new one, or, if you hold the "
    "original key material, import it into the target (az keyvault key import --vault-name "
    "{vault} --name {name} --pem-file <file>)"
)
NOT_EXPORTABLE_REASON = (
    "key material cannot leave a vault (the key is not exportable): the target gets a key with "
    "the same type, size or curve and operations but new key material. " + _REMEDY
)
EXPORTABLE_REASON = (
    "key material leaves a vault only through secure key release to an attested environment, and "
    "a key backup restores only into a vault of the same subscription and geography: the target "
    "gets a key with the same type, size or curve, operations and release policy but new key "
    "material. " + _REMEDY
)


def _value(enum_or_str: Any) -> Any:
    return getattr(enum_or_str, "value", enum_or_str)


def key_properties(key: KeyVaultKey) -> dict[str, Any]:
    """What must match between source and target (never key material, ids or timestamps)."""
    jwk = key.key
    key_type = str(_value(key.key_type or getattr(jwk, "kty", None)))
    modulus, public_exponent = getattr(jwk, "n", None), getattr(jwk, "e", None)
    size = (int.from_bytes(modulus, "big").bit_length() + 7) // 8 * 8 if modulus else None
    exponent = int.from_bytes(public_exponent, "big") if public_exponent else None
    curve = getattr(jwk, "crv", None)
    return {
        "key_type": key_type,
        "key_size": size,
        "curve": str(_value(curve)) if curve else None,
        "public_exponent": exponent,
        "operations": sorted(str(_value(op)) for op in (key.key_operations or ())),
        "exportable": bool(key.properties.exportable),
        "release_policy": _release_policy(key.properties.release_policy),
        **common_attributes(key.properties),
    }


def _release_policy(policy: KeyReleasePolicy | None) -> dict[str, Any] | None:
    if policy is None or not policy.encoded_policy:
        return None
    raw = policy.encoded_policy
    try:
        document: Any = json.loads(raw)
    except ValueError:
        document = base64.b64encode(raw).decode()
    return {
        "content_type": policy.content_type,
        "immutable": bool(policy.immutable),
        "policy": document,
    }


def public_fingerprint(key: KeyVaultKey, fingerprinter: Fingerprinter) -> str | None:
    """Keyed hash of the public key (n/e or crv/x/y): equal only for the same key material."""
    part = {name: getattr(key.key, name, None) for name in ("n", "e", "crv", "x", "y")}
    if part["n"]:
        return fingerprinter.of({"kty": "RSA", "n": _b64(part["n"]), "e": _b64(part["e"])})
    if part["x"]:
        return fingerprinter.of(
            {
                "kty": "EC",
                "crv": str(_value(part["crv"])),
                "x": _b64(part["x"]),
                "y": _b64(part["y"]),
            }
        )
    return None  # symmetric (Managed HSM) keys have no public part


def _b64(data: bytes | None) -> str:
    return base64.urlsafe_b64encode(data or b"").decode().rstrip("=")


def discover(
    resource: ResourceBinding,
    mode: ReplicationMode,
    options: KeyVaultOptions,
    fingerprinter: Fingerprinter,
) -> Iterator[DataPlaneItem]:
    """Current versions only: a backup restores every version; recreation makes the current one."""
    client = vault_clients(resource).keys
    # Managed keys back certificates: they are copied with the certificate.
    listed = (p for p in client.list_properties_of_keys() if not p.managed)
    for key in read_ahead(lambda props: client.get_key(props.name), listed):
        props = key.properties
        properties = key_properties(key)
        reason = EXPORTABLE_REASON if properties["exportable"] else NOT_EXPORTABLE_REASON
        yield DataPlaneItem(
            name=props.name,
            kind=KIND,
            source_resource_id=resource.resource.id,
            properties=properties,
            fingerprint=(
                public_fingerprint(key, fingerprinter)
                if mode is ReplicationMode.REPLICATION
                else None
            ),
            copyable=False,
            not_copyable_reason=reason.format(vault="<target vault>", name=props.name),
            recreated=True,  # same parameters, new material: verify looks for it
        )


def replicate(
    item: DataPlaneItem,
    source: ResourceBinding,
    target: ResourceBinding,
    mode: ReplicationMode,
    options: KeyVaultOptions,
    fingerprinter: Fingerprinter,
) -> ItemOutcome:
    client = vault_clients(target).keys
    wanted = dict(item.properties)
    new_material_warning = (
        f"key {item.name!r} was created with new key material (same type, size or curve and "
        "operations); data encrypted, wrapped or signed with the source key cannot be used with "
        "it. " + _REMEDY.format(vault=target.resource.name, name=item.name)
    )
    absent = absent_in_target(target, KIND, item, client.list_properties_of_keys)
    for attempt in range(2):
        try:
            # Known absent: nothing to read (after a recovery, the recovered key is there).
            current = None if absent and not attempt else client.get_key(item.name)
        except ResourceNotFoundError:
            current = None
        try:
            if current is not None:
                return _align(item, client, current, wanted, mode, fingerprinter)
            if mode is ReplicationMode.REPLICATION and _backup_allowed(options, source, target):
                restored = _try_restore(item, source, client)
                if restored is not None:
                    return restored
            _create(client, item.name, wanted)
        except ResourceExistsError as conflict:
            if attempt:
                raise  # still taken after a recovery: not a soft-deleted object
            _recover(item.name, target, conflict)
            continue
        return ItemOutcome(status="replicated", warnings=(new_material_warning,))
    raise AssertionError("unreachable: the second attempt returns or raises")


def _align(
    item: DataPlaneItem,
    client: KeyClient,
    current: KeyVaultKey,
    wanted: dict[str, Any],
    mode: ReplicationMode,
    fingerprinter: Fingerprinter,
) -> ItemOutcome:
    have = key_properties(current)
    same_material = all(have.get(p) == wanted.get(p) for p in MATERIAL_PARAMETERS)
    if same_material:
        if all(have.get(p) == wanted.get(p) for p in UPDATABLE):
            return ItemOutcome(
                status="unchanged", fingerprint=public_fingerprint(current, fingerprinter)
            )
        client.update_key_properties(
            item.name,
            enabled=wanted.get("enabled"),
            expires_on=parse_iso(wanted.get("expires_on")),
            not_before=parse_iso(wanted.get("not_before")),
            tags=dict(wanted.get("tags") or {}),
            key_operations=list(wanted.get("operations") or ()) or None,
            release_policy=_to_release_policy(wanted.get("release_policy")),
        )
        return ItemOutcome(status="replicated")
    if mode is ReplicationMode.TEMPLATE:
        return ItemOutcome(
            status="skipped",
            reason=(
                f"the target already holds key {item.name!r} with other parameters "
                f"({_describe(have)} instead of {_describe(wanted)}); template mode never adds a "
                "version to an existing key. Re-run in replication mode to add one"
            ),
        )
    _create(client, item.name, wanted)
    return ItemOutcome(
        status="replicated",
        warnings=(
            f"key {item.name!r}: the target's key had other parameters ({_describe(have)}); a new "
            f"version ({_describe(wanted)}) with new key material was added",
        ),
    )


def _describe(params: Mapping[str, Any]) -> str:
    size = params.get("key_size") or params.get("curve") or "?"
    return f"{params.get('key_type')} {size}"


def _backup_allowed(
    options: KeyVaultOptions, source: ResourceBinding, target: ResourceBinding
) -> bool:
    if options.key_backup == "never":
        return False
    if options.key_backup == "always":
        return True
    # Key Vault restores a backup only in the subscription (and geography) it came from.
    same_subscription = (
        source.context.subscription_id.lower() == target.context.subscription_id.lower()
    )
    same_place = (source.resource.location or "").lower() == (
        target.resource.location or ""
    ).lower()
    return same_subscription and same_place


def _try_restore(
    item: DataPlaneItem, source: ResourceBinding, client: KeyClient
) -> ItemOutcome | None:
    """Restore the source's backup blob (all versions, same material); None when refused."""
    try:
        blob = vault_clients(source).keys.backup_key(item.name)
    except ResourceNotFoundError:
        raise
    except HttpResponseError as error:
        if error.status_code not in (400, 401, 403):
            raise
        return None  # e.g. no keys/backup permission on the source: recreate instead
    try:
        client.restore_key_backup(blob)
    except ResourceExistsError:
        raise
    except HttpResponseError as error:
        if error.status_code not in (400, 401, 403):
            raise
        return None  # another subscription or geography: recreate instead
    return ItemOutcome(status="replicated", bytes_copied=len(blob), client_bytes=len(blob))


def _create(client: KeyClient, name: str, wanted: Mapping[str, Any]) -> None:
    key_type = str(wanted["key_type"])
    kwargs: dict[str, Any] = {
        "key_operations": list(wanted.get("operations") or ()) or None,
        "enabled": wanted.get("enabled"),
        "expires_on": parse_iso(wanted.get("expires_on")),
        "not_before": parse_iso(wanted.get("not_before")),
        "tags": dict(wanted.get("tags") or {}),
    }
    if wanted.get("key_size") and key_type.upper().startswith("RSA"):
        kwargs["size"] = int(wanted["key_size"])
    if wanted.get("curve"):
        kwargs["curve"] = wanted["curve"]
    if wanted.get("exportable"):
        kwargs["exportable"] = True
        kwargs["release_policy"] = _to_release_policy(wanted.get("release_policy"))
    try:
        client.create_key(name, key_type, **kwargs)
    except ResourceExistsError:
        raise
    except HttpResponseError as error:
        if error.status_code == 400 and key_type.upper().endswith("-HSM"):
            raise ItemError(
                f"key {name!r} is HSM-protected ({key_type}) and the target vault refused to "
                f"create it: {error.message}",
                remedy="use a Premium vault as the target (HSM keys need the premium SKU)",
            ) from None
        raise


def _to_release_policy(document: Mapping[str, Any] | None) -> KeyReleasePolicy | None:
    if not document:
        return None
    policy = document.get("policy")
    encoded = base64.b64decode(policy) if isinstance(policy, str) else json.dumps(policy).encode()
    return KeyReleasePolicy(
        encoded,
        content_type=document.get("content_type"),
        immutable=document.get("immutable"),
    )


def _recover(name: str, target: ResourceBinding, conflict: HttpResponseError) -> None:
    client = vault_clients(target).keys
    recover_soft_deleted(
        kind=KIND,
        name=name,
        target=target,
        get_deleted=client.get_deleted_key,
        begin_recover=client.begin_recover_deleted_key,
        conflict=conflict,
    )


def fingerprint(
    item: DataPlaneItem,
    resource: ResourceBinding,
    mode: ReplicationMode,
    fingerprinter: Fingerprinter,
) -> str | None:
    if mode is ReplicationMode.TEMPLATE or item.fingerprint:
        return None
    return public_fingerprint(vault_clients(resource).keys.get_key(item.name), fingerprinter)
