"""Certificates against the emulated tenants: export/import, policies, issuers, versions."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
from atg_dataplane import ItemError
from atg_dataplane_keyvault import plugin
from azure.keyvault.certificates import CertificateContentType, CertificatePolicy
from keyvault_testing import (
    REPLICATION,
    TEMPLATE,
    assert_sides_match,
    discover,
    fingerprint,
    replicate,
    statuses,
)


def _policy(subject: str, *, exportable: bool = True, pem: bool = False) -> CertificatePolicy:
    return CertificatePolicy(
        issuer_name="Self",
        subject=subject,
        san_dns_names=[subject.removeprefix("CN=")],
        exportable=exportable,
        key_type="RSA",
        key_size=2048,
        reuse_key=False,
        content_type=CertificateContentType.pem if pem else CertificateContentType.pkcs12,
        validity_in_months=12,
    )


def _outside_pfx() -> bytes:
    """A certificate made outside Key Vault (so its issuer there is ``Unknown``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "partner.example")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=90))
        .sign(key, hashes.SHA256())
    )
    return pkcs12.serialize_key_and_certificates(
        b"partner", key, cert, None, serialization.NoEncryption()
    )


@pytest.fixture(scope="module")
def source(make_vault, admin):
    binding = make_vault("source")
    certs = admin(binding).certificates
    certs.begin_create_certificate("selfpfx", _policy("CN=app.example"), tags={"t": "1"}).result()
    certs.begin_create_certificate("selfpem", _policy("CN=pem.example", pem=True)).result()
    certs.begin_create_certificate(
        "locked", _policy("CN=locked.example", exportable=False)
    ).result()
    pfx = _outside_pfx()
    certs.import_certificate("partner", pfx)
    certs.import_certificate(
        "partnerlocked",
        pfx,
        policy=CertificatePolicy(issuer_name="Unknown", exportable=False, key_type="RSA",
                                 key_size=2048, content_type=CertificateContentType.pkcs12),
    )
    return binding


NAMES = {"selfpfx", "selfpem", "locked", "partner", "partnerlocked"}


def test_discovery(source, admin, fingerprinter):
    items = {i.name: i for i in discover(source, REPLICATION, fingerprinter, kind="certificate")}
    assert set(items) == NAMES
    # The secrets and keys behind certificates are not listed twice.
    assert not discover(source, REPLICATION, fingerprinter, kind="secret")
    assert not discover(source, REPLICATION, fingerprinter, kind="key")

    selfpfx = items["selfpfx"]
    policy = selfpfx.properties["policy"]
    assert policy["issuer_name"] == "Self"
    assert policy["subject"] == "CN=app.example"
    assert policy["san_dns_names"] == ["app.example"]
    assert policy["exportable"] is True
    assert policy["content_type"] == "application/x-pkcs12"
    assert selfpfx.properties["tags"] == {"t": "1"}
    cer = bytes(admin(source).certificates.get_certificate("selfpfx").cer)
    assert selfpfx.size_bytes == len(cer)
    assert selfpfx.fingerprint == fingerprinter.of(cer)
    assert selfpfx.copyable and items["partner"].copyable and items["selfpem"].copyable

    assert not items["locked"].copyable
    assert "not exportable" in items["locked"].not_copyable_reason
    assert "self-signed" in items["locked"].not_copyable_reason
    assert not items["partnerlocked"].copyable
    assert "az keyvault certificate import" in items["partnerlocked"].not_copyable_reason


def test_replication_exports_and_imports(source, make_vault, admin, fingerprinter):
    target = make_vault("target")
    items = [
        i
        for i in discover(source, REPLICATION, fingerprinter, kind="certificate")
        if i.name != "partnerlocked"
    ]
    first = replicate(items, source, target, REPLICATION, fingerprinter)
    assert set(statuses(first).values()) == {"replicated"}
    for name in ("selfpfx", "selfpem", "partner"):
        assert first[f"certificate:{name}"].warnings == ()
        assert first[f"certificate:{name}"].bytes_copied > 0
    assert any("issued anew" in w for w in first["certificate:locked"].warnings)

    dst = {i.name: i for i in discover(target, REPLICATION, fingerprinter, kind="certificate")}
    for item in items:
        assert dict(item.properties) == dict(dst[item.name].properties), item.name
        same = fingerprint(item, source, REPLICATION, fingerprinter) == fingerprint(
            dst[item.name], target, REPLICATION, fingerprinter
        )
        assert same is (item.name != "locked"), item.name
    # The private key came along: the target's backing secret holds it.
    pem = admin(target).secrets.get_secret("selfpem").value
    assert "PRIVATE KEY" in pem and "CERTIFICATE" in pem

    again = replicate(items, source, target, REPLICATION, fingerprinter)
    assert set(statuses(again).values()) == {"unchanged"}
    versions = admin(target).certificates.list_properties_of_certificate_versions("selfpfx")
    assert len(list(versions)) == 1


def test_non_exportable_outside_certificate_says_what_to_do(source, make_vault, fingerprinter):
    target = make_vault("target")
    items = [
        i
        for i in discover(source, REPLICATION, fingerprinter, kind="certificate")
        if i.name == "partnerlocked"
    ]
    with pytest.raises(ItemError) as caught:
        replicate(items, source, target, REPLICATION, fingerprinter)
    assert "'Unknown'" in caught.value.reason
    assert f"az keyvault certificate import --vault-name {target.resource.name}" in (
        caught.value.remedy
    )
    assert "pending merge" in caught.value.remedy


def test_template_issues_self_signed_from_policy(source, make_vault, admin, fingerprinter):
    target = make_vault("target")
    items = discover(source, TEMPLATE, fingerprinter, kind="certificate")
    assert all(i.fingerprint is None for i in items)
    outcomes = {}
    errors = {}
    for item in items:
        try:
            outcomes.update(replicate([item], source, target, TEMPLATE, fingerprinter))
        except ItemError as error:
            errors[item.name] = error
    assert set(outcomes) == {"certificate:selfpfx", "certificate:selfpem", "certificate:locked"}
    assert set(statuses(outcomes).values()) == {"replicated"}
    assert set(errors) == {"partner", "partnerlocked"}
    assert "template mode copies no private keys" in errors["partner"].reason
    policy = admin(target).certificates.get_certificate_policy("selfpem")
    assert policy.subject == "CN=pem.example" and policy.content_type == "application/x-pem-file"
    self_signed = [i for i in items if i.name in ("selfpfx", "selfpem", "locked")]
    again = replicate(self_signed, source, target, TEMPLATE, fingerprinter)
    assert set(statuses(again).values()) == {"unchanged"}


def test_all_versions_of_exportable_certificates(make_vault, admin, fingerprinter):
    source = make_vault("source")
    certs = admin(source).certificates
    certs.begin_create_certificate("rolled", _policy("CN=rolled.example")).result()
    time.sleep(1.05)  # creation times have one-second resolution
    certs.begin_create_certificate("rolled", _policy("CN=rolled.example")).result()
    options = {"keyvault.all_versions": True}
    items = discover(source, REPLICATION, fingerprinter, options, kind="certificate")
    assert [i.order for i in sorted(items, key=lambda i: i.order)] == [0, 1]
    target = make_vault("target")
    first = replicate(items, source, target, REPLICATION, fingerprinter, options)
    assert set(statuses(first).values()) == {"replicated"}
    versions = admin(target).certificates.list_properties_of_certificate_versions("rolled")
    assert len(list(versions)) == 2
    assert bytes(admin(target).certificates.get_certificate("rolled").cer) == bytes(
        certs.get_certificate("rolled").cer
    )
    assert_sides_match(source, target, REPLICATION, fingerprinter, options, kind="certificate")
    again = replicate(items, source, target, REPLICATION, fingerprinter, options)
    assert set(statuses(again).values()) == {"unchanged"}


def test_terraform_certificate_policy(source, fingerprinter):
    items = discover(source, TEMPLATE, fingerprinter, kind="certificate")
    hcl = plugin.dataplane_terraform(resource=source, items=items, mode=TEMPLATE, options={})
    assert hcl.count('resource "azurerm_key_vault_certificate"') == len(NAMES)
    assert re.search(r'subject\s+= "CN=app.example"', hcl)
    assert "PRIVATE KEY" not in hcl
