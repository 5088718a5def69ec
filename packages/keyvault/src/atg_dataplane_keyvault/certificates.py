"""Certificates: export through the backing secret and import, or recreate from the policy.

A certificate whose private key is exportable is read from the secret that
backs it (PFX or PEM, as its policy's content type says) and imported into the
target: same certificate, same key. A certificate whose key is not exportable
can only be issued again from its policy, which Key Vault does by itself only
for self-signed certificates (issuer ``Self``).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, cast

from atg_dataplane import (
    DataPlaneItem,
    Fingerprinter,
    ItemError,
    ItemOutcome,
    ReplicationMode,
    ResourceBinding,
    read_ahead,
)
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.keyvault.certificates import (
    CertificateClient,
    CertificateOperation,
    CertificatePolicy,
    CertificatePolicyAction,
    CertificateProperties,
    KeyVaultCertificate,
    LifetimeAction,
)

from atg_dataplane_keyvault.clients import vault_clients
from atg_dataplane_keyvault.common import (
    KeyVaultOptions,
    absent_in_target,
    candidates_at,
    oldest_first,
    recover_soft_deleted,
)

KIND = "certificate"
PKCS12 = "application/x-pkcs12"
PEM = "application/x-pem-file"

# Policy fields that decide what Key Vault issues; compared to tell whether the
# target's certificate was made from the same policy.
ISSUANCE_FIELDS = (
    "issuer_name",
    "subject",
    "san_dns_names",
    "san_emails",
    "san_user_principal_names",
    "san_ip_addresses",
    "san_uris",
    "key_type",
    "key_size",
    "key_curve_name",
    "exportable",
    "content_type",
    "validity_in_months",
)


def _value(enum_or_str: Any) -> Any:
    return getattr(enum_or_str, "value", enum_or_str)


def policy_properties(policy: CertificatePolicy | None) -> dict[str, Any]:
    if policy is None:
        return {}
    lists = (
        "san_dns_names",
        "san_emails",
        "san_user_principal_names",
        "san_ip_addresses",
        "san_uris",
        "enhanced_key_usage",
    )
    document: dict[str, Any] = {
        "issuer_name": policy.issuer_name,
        "subject": policy.subject,
        **{name: sorted(getattr(policy, name, None) or []) for name in lists},
        "key_usage": sorted(str(_value(u)) for u in (policy.key_usage or [])),
        "key_type": str(_value(policy.key_type)) if policy.key_type else None,
        "key_size": policy.key_size,
        "key_curve_name": str(_value(policy.key_curve_name)) if policy.key_curve_name else None,
        "exportable": policy.exportable,
        "reuse_key": policy.reuse_key,
        "content_type": str(_value(policy.content_type)) if policy.content_type else None,
        "validity_in_months": policy.validity_in_months,
        "certificate_type": policy.certificate_type,
        "certificate_transparency": policy.certificate_transparency,
        "lifetime_actions": [
            {
                "action": str(_value(a.action)) if a.action else None,
                "lifetime_percentage": a.lifetime_percentage,
                "days_before_expiry": a.days_before_expiry,
            }
            for a in (policy.lifetime_actions or [])
        ],
    }
    return document


def certificate_properties(
    props: CertificateProperties, policy: CertificatePolicy | None
) -> dict[str, Any]:
    """What must match: the policy, enabled and tags (validity dates belong to the content)."""
    return {
        "policy": policy_properties(policy),
        "enabled": props.enabled,
        "tags": dict(sorted((props.tags or {}).items())),
    }


def to_policy(document: Mapping[str, Any]) -> CertificatePolicy:
    def opt_list(name: str) -> list[Any] | None:
        return list(document.get(name) or []) or None

    return CertificatePolicy(
        issuer_name=document.get("issuer_name"),
        subject=document.get("subject"),
        san_dns_names=opt_list("san_dns_names"),
        san_emails=opt_list("san_emails"),
        san_user_principal_names=opt_list("san_user_principal_names"),
        san_ip_addresses=opt_list("san_ip_addresses"),
        san_uris=opt_list("san_uris"),
        enhanced_key_usage=opt_list("enhanced_key_usage"),
        key_usage=opt_list("key_usage"),
        key_type=document.get("key_type"),
        key_size=document.get("key_size"),
        key_curve_name=document.get("key_curve_name"),
        exportable=document.get("exportable"),
        reuse_key=document.get("reuse_key"),
        content_type=document.get("content_type"),
        validity_in_months=document.get("validity_in_months"),
        certificate_type=document.get("certificate_type"),
        certificate_transparency=document.get("certificate_transparency"),
        lifetime_actions=[
            LifetimeAction(
                action=CertificatePolicyAction(a["action"]) if a.get("action") else None,
                lifetime_percentage=a.get("lifetime_percentage"),
                days_before_expiry=a.get("days_before_expiry"),
            )
            for a in document.get("lifetime_actions") or []
        ]
        or None,
    )


PENDING_REASON = (
    "the certificate has not been issued yet (its request is pending in the source vault), so "
    "there is nothing to copy: complete or cancel the request in the source (az keyvault "
    "certificate pending show / merge) and re-run"
)


def _attributes(cert: KeyVaultCertificate) -> CertificateProperties:
    # Every certificate bundle carries its attributes; the SDK types them Optional.
    return cast(CertificateProperties, cert.properties)


def _same_attributes(props: CertificateProperties, wanted: Mapping[str, Any]) -> bool:
    return props.enabled == wanted.get("enabled") and dict(props.tags or {}) == dict(
        wanted.get("tags") or {}
    )


def _exportable(properties: Mapping[str, Any]) -> bool:
    return bool((properties.get("policy") or {}).get("exportable"))


def _issuer(properties: Mapping[str, Any]) -> str:
    return str((properties.get("policy") or {}).get("issuer_name") or "Unknown")


def not_copyable_reason(properties: Mapping[str, Any], name: str) -> str:
    if _exportable(properties) and properties.get("enabled") is not False:
        return ""
    why = (
        "the certificate's private key is not exportable, so it cannot leave the vault"
        if not _exportable(properties)
        else "the certificate is disabled, so Key Vault does not return its private key"
    )
    issuer = _issuer(properties)
    if issuer.lower() == "self":
        return (
            f"{why}: the target gets a new self-signed certificate from the same policy (new key, "
            "new thumbprint); update anything that pins the old certificate or trusts its key"
        )
    return f"{why}, and it was issued by {issuer!r}: " + _issuer_remedy(
        issuer, name, "<target vault>"
    )


def _issuer_remedy(issuer: str, name: str, vault: str) -> str:
    cert = f"az keyvault certificate {{}} --vault-name {vault} --name {name}"
    import_it = cert.format("import") + " --file <pfx or pem>"
    create_it = cert.format("create") + " --policy @policy.json"
    if issuer.lower() == "unknown":
        return (
            "Key Vault cannot issue it in the target. Import the certificate with its private "
            f"key ({import_it}), or create it with the same policy ({create_it}) and have your "
            f"CA sign the pending request ({cert.format('pending merge')} --file <signed cert>)"
        )
    return (
        f"configure the issuer {issuer!r} in the target vault (az keyvault certificate issuer "
        f"create --vault-name {vault} --issuer-name {issuer} --provider-name <provider>) and "
        f"create the certificate from its policy ({create_it}), or import it with its private "
        f"key ({import_it})"
    )


# ------------------------------------------------------------------ discover


def discover(
    resource: ResourceBinding,
    mode: ReplicationMode,
    options: KeyVaultOptions,
    fingerprinter: Fingerprinter,
) -> Iterator[DataPlaneItem]:
    client = vault_clients(resource).certificates
    replication = mode is ReplicationMode.REPLICATION
    for cert in read_ahead(
        lambda listed: client.get_certificate(listed.name), client.list_properties_of_certificates()
    ):
        listed = cert.properties
        properties = certificate_properties(_attributes(cert), cert.policy)
        reason = not_copyable_reason(properties, listed.name)
        if not (options.versions_for(mode) and not reason):
            yield _item(resource, cert, properties, reason, replication, fingerprinter, None, 0)
            continue
        history = oldest_first(client.list_properties_of_certificate_versions(listed.name))
        for order, version in enumerate(history):
            at = client.get_certificate_version(listed.name, str(version.version))
            props = certificate_properties(_attributes(at), cert.policy)
            props["current"] = order == len(history) - 1
            yield _item(
                resource,
                at,
                props,
                not_copyable_reason(props, listed.name),
                True,
                fingerprinter,
                version.version,
                order,
            )


def _item(
    resource: ResourceBinding,
    cert: KeyVaultCertificate,
    properties: dict[str, Any],
    reason: str,
    replication: bool,
    fingerprinter: Fingerprinter,
    version: str | None,
    order: int,
) -> DataPlaneItem:
    cer = bytes(cert.cer or b"")
    if not cer:
        reason = PENDING_REASON
    return DataPlaneItem(
        name=cert.name or "",
        kind=KIND,
        source_resource_id=resource.resource.id,
        properties=properties,
        size_bytes=len(cer),
        fingerprint=fingerprinter.of(cer) if replication and cer else None,
        version=version,
        order=order,
        copyable=not reason,
        not_copyable_reason=reason,
        # Recreated from its policy in the target: a self-signed one only (another issuer
        # needs the user's CA; one still pending in the source is not copied at all).
        recreated=bool(reason)
        and reason != PENDING_REASON
        and _issuer(properties).lower() == "self",
    )


# ----------------------------------------------------------------- replicate


def replicate(
    item: DataPlaneItem,
    source: ResourceBinding,
    target: ResourceBinding,
    mode: ReplicationMode,
    options: KeyVaultOptions,
    fingerprinter: Fingerprinter,
) -> ItemOutcome:
    if mode is ReplicationMode.REPLICATION and item.size_bytes == 0:
        return ItemOutcome(status="skipped", reason=PENDING_REASON)
    client = vault_clients(target).certificates
    absent = absent_in_target(target, KIND, item, client.list_properties_of_certificates)
    for attempt in range(2):
        # Known absent: nothing to read (after a recovery, the recovered one is there).
        unread = absent and not attempt
        try:
            if mode is ReplicationMode.REPLICATION and not not_copyable_reason(
                item.properties, item.name
            ):
                return _copy(item, source, target, fingerprinter, unread)
            # An older version recreated (not copyable) compares with what this run wrote.
            return _recreate(item, target, mode, unread and item.order == 0)
        except ResourceExistsError as conflict:
            if attempt:
                raise  # still taken after a recovery: not a soft-deleted object
            recover_soft_deleted(
                kind=KIND,
                name=item.name,
                target=target,
                get_deleted=client.get_deleted_certificate,
                begin_recover=client.begin_recover_deleted_certificate,
                conflict=conflict,
            )
    raise AssertionError("unreachable: the second attempt returns or raises")


def _copy(
    item: DataPlaneItem,
    source: ResourceBinding,
    target: ResourceBinding,
    fingerprinter: Fingerprinter,
    absent: bool = False,
) -> ItemOutcome:
    """Export the certificate with its key from the backing secret and import it.

    The backing secret's version is the certificate's (``item.version``, or the current
    one); discovery already took the certificate's fingerprint, so it is not read again.
    """
    src = vault_clients(source)
    tgt = vault_clients(target).certificates
    wanted = item.fingerprint
    version = item.version
    if not wanted:
        cert = (
            src.certificates.get_certificate_version(item.name, item.version)
            if item.version
            else src.certificates.get_certificate(item.name)
        )
        wanted, version = fingerprinter.of(bytes(cert.cer or b"")), _attributes(cert).version
    # The current version is compared with the target's current one; an older
    # one with the target's version at the same position (oldest first).
    older = bool(item.version) and not item.properties.get("current", True)
    index = item.order if older else None
    candidates = [] if absent else _target_candidates(tgt, item.name, index)
    for candidate in candidates:
        if fingerprinter.of(bytes(candidate.cer or b"")) != wanted:
            continue
        have = _attributes(candidate)
        if _same_attributes(have, item.properties):
            return ItemOutcome(status="unchanged", fingerprint=wanted)
        tgt.update_certificate_properties(
            item.name,
            have.version,
            enabled=item.properties.get("enabled"),
            tags=dict(item.properties.get("tags") or {}),
        )
        return ItemOutcome(status="replicated", fingerprint=wanted)

    secret = src.secrets.get_secret(item.name, version)
    document = dict(item.properties.get("policy") or {})
    content_type = str(secret.properties.content_type or document.get("content_type") or PKCS12)
    value = secret.value or ""
    data = value.encode() if content_type == PEM else base64.b64decode(value)
    # The import must say PEM when the bytes are PEM; the policy carries the content type.
    policy = to_policy({**document, "content_type": content_type})
    tgt.import_certificate(
        item.name,
        data,
        enabled=item.properties.get("enabled"),
        tags=dict(item.properties.get("tags") or {}),
        policy=policy,
    )
    return ItemOutcome(
        status="replicated", bytes_copied=len(data), client_bytes=len(data), fingerprint=wanted
    )


def _target_candidates(
    client: CertificateClient, name: str, index: int | None
) -> Iterable[KeyVaultCertificate]:
    if index is None:
        try:
            return [client.get_certificate(name)]
        except ResourceNotFoundError:
            return []
    try:
        versions = oldest_first(client.list_properties_of_certificate_versions(name))
    except ResourceNotFoundError:
        return []
    return (
        client.get_certificate_version(name, str(v.version)) for v in candidates_at(versions, index)
    )


def _recreate(
    item: DataPlaneItem, target: ResourceBinding, mode: ReplicationMode, absent: bool = False
) -> ItemOutcome:
    """Issue a new certificate from the source's policy (self-signed only)."""
    client = vault_clients(target).certificates
    vault = target.resource.name
    wanted = dict(item.properties.get("policy") or {})
    issuer = _issuer(item.properties)
    try:
        current = None if absent else client.get_certificate(item.name)
    except ResourceNotFoundError:
        current = None
    if current is not None:
        have = policy_properties(current.policy)
        if all(have.get(f) == wanted.get(f) for f in ISSUANCE_FIELDS):
            if _same_attributes(_attributes(current), item.properties):
                return ItemOutcome(status="unchanged")
            client.update_certificate_properties(
                item.name,
                enabled=item.properties.get("enabled"),
                tags=dict(item.properties.get("tags") or {}),
            )
            return ItemOutcome(status="replicated")
        if mode is ReplicationMode.TEMPLATE:
            return ItemOutcome(
                status="skipped",
                reason=(
                    f"the target already holds certificate {item.name!r} with another policy; "
                    "template mode never adds a version to an existing certificate"
                ),
            )
    if issuer.lower() != "self":
        why = (
            "template mode copies no private keys"
            if mode is ReplicationMode.TEMPLATE
            else "its private key cannot be exported"
        )
        raise ItemError(
            f"certificate {item.name!r} was issued by {issuer!r} and {why}, so it cannot be "
            "recreated automatically",
            remedy=_issuer_remedy(issuer, item.name, vault),
        )
    poller = client.begin_create_certificate(
        item.name,
        to_policy(wanted),
        enabled=item.properties.get("enabled"),
        tags=dict(item.properties.get("tags") or {}),
    )
    result = poller.result()
    if isinstance(result, CertificateOperation) and str(result.status).lower() != "completed":
        error = result.error.message if result.error else result.status_details or result.status
        raise ItemError(
            f"Key Vault did not issue certificate {item.name!r} in the target: {error}",
            remedy=(
                "look at the pending operation: az keyvault certificate pending show "
                f"--vault-name {vault} --name {item.name}"
            ),
        )
    return ItemOutcome(
        status="replicated",
        warnings=(
            f"certificate {item.name!r} was issued anew in the target from its policy "
            "(self-signed, new key and thumbprint); update anything that pins the old "
            "certificate, or import the original (az keyvault certificate import "
            f"--vault-name {vault} --name {item.name} --file <pfx>)",
        ),
    )


def fingerprint(
    item: DataPlaneItem,
    resource: ResourceBinding,
    mode: ReplicationMode,
    fingerprinter: Fingerprinter,
) -> str | None:
    """Keyed hash of the certificate's DER; None in template mode (issued anew by design)."""
    if mode is ReplicationMode.TEMPLATE or item.fingerprint:
        return None
    client = vault_clients(resource).certificates
    cert = (
        client.get_certificate_version(item.name, item.version)
        if item.version
        else client.get_certificate(item.name)
    )
    return fingerprinter.of(bytes(cert.cer or b""))
