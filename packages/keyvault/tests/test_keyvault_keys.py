"""Keys against the emulated tenants: parameters, not-copyable material, backup/restore."""

from __future__ import annotations

import pytest
from azure.keyvault.keys import KeyOperation
from keyvault_testing import (
    REPLICATION,
    TEMPLATE,
    assert_sides_match,
    discover,
    fingerprint,
    replicate,
    statuses,
)


@pytest.fixture
def source(make_vault, admin):
    binding = make_vault("source")
    keys = admin(binding).keys
    keys.create_rsa_key(
        "signing",
        size=3072,
        key_operations=[KeyOperation.sign, KeyOperation.verify],
        tags={"team": "payments"},
    )
    keys.create_ec_key("ecdh", curve="P-384", key_operations=[KeyOperation.sign])
    return binding


def _versions(admin, binding, name):
    return len(list(admin(binding).keys.list_properties_of_key_versions(name)))


def test_discovery_reports_parameters_and_why_material_cannot_move(source, fingerprinter):
    items = {i.name: i for i in discover(source, REPLICATION, fingerprinter, kind="key")}
    assert set(items) == {"signing", "ecdh"}
    signing = dict(items["signing"].properties)
    assert signing["key_type"] == "RSA"
    assert signing["key_size"] == 3072
    assert signing["operations"] == ["sign", "verify"]
    assert signing["tags"] == {"team": "payments"}
    assert signing["exportable"] is False
    ecdh = dict(items["ecdh"].properties)
    assert ecdh["key_type"] == "EC" and ecdh["curve"] == "P-384" and ecdh["key_size"] is None
    for item in items.values():
        assert item.copyable is False
        assert "key material cannot leave a vault" in item.not_copyable_reason
        assert "new key material" in item.not_copyable_reason
        assert "az keyvault key import" in item.not_copyable_reason
        assert item.version is None
        assert item.fingerprint and item.fingerprint.startswith("hmac-sha256:")
    # Template mode compares no key material.
    assert all(i.fingerprint is None for i in discover(source, TEMPLATE, fingerprinter, kind="key"))


def test_template_recreates_parameters_once(source, make_vault, admin, fingerprinter):
    target = make_vault("target")
    items = discover(source, TEMPLATE, fingerprinter, kind="key")
    first = replicate(items, source, target, TEMPLATE, fingerprinter)
    assert set(statuses(first).values()) == {"replicated"}
    assert all(any("new key material" in w for w in o.warnings) for o in first.values())
    assert_sides_match(source, target, TEMPLATE, fingerprinter, kind="key")
    again = replicate(items, source, target, TEMPLATE, fingerprinter)
    assert set(statuses(again).values()) == {"unchanged"}
    assert _versions(admin, target, "signing") == 1


def test_replication_across_tenants_recreates_with_a_warning(
    source, make_vault, admin, fingerprinter
):
    """backup/restore is tried (``always``); the target tenant refuses the blob."""
    target = make_vault("target")
    options = {"keyvault.key_backup": "always"}
    items = discover(source, REPLICATION, fingerprinter, options, kind="key")
    first = replicate(items, source, target, REPLICATION, fingerprinter, options)
    assert set(statuses(first).values()) == {"replicated"}
    assert all(any("new key material" in w for w in o.warnings) for o in first.values())
    src = {i.name: i for i in items}
    dst = {i.name: i for i in discover(target, REPLICATION, fingerprinter, options, kind="key")}
    for name in src:
        assert dict(src[name].properties) == dict(dst[name].properties)
        # Same parameters, different material: exactly why keys are not copyable.
        assert fingerprint(src[name], source, REPLICATION, fingerprinter) != fingerprint(
            dst[name], target, REPLICATION, fingerprinter
        )
    again = replicate(items, source, target, REPLICATION, fingerprinter, options)
    assert set(statuses(again).values()) == {"unchanged"}


def test_backup_restore_keeps_material_within_one_subscription(
    source, make_vault, admin, fingerprinter
):
    """Both vaults in one subscription and location: the backup restores (``auto``)."""
    same_subscription = make_vault("source")
    items = discover(source, REPLICATION, fingerprinter, kind="key")
    outcomes = replicate(items, source, same_subscription, REPLICATION, fingerprinter)
    assert set(statuses(outcomes).values()) == {"replicated"}
    assert all(o.warnings == () and o.bytes_copied > 0 for o in outcomes.values())
    dst = {i.name: i for i in discover(same_subscription, REPLICATION, fingerprinter, kind="key")}
    for item in items:
        assert fingerprint(item, source, REPLICATION, fingerprinter) == fingerprint(
            dst[item.name], same_subscription, REPLICATION, fingerprinter
        )
    again = replicate(items, source, same_subscription, REPLICATION, fingerprinter)
    assert set(statuses(again).values()) == {"unchanged"}


def test_operations_drift_is_fixed_without_a_new_version(source, make_vault, admin, fingerprinter):
    target = make_vault("target")
    items = discover(source, REPLICATION, fingerprinter, kind="key")
    replicate(items, source, target, REPLICATION, fingerprinter)
    admin(target).keys.update_key_properties(
        "signing", key_operations=[KeyOperation.verify], tags={"team": "other"}
    )
    outcomes = replicate(items, source, target, REPLICATION, fingerprinter)
    assert outcomes["key:signing"].status == "replicated"
    assert outcomes["key:ecdh"].status == "unchanged"
    assert _versions(admin, target, "signing") == 1
    key = admin(target).keys.get_key("signing")
    assert sorted(key.key_operations) == ["sign", "verify"]
    assert key.properties.tags == {"team": "payments"}


def test_other_parameters_in_target(source, make_vault, admin, fingerprinter):
    """Replication adds a version with the source's parameters; template mode leaves it."""
    target = make_vault("target")
    admin(target).keys.create_rsa_key("signing", size=2048)
    items = discover(source, TEMPLATE, fingerprinter, kind="key")
    items = [i for i in items if i.name == "signing"]
    skipped = replicate(items, source, target, TEMPLATE, fingerprinter)
    assert skipped["key:signing"].status == "skipped"
    assert "RSA 2048" in skipped["key:signing"].reason
    replaced = replicate(items, source, target, REPLICATION, fingerprinter)
    assert replaced["key:signing"].status == "replicated"
    assert _versions(admin, target, "signing") == 2
    assert admin(target).keys.get_key("signing").key.n is not None
