"""Key Vault data-plane emulation through azure-keyvault-secrets/keys/certificates."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from atg_dataplane_sandbox.emulator import EmulatorHandle
from atg_dataplane_sandbox.emulator.testing import arm_kwargs, credential, vault_kwargs
from atg_dataplane_sandbox.topology import Topology
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.keyvault.certificates import (
    CertificateClient,
    CertificateContentType,
    CertificatePolicy,
)
from azure.keyvault.keys import KeyClient, KeyReleasePolicy
from azure.keyvault.keys.crypto import CryptographyClient, EncryptionAlgorithm
from azure.keyvault.secrets import SecretClient
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from vault_testing import create_vault

POLL: dict[str, Any] = {}  # deletes are immediate: the SDK pollers never sleep


@pytest.fixture(scope="module")
def vaults(emu: EmulatorHandle, topo: Topology) -> dict[str, str]:
    src = topo.tenant("source")
    replicator = src.principals["replicator"].object_id
    return {
        "source": create_vault(emu, topo, "source", "rg-vaults", "kv-source"),
        "source2": create_vault(emu, topo, "source", "rg-vaults", "kv-source-2"),
        "target": create_vault(emu, topo, "target", "rg-vaults", "kv-target"),
        "protected": create_vault(
            emu, topo, "source", "rg-vaults", "kv-protected", enablePurgeProtection=True
        ),
        "policies": create_vault(
            emu,
            topo,
            "source",
            "rg-vaults",
            "kv-policies",
            rbac=False,
            accessPolicies=[
                {
                    "tenantId": src.tenant_id,
                    "objectId": replicator,
                    "permissions": {"secrets": ["get", "set"], "keys": [], "certificates": []},
                }
            ],
        ),
    }


def _secrets(
    emu: EmulatorHandle, url: str, tenant: str = "source", principal: str = "replicator"
) -> SecretClient:
    return SecretClient(url, credential(emu, tenant, principal), **vault_kwargs(emu))


# -- secrets --------------------------------------------------------------------------------
def test_secret_lifecycle(emu: EmulatorHandle, vaults: dict[str, str]) -> None:
    client = _secrets(emu, vaults["source"])
    first = client.set_secret(
        "db-password", "s3cret", content_type="text/plain", tags={"env": "dev"}
    )
    second = client.set_secret("db-password", "s3cret-2")
    assert first.properties.version != second.properties.version
    assert client.get_secret("db-password").value == "s3cret-2"
    old = client.get_secret("db-password", first.properties.version)
    assert old.value == "s3cret" and old.properties.content_type == "text/plain"
    assert old.properties.tags == {"env": "dev"}
    assert old.properties.recovery_level == "Recoverable+Purgeable"
    assert old.properties.vault_url.rstrip("/") == vaults["source"].rstrip("/")
    versions = list(client.list_properties_of_secret_versions("db-password"))
    assert len(versions) == 2
    updated = client.update_secret_properties("db-password", enabled=False)
    assert updated.enabled is False
    with pytest.raises(HttpResponseError) as info:
        client.get_secret("db-password")
    assert info.value.status_code == 403
    client.update_secret_properties("db-password", enabled=True)
    assert client.get_secret("db-password").value == "s3cret-2"


def test_secret_paging(emu: EmulatorHandle, vaults: dict[str, str]) -> None:
    client = _secrets(emu, vaults["source2"])
    for i in range(13):
        client.set_secret(f"paged-{i:02d}", f"v{i}")
    # Key Vault pages by 25 unless the client asks for fewer (maxresults).
    default_pages = [list(page) for page in client.list_properties_of_secrets().by_page()]
    assert len(default_pages[0]) == min(25, sum(len(page) for page in default_pages))
    pages = list(client.list_properties_of_secrets(max_page_size=5).by_page())
    assert len(pages) >= 3
    assert sorted(p.name for page in pages for p in page) == [f"paged-{i:02d}" for i in range(13)]


def test_a_fresh_sandbox_forgets_challenges_of_an_old_one_on_the_same_port(
    emu: EmulatorHandle, topo: Topology, vaults: dict[str, str]
) -> None:
    """A vault of an earlier sandbox, in another tenant, on the port this vault has now:
    the SDK's process-wide challenge cache would send the client to the old tenant."""
    from atg_dataplane_sandbox.emulator import forget_vault_challenges
    from azure.keyvault.secrets._shared import http_challenge_cache
    from azure.keyvault.secrets._shared.http_challenge import HttpChallenge

    url = vaults["source2"]
    old_tenant = "00000000-0000-4000-8000-00000000dead"
    stale = HttpChallenge(
        url, f'Bearer authorization="https://login.invalid/{old_tenant}", '
        'resource="https://vault.azure.net"'
    )
    http_challenge_cache.set_challenge_for_url(url, stale)
    with pytest.raises(ClientAuthenticationError, match=old_tenant):
        list(_secrets(emu, url).list_properties_of_secrets())
    forget_vault_challenges()
    list(_secrets(emu, url).list_properties_of_secrets())
    fresh = http_challenge_cache.get_challenge_for_url(url)
    assert fresh is not None and fresh.tenant_id == topo.tenant("source").tenant_id


def test_soft_delete_conflict_recover_purge(emu: EmulatorHandle, vaults: dict[str, str]) -> None:
    client = _secrets(emu, vaults["source"])
    client.set_secret("to-delete", "v1")
    deleted = client.begin_delete_secret("to-delete", **POLL).result()
    assert deleted.recovery_id and deleted.scheduled_purge_date
    with pytest.raises(ResourceExistsError) as info:
        client.set_secret("to-delete", "again")
    assert "ObjectIsDeletedButRecoverable" in str(info.value)
    assert "to-delete" in [d.name for d in client.list_deleted_secrets()]
    client.begin_recover_deleted_secret("to-delete", **POLL).result()
    assert client.get_secret("to-delete").value == "v1"
    client.begin_delete_secret("to-delete", **POLL).result()
    client.purge_deleted_secret("to-delete")
    with pytest.raises(ResourceNotFoundError):
        client.get_deleted_secret("to-delete")
    client.set_secret("to-delete", "fresh")
    assert client.get_secret("to-delete").value == "fresh"


def test_purge_refused_under_purge_protection(emu: EmulatorHandle, vaults: dict[str, str]) -> None:
    client = _secrets(emu, vaults["protected"])
    client.set_secret("kept", "v")
    client.begin_delete_secret("kept", **POLL).result()
    with pytest.raises(HttpResponseError) as info:
        client.purge_deleted_secret("kept")
    assert info.value.status_code == 403
    assert client.get_deleted_secret("kept").properties.recovery_level == "Recoverable"


def test_backup_restore_within_and_across_subscriptions(
    emu: EmulatorHandle, vaults: dict[str, str]
) -> None:
    source = _secrets(emu, vaults["source"])
    source.set_secret("backed-up", "payload")
    blob = source.backup_secret("backed-up")
    assert b"payload" not in blob
    restored = _secrets(emu, vaults["source2"]).restore_secret_backup(blob)
    assert restored.name == "backed-up"
    assert _secrets(emu, vaults["source2"]).get_secret("backed-up").value == "payload"
    with pytest.raises(HttpResponseError) as info:
        _secrets(emu, vaults["target"], "target").restore_secret_backup(blob)
    assert info.value.status_code in (400, 403)


# -- auth -------------------------------------------------------------------------------------
def test_missing_data_action_is_403(emu: EmulatorHandle, vaults: dict[str, str]) -> None:
    _secrets(emu, vaults["source"]).set_secret("visible", "hidden-value")
    limited = _secrets(emu, vaults["source"], principal="limited")
    assert "visible" in [p.name for p in limited.list_properties_of_secrets()]
    with pytest.raises(HttpResponseError) as info:
        limited.get_secret("visible")
    assert info.value.status_code == 403
    assert "Microsoft.KeyVault/vaults/secrets/getSecret/action" in str(info.value)
    assert "hidden-value" not in str(info.value)


def test_access_policy_vault(emu: EmulatorHandle, vaults: dict[str, str]) -> None:
    allowed = _secrets(emu, vaults["policies"])
    allowed.set_secret("ap", "value")
    assert allowed.get_secret("ap").value == "value"
    with pytest.raises(HttpResponseError) as info:
        list(allowed.list_properties_of_secrets())  # no "list" permission
    assert info.value.status_code == 403 and "secrets list" in str(info.value)
    with pytest.raises(HttpResponseError) as info:
        _secrets(emu, vaults["policies"], principal="admin").get_secret("ap")
    assert info.value.status_code == 403  # RBAC roles do not count on an access-policy vault


class _IgnoreTenant:
    """Presents the wrapped credential's own-tenant token whatever the challenge asks for."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        kwargs.pop("tenant_id", None)
        return self.inner.get_token(*scopes, **kwargs)

    def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        options = {k: v for k, v in (options or {}).items() if k != "tenant_id"}
        return self.inner.get_token_info(*scopes, options=options)


def test_cross_tenant_vault_refused(emu: EmulatorHandle, vaults: dict[str, str]) -> None:
    plain = _secrets(emu, vaults["target"], "source", "admin")
    with pytest.raises(ClientAuthenticationError):
        plain.get_secret("anything")  # azure-identity refuses the other tenant itself
    forced = SecretClient(
        vaults["target"], _IgnoreTenant(credential(emu, "source", "admin")), **vault_kwargs(emu)
    )
    with pytest.raises(ClientAuthenticationError) as info:
        forced.get_secret("anything")
    assert "AKV10032" in str(info.value) or "401" in str(info.value)


# -- keys -----------------------------------------------------------------------------------
def test_keys(emu: EmulatorHandle, vaults: dict[str, str]) -> None:
    client = KeyClient(vaults["source"], credential(emu), **vault_kwargs(emu))
    rsa_key = client.create_rsa_key("rsa-1", size=3072, key_operations=["encrypt", "decrypt"])
    assert rsa_key.key_type == "RSA" and len(rsa_key.key.n) == 384
    ec_key = client.create_ec_key("ec-1", curve="P-384")
    assert ec_key.key.crv == "P-384"
    policy = KeyReleasePolicy(b'{"anyOf": [], "version": "1.0.0"}')
    exportable = client.create_rsa_key("exp-1", exportable=True, release_policy=policy)
    assert exportable.properties.exportable is True
    assert exportable.properties.release_policy is not None
    with pytest.raises(HttpResponseError):
        client.create_rsa_key("exp-2", exportable=True)  # no release policy
    crypto = CryptographyClient(rsa_key, credential(emu), **vault_kwargs(emu))
    sealed = crypto.encrypt(EncryptionAlgorithm.rsa_oaep_256, b"hello")
    assert crypto.decrypt(EncryptionAlgorithm.rsa_oaep_256, sealed.ciphertext).plaintext == b"hello"
    private = ec.generate_private_key(ec.SECP256R1())
    from azure.keyvault.keys import JsonWebKey

    numbers = private.private_numbers()
    jwk = JsonWebKey(
        kty="EC",
        crv="P-256",
        key_ops=["sign", "verify"],
        x=numbers.public_numbers.x.to_bytes(32, "big"),
        y=numbers.public_numbers.y.to_bytes(32, "big"),
        d=numbers.private_value.to_bytes(32, "big"),
    )
    imported = client.import_key("imported-ec", jwk)
    assert imported.key.x == jwk.x
    rotated = client.rotate_key("ec-1")
    assert rotated.properties.version != ec_key.properties.version
    assert rotated.key.crv == "P-384" and rotated.key.x != ec_key.key.x
    client.update_key_properties("rsa-1", tags={"a": "b"})
    assert client.get_key("rsa-1").properties.tags == {"a": "b"}
    assert {"rsa-1", "ec-1", "exp-1", "imported-ec"} <= {
        k.name for k in client.list_properties_of_keys()
    }
    blob = client.backup_key("ec-1")
    client.begin_delete_key("ec-1", **POLL).result()
    client.purge_deleted_key("ec-1")
    assert client.restore_key_backup(blob).name == "ec-1"
    client.begin_delete_key("rsa-1", **POLL).result()
    assert client.begin_recover_deleted_key("rsa-1", **POLL).result().name == "rsa-1"


# -- certificates -----------------------------------------------------------------------------
def test_certificates(emu: EmulatorHandle, vaults: dict[str, str]) -> None:
    certs = CertificateClient(vaults["source"], credential(emu), **vault_kwargs(emu))
    secrets = _secrets(emu, vaults["source"])
    policy = CertificatePolicy(
        issuer_name="Self",
        subject="CN=app.example",
        san_dns_names=["app.example"],
        exportable=True,
        content_type=CertificateContentType.pkcs12,
        validity_in_months=6,
    )
    cert = certs.begin_create_certificate("web", policy).result()
    parsed = x509.load_der_x509_certificate(bytes(cert.cer))
    assert parsed.subject.rfc4514_string() == "CN=app.example"
    assert cert.secret_id and cert.key_id
    pfx = base64.b64decode(secrets.get_secret("web").value)
    key, leaf, _ = pkcs12.load_key_and_certificates(pfx, None)
    assert key is not None and leaf == parsed
    assert certs.get_certificate_policy("web").subject == "CN=app.example"
    operation = certs.get_certificate_operation("web")
    assert operation.status == "completed" and operation.target.endswith("/certificates/web")
    assert x509.load_der_x509_csr(bytes(operation.csr)).subject == parsed.subject
    # non-exportable: the secret carries the certificate but no private key
    # (the SDK sends key_props only when something truthy is in it: hence key_type)
    pem_policy = CertificatePolicy(
        issuer_name="Self",
        subject="CN=locked",
        exportable=False,
        key_type="RSA",
        content_type=CertificateContentType.pem,
    )
    certs.begin_create_certificate("locked", pem_policy).result()
    value = secrets.get_secret("locked").value
    assert "PRIVATE KEY" not in value and "BEGIN CERTIFICATE" in value
    # import PEM (key + cert) under another name
    private = serialization.load_pem_private_key(pkcs12_to_pem_key(pfx).encode(), password=None)
    pem = (
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        + parsed.public_bytes(serialization.Encoding.PEM).decode()
    )
    imported = certs.import_certificate(
        "web-copy",
        pem.encode(),
        policy=CertificatePolicy(issuer_name="Unknown", content_type=CertificateContentType.pem),
    )
    assert bytes(imported.cer) == bytes(cert.cer)
    assert len(list(certs.list_properties_of_certificate_versions("web"))) == 1
    certs.begin_create_certificate("web", policy).result()
    assert len(list(certs.list_properties_of_certificate_versions("web"))) == 2
    # delete takes the managed key and secret with it; recover brings them back
    certs.begin_delete_certificate("web-copy", **POLL).result()
    with pytest.raises(ResourceNotFoundError):
        secrets.get_secret("web-copy")
    certs.begin_recover_deleted_certificate("web-copy", **POLL).result()
    assert "BEGIN CERTIFICATE" in secrets.get_secret("web-copy").value
    blob = certs.backup_certificate("locked")
    certs.begin_delete_certificate("locked", **POLL).result()
    certs.purge_deleted_certificate("locked")
    assert certs.restore_certificate_backup(blob).name == "locked"


def pkcs12_to_pem_key(pfx: bytes) -> str:
    key, _, _ = pkcs12.load_key_and_certificates(pfx, None)
    assert key is not None
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def test_concurrent_writers(emu: EmulatorHandle, vaults: dict[str, str]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    client = _secrets(emu, vaults["source2"])
    client.set_secret("warm", "up")

    def write(i: int) -> str:
        return client.set_secret(f"parallel-{i:03d}", f"v{i}").value or ""

    with ThreadPoolExecutor(8) as pool:
        values = list(pool.map(write, range(64)))
    assert values == [f"v{i}" for i in range(64)]
    names = {p.name for p in client.list_properties_of_secrets()}
    assert {f"parallel-{i:03d}" for i in range(64)} <= names


def test_names_and_sizes_are_validated(emu: EmulatorHandle, vaults: dict[str, str]) -> None:
    client = _secrets(emu, vaults["source2"])
    with pytest.raises(HttpResponseError) as info:
        client.set_secret("under_score", "x")
    assert info.value.status_code == 400
    with pytest.raises(HttpResponseError) as info:
        client.set_secret("too-big", "x" * (25 * 1024 + 1))
    assert info.value.status_code == 400
    assert client.set_secret("n" * 127, "ok").name == "n" * 127


def test_role_assignment_at_vault_scope_grants_data_actions(
    emu: EmulatorHandle, topo: Topology, vaults: dict[str, str]
) -> None:
    import uuid

    from azure.mgmt.authorization import AuthorizationManagementClient

    src = topo.tenant("source")
    admin = _secrets(emu, vaults["source2"], principal="admin")
    admin.set_secret("scoped", "granted")
    limited = _secrets(emu, vaults["source2"], principal="limited")
    with pytest.raises(HttpResponseError):
        limited.get_secret("scoped")
    vault_id = (
        f"/subscriptions/{src.subscription_id}/resourceGroups/rg-vaults/providers/"
        "Microsoft.KeyVault/vaults/kv-source-2"
    )
    auth = AuthorizationManagementClient(
        credential(emu, "source", "admin"), src.subscription_id, **arm_kwargs(emu)
    )
    secrets_user = (
        f"/subscriptions/{src.subscription_id}/providers/Microsoft.Authorization/"
        "roleDefinitions/4633458b-17de-408a-b874-0445c86b69e6"
    )
    auth.role_assignments.create(
        vault_id,
        str(uuid.uuid4()),
        {
            "properties": {
                "roleDefinitionId": secrets_user,
                "principalId": src.principals["limited"].object_id,
            }
        },
    )
    assert limited.get_secret("scoped").value == "granted"
    other = _secrets(emu, vaults["source"], principal="limited")
    other_admin = _secrets(emu, vaults["source"], principal="admin")
    other_admin.set_secret("elsewhere", "still hidden")
    with pytest.raises(HttpResponseError):
        other.get_secret("elsewhere")  # the grant is for kv-source-2 only


def test_pending_certificate_and_merge(emu: EmulatorHandle, vaults: dict[str, str]) -> None:
    import datetime as dt

    from azure.keyvault.certificates import CertificateOperation
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa

    certs = CertificateClient(vaults["source2"], credential(emu), **vault_kwargs(emu))
    policy = CertificatePolicy(
        issuer_name="Unknown",
        subject="CN=byo.example",
        key_type="RSA",
        exportable=True,
        content_type=CertificateContentType.pem,
    )
    operation = certs.begin_create_certificate("byo", policy).result()
    assert isinstance(operation, CertificateOperation)
    assert operation.status == "inProgress" and operation.csr
    pending = certs.get_certificate("byo")
    assert not pending.cer and pending.key_id
    assert "byo" not in [c.name for c in certs.list_properties_of_certificates()]
    assert "byo" in [c.name for c in certs.list_properties_of_certificates(include_pending=True)]
    # a CA signs the request; the signed certificate is merged back
    request = x509.load_der_x509_csr(bytes(operation.csr))
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name.from_rfc4514_string("CN=Sandbox Test CA")
    now = dt.datetime.now(dt.UTC)
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(request.subject)
        .issuer_name(ca_name)
        .public_key(request.public_key())
        .serial_number(2)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(ca_key, hashes.SHA256())
    )
    wrong = (
        x509.CertificateBuilder()
        .subject_name(request.subject)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(3)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(ca_key, hashes.SHA256())
    )
    der = serialization.Encoding.DER
    with pytest.raises(HttpResponseError) as info:
        certs.merge_certificate("byo", [wrong.public_bytes(der)])
    assert info.value.status_code == 400
    merged = certs.merge_certificate("byo", [leaf.public_bytes(der), ca.public_bytes(der)])
    assert bytes(merged.cer) == leaf.public_bytes(der)
    assert merged.key_id == pending.key_id
    value = _secrets(emu, vaults["source2"]).get_secret("byo").value or ""
    assert "PRIVATE KEY" in value and value.count("BEGIN CERTIFICATE") == 2
    assert certs.get_certificate_operation("byo").status == "completed"
    certs.begin_create_certificate("byo-cancel", policy).result()
    assert certs.cancel_certificate_operation("byo-cancel").status == "cancelled"


def test_certificate_versions_by_id(emu: EmulatorHandle, vaults: dict[str, str]) -> None:
    certs = CertificateClient(vaults["source2"], credential(emu), **vault_kwargs(emu))
    policy = CertificatePolicy(issuer_name="Self", subject="CN=rolled")
    first = certs.begin_create_certificate("rolled", policy).result()
    second = certs.begin_create_certificate("rolled", policy).result()
    assert first.properties.version != second.properties.version
    old = certs.get_certificate_version("rolled", first.properties.version)
    assert bytes(old.cer) == bytes(first.cer)
    certs.update_certificate_properties("rolled", first.properties.version, tags={"old": "1"})
    assert certs.get_certificate_version("rolled", first.properties.version).properties.tags == {
        "old": "1"
    }


def test_a_malformed_import_is_refused_as_key_vault_refuses_it(
    emu: EmulatorHandle, vaults: dict[str, str]
) -> None:
    # Imports are parsed in a helper process; its verdict must still reach the client.
    certs = CertificateClient(
        vaults["source"], credential(emu, "source", "replicator"), **vault_kwargs(emu)
    )
    with pytest.raises(HttpResponseError) as info:
        certs.import_certificate("broken", b"not a pkcs12 file")
    assert info.value.status_code == 400
    assert "PKCS#12" in str(info.value.message)


def test_starting_an_emulator_in_process_forgets_cached_challenges(tmp_path: Path) -> None:
    """The emulator tests' own in-process emulators (not only ``sandbox.up``) may reuse an
    earlier vault's port: starting one drops the challenges this process cached."""
    from atg_dataplane_sandbox.emulator import start_emulator
    from azure.keyvault.secrets._shared import http_challenge_cache
    from azure.keyvault.secrets._shared.http_challenge import HttpChallenge

    url = "https://127.0.0.1:1"
    http_challenge_cache.set_challenge_for_url(url, HttpChallenge(
        url, 'Bearer authorization="https://login.invalid/old", resource="https://vault.azure.net"'
    ))
    handle = start_emulator(tmp_path / "fresh")
    try:
        assert http_challenge_cache.get_challenge_for_url(url) is None
    finally:
        handle.stop()
