"""Key Vault: vaults through ARM (RBAC authorization), items through the Key Vault SDKs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.keyvault.certificates import (
    CertificateClient,
    CertificateContentType,
    CertificatePolicy,
    WellKnownIssuerNames,
)
from azure.keyvault.keys import KeyClient, KeyReleasePolicy
from azure.keyvault.secrets import SecretClient
from azure.mgmt.keyvault import KeyVaultManagementClient
from azure.mgmt.keyvault.models import Sku, VaultCreateOrUpdateParameters, VaultProperties

from atg_dataplane_sandbox.scenarios import (
    CertificateSpec,
    KeySpec,
    ResourceSpec,
    SecretSpec,
    VaultContents,
)
from atg_dataplane_sandbox.seeders.context import SeedContext

# A syntactically valid Secure Key Release policy (the emulator does not attest).
RELEASE_POLICY = json.dumps({
    "version": "1.0.0",
    "anyOf": [{"authority": "https://sharedeus.eus.attest.azure.net",
               "allOf": [{"claim": "x-ms-attestation-type", "equals": "sevsnpvm"}]}],
}).encode()


def create_vault(ctx: SeedContext, side: str, name: str) -> str:
    """Create the vault through ARM (RBAC authorization); return its URI."""
    client = ctx.mgmt(KeyVaultManagementClient, side)
    parameters = VaultCreateOrUpdateParameters(
        location=ctx.location(side),
        properties=VaultProperties(
            tenant_id=ctx.tenant(side).tenant_id, sku=Sku(family="A", name="standard"),
            enable_rbac_authorization=True, enable_soft_delete=True,
            soft_delete_retention_in_days=7,
        ),
    )
    vault = client.vaults.begin_create_or_update(
        ctx.resource_groups[side], name, parameters, polling_interval=0.1).result()
    return str(vault.properties.vault_uri)


def seed(ctx: SeedContext, spec: ResourceSpec) -> dict[str, int]:
    contents: VaultContents = spec.contents
    create_vault(ctx, "target", spec.target_name)
    url = create_vault(ctx, "source", spec.source_name)
    common: dict[str, Any] = {"vault_url": url, "credential": ctx.credential("source"),
                              "verify_challenge_resource": False,
                              "connection_verify": ctx.ca_bundle}
    counts = {"secrets": 0, "secret_versions": 0, "keys": 0, "certificates": 0}
    # Existing names are skipped, so seeding twice adds nothing (a get would fail with 403
    # on a disabled secret, hence the listings).
    secrets = SecretClient(**common)
    existing = {p.name for p in secrets.list_properties_of_secrets()}
    for secret in contents.secrets:
        if secret.name not in existing:
            counts["secrets"] += 1
            counts["secret_versions"] += _set_secret(ctx, secrets, secret)
    keys = KeyClient(**common)
    existing = {p.name for p in keys.list_properties_of_keys()}
    for key in contents.keys:
        if key.name not in existing:
            _create_key(keys, key)
            counts["keys"] += 1
    certificates = CertificateClient(**common)
    existing = {p.name for p in certificates.list_properties_of_certificates()}
    for certificate in contents.certificates:
        if certificate.name not in existing:
            _create_certificate(certificates, certificate)
            counts["certificates"] += 1
    return counts


def _set_secret(ctx: SeedContext, client: SecretClient, spec: SecretSpec) -> int:
    expires = datetime.now(UTC) - timedelta(days=1) if spec.expired else None
    for _ in range(spec.versions):
        value = ctx.canaries.add(spec.value_template.format(canary=ctx.canaries.new()))
        client.set_secret(spec.name, value, content_type=spec.content_type,
                          tags=spec.tags or None, enabled=spec.enabled, expires_on=expires)
    return spec.versions


def _create_key(client: KeyClient, spec: KeySpec) -> None:
    extra: dict[str, Any] = {"tags": spec.tags or None}
    if spec.exportable:
        extra.update(exportable=True, release_policy=KeyReleasePolicy(RELEASE_POLICY))
    if spec.kty == "EC":
        client.create_ec_key(spec.name, curve=spec.curve, **extra)
    else:
        client.create_rsa_key(spec.name, size=spec.size, **extra)


def _create_certificate(client: CertificateClient, spec: CertificateSpec) -> None:
    policy = CertificatePolicy(
        issuer_name=WellKnownIssuerNames.self, subject=spec.subject,
        exportable=spec.exportable, key_type=spec.kty, key_size=2048,
        reuse_key=False, content_type=CertificateContentType.pkcs12, validity_in_months=12,
    )
    client.begin_create_certificate(spec.name, policy, tags=spec.tags or None,
                                    _polling_interval=0.1).result()
