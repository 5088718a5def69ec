"""A soft-deleted object of the same name in the target: recovered, or explained."""

from __future__ import annotations

import pytest
from atg_dataplane import ItemError
from keyvault_testing import REPLICATION, TEMPLATE, discover, replicate, statuses

ALL = {
    "secrets": ["get", "list", "set", "delete", "recover", "purge"],
    "keys": ["get", "list", "create", "update", "delete", "recover", "purge"],
    "certificates": ["get", "list", "create", "import", "update", "delete", "recover", "purge"],
}
NO_RECOVER = {
    "secrets": ["get", "list", "set"],
    "keys": ["get", "list", "create", "update"],
    "certificates": ["get", "list", "create", "import", "update"],
}


def _policies(tenants, side, replicator):
    tenant = tenants.topology.tenant(side).tenant_id
    return [
        {"tenantId": tenant, "objectId": tenants.object_id(side, "admin"), "permissions": ALL},
        {"tenantId": tenant, "objectId": tenants.object_id(side, "replicator"),
         "permissions": replicator},
    ]


@pytest.fixture
def source(make_vault, admin):
    binding = make_vault("source")
    admin(binding).secrets.set_secret("db", "source-value", tags={"a": "b"})
    admin(binding).keys.create_ec_key("k", curve="P-256")
    return binding


def _soft_delete(admin, target, secret=True, key=False):
    a = admin(target)
    if secret:
        a.secrets.set_secret("db", "old-target-value")
        a.secrets.begin_delete_secret("db").wait()
    if key:
        a.keys.create_rsa_key("k", size=2048)
        a.keys.begin_delete_key("k").wait()


def test_soft_deleted_secret_is_recovered_then_updated(source, make_vault, admin, fingerprinter):
    target = make_vault("target")
    _soft_delete(admin, target)
    items = discover(source, REPLICATION, fingerprinter, kind="secret")
    outcomes = replicate(items, source, target, REPLICATION, fingerprinter)
    assert statuses(outcomes) == {"secret:db": "replicated"}
    assert admin(target).secrets.get_secret("db").value == "source-value"
    assert [d.name for d in admin(target).secrets.list_deleted_secrets()] == []
    again = replicate(items, source, target, REPLICATION, fingerprinter)
    assert statuses(again) == {"secret:db": "unchanged"}


def test_soft_deleted_secret_in_template_mode_keeps_the_recovered_value(
    source, make_vault, admin, fingerprinter
):
    target = make_vault("target")
    _soft_delete(admin, target)
    items = discover(source, TEMPLATE, fingerprinter, kind="secret")
    outcomes = replicate(items, source, target, TEMPLATE, fingerprinter)
    assert statuses(outcomes) == {"secret:db": "replicated"}  # attributes brought in line
    secret = admin(target).secrets.get_secret("db")
    assert secret.value == "old-target-value"
    assert secret.properties.tags == {"a": "b"}


def test_soft_deleted_key_is_recovered(source, make_vault, admin, fingerprinter):
    target = make_vault("target")
    _soft_delete(admin, target, secret=False, key=True)
    items = discover(source, REPLICATION, fingerprinter, kind="key")
    outcomes = replicate(items, source, target, REPLICATION, fingerprinter)
    assert statuses(outcomes) == {"key:k": "replicated"}
    key = admin(target).keys.get_key("k")
    assert key.key_type == "EC"  # a new version with the source's parameters
    assert [d.name for d in admin(target).keys.list_deleted_keys()] == []


def test_recovery_refused_names_the_purge_command(
    tenants, source, make_vault, admin, fingerprinter
):
    target = make_vault(
        "target", rbac=False, access_policies=_policies(tenants, "target", NO_RECOVER)
    )
    _soft_delete(admin, target)
    items = discover(source, REPLICATION, fingerprinter, kind="secret")
    with pytest.raises(ItemError) as caught:
        replicate(items, source, target, REPLICATION, fingerprinter)
    error = caught.value
    vault = target.resource.name
    assert "soft-deleted" in error.reason and "'db'" in error.reason
    assert f"az keyvault secret purge --vault-name {vault} --name db" in error.remedy
    assert "recover" in error.remedy


def test_purge_protected_vault_says_the_name_waits_for_retention(
    tenants, source, make_vault, admin, fingerprinter
):
    target = make_vault(
        "target",
        rbac=False,
        purge_protection=True,
        access_policies=_policies(tenants, "target", NO_RECOVER),
    )
    _soft_delete(admin, target)
    items = discover(source, REPLICATION, fingerprinter, kind="secret")
    with pytest.raises(ItemError) as caught:
        replicate(items, source, target, REPLICATION, fingerprinter)
    remedy = caught.value.remedy
    assert "purge protection" in remedy
    assert "retention period" in remedy
    assert "purge --vault-name" not in remedy


def test_access_policy_vaults_work_end_to_end(tenants, source, make_vault, admin, fingerprinter):
    """An access-policy target with the plugin's declared access-policy permissions."""
    from atg_dataplane_keyvault.permissions import permissions

    declared: dict[str, set[str]] = {}
    for perm in permissions(REPLICATION):
        if perm.side == "target":
            for collection, values in perm.access_policy.items():
                declared.setdefault(collection, set()).update(values)
    target = make_vault(
        "target",
        rbac=False,
        access_policies=_policies(
            tenants, "target", {k: sorted(v) for k, v in declared.items()}
        ),
    )
    items = discover(source, REPLICATION, fingerprinter)
    outcomes = replicate(items, source, target, REPLICATION, fingerprinter)
    assert set(statuses(outcomes).values()) == {"replicated"}
    again = replicate(items, source, target, REPLICATION, fingerprinter)
    assert set(statuses(again).values()) == {"unchanged"}


def test_soft_deleted_certificate_is_recovered_then_replaced(make_vault, admin, fingerprinter):
    from azure.keyvault.certificates import CertificatePolicy

    source = make_vault("source")
    policy = CertificatePolicy(issuer_name="Self", subject="CN=svc.example", exportable=True)
    admin(source).certificates.begin_create_certificate("svc", policy).result()
    target = make_vault("target")
    certs = admin(target).certificates
    certs.begin_create_certificate("svc", policy).result()
    certs.begin_delete_certificate("svc").wait()
    items = discover(source, REPLICATION, fingerprinter, kind="certificate")
    outcomes = replicate(items, source, target, REPLICATION, fingerprinter)
    assert statuses(outcomes) == {"certificate:svc": "replicated"}
    assert bytes(certs.get_certificate("svc").cer) == bytes(
        admin(source).certificates.get_certificate("svc").cer
    )
    assert [d.name for d in certs.list_deleted_certificates()] == []
