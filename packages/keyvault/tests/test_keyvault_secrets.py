"""Secrets against the emulated tenants: discovery, template, replication, versions, re-runs."""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid

import pytest
from atg_dataplane_keyvault import plugin
from atg_dataplane_keyvault.common import DEFAULT_PLACEHOLDER
from keyvault_testing import (
    REPLICATION,
    TEMPLATE,
    assert_sides_match,
    discover,
    fingerprint,
    replicate,
    statuses,
)

EXPIRES = dt.datetime(2031, 5, 1, 12, 0, tzinfo=dt.UTC)
NOT_BEFORE = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


@pytest.fixture
def canary() -> str:
    return "canary-" + uuid.uuid4().hex


@pytest.fixture
def source(make_vault, admin, canary):
    binding = make_vault("source")
    a = admin(binding)
    a.secrets.set_secret("plain", canary + "-plain")
    a.secrets.set_secret(
        "typed",
        canary + "-typed",
        content_type="application/json",
        tags={"env": "prod", "owner": "team-a"},
        expires_on=EXPIRES,
        not_before=NOT_BEFORE,
    )
    a.secrets.set_secret("off", canary + "-off", enabled=False)
    return binding


def _values(admin, binding):
    client = admin(binding).secrets
    return {
        p.name: (client.get_secret(p.name).value if p.enabled else None)
        for p in client.list_properties_of_secrets()
    }


def _version_count(admin, binding, name):
    return len(list(admin(binding).secrets.list_properties_of_secret_versions(name)))


def test_discovery_lists_attributes_and_never_values(source, fingerprinter, canary):
    items = {i.name: i for i in discover(source, TEMPLATE, fingerprinter, kind="secret")}
    assert set(items) == {"plain", "typed", "off"}
    typed = items["typed"]
    assert dict(typed.properties) == {
        "content_type": "application/json",
        "enabled": True,
        "expires_on": "2031-05-01T12:00:00Z",
        "not_before": "2025-01-02T03:04:05Z",
        "tags": {"env": "prod", "owner": "team-a"},
    }
    assert typed.version is None and typed.order == 0 and typed.copyable
    assert items["off"].properties["enabled"] is False
    assert items["off"].copyable  # template mode needs no value
    assert canary not in repr(items)

    replication = {i.name: i for i in discover(source, REPLICATION, fingerprinter, kind="secret")}
    assert not replication["off"].copyable
    assert "disabled" in replication["off"].not_copyable_reason
    assert "set-attributes" in replication["off"].not_copyable_reason
    assert canary not in repr(replication)


def test_template_discovery_works_with_key_vault_reader(make_vault, admin, fingerprinter, canary):
    """Template mode reads no value, so Key Vault Reader on the source is enough."""
    limited = make_vault("source", principal="limited")
    admin(limited).secrets.set_secret("s", canary)
    items = discover(limited, TEMPLATE, fingerprinter, kind="secret")
    assert [i.name for i in items] == ["s"]


def test_template_writes_placeholders_and_never_overwrites(
    source, make_vault, admin, fingerprinter, canary
):
    target = make_vault("target")
    items = discover(source, TEMPLATE, fingerprinter, kind="secret")
    first = replicate(items, source, target, TEMPLATE, fingerprinter)
    assert set(statuses(first).values()) == {"replicated"}
    for outcome in first.values():
        assert any("placeholder" in w and "az keyvault secret set" in w for w in outcome.warnings)
    values = _values(admin, target)
    assert values["plain"] == DEFAULT_PLACEHOLDER and values["typed"] == DEFAULT_PLACEHOLDER
    assert values["off"] is None  # created disabled
    assert canary not in repr(first)
    assert_sides_match(source, target, TEMPLATE, fingerprinter, kind="secret")

    again = replicate(items, source, target, TEMPLATE, fingerprinter)
    assert set(statuses(again).values()) == {"unchanged"}
    assert _version_count(admin, target, "plain") == 1

    # The user fills in the real value: a later template run keeps it.
    admin(target).secrets.set_secret("plain", "the-real-value")
    third = replicate(items, source, target, TEMPLATE, fingerprinter)
    assert third["secret:plain"].status == "unchanged"
    assert third["secret:plain"].warnings == ()
    assert _values(admin, target)["plain"] == "the-real-value"


def test_a_name_set_in_other_case_is_the_same_secret(make_vault, admin, fingerprinter):
    # Key Vault names compare case-insensitively: a target value set under another case
    # is the user's value, which template mode must keep (the target listing says so).
    source, target = make_vault("source"), make_vault("target")
    admin(source).secrets.set_secret("DbPassword", "source-value")
    admin(target).secrets.set_secret("dbpassword", "the-users-value")
    items = discover(source, TEMPLATE, fingerprinter, kind="secret")
    outcome = replicate(items, source, target, TEMPLATE, fingerprinter)
    assert outcome["secret:DbPassword"].status in ("unchanged", "replicated")
    assert admin(target).secrets.get_secret("DbPassword").value == "the-users-value"
    assert _version_count(admin, target, "DbPassword") == 1


def test_custom_placeholder(source, make_vault, admin, fingerprinter):
    target = make_vault("target")
    options = {"keyvault.placeholder": "FILL-ME"}
    items = discover(source, TEMPLATE, fingerprinter, options, kind="secret")
    replicate(items, source, target, TEMPLATE, fingerprinter, options)
    assert _values(admin, target)["typed"] == "FILL-ME"


def test_replication_copies_values_and_rerun_writes_nothing(
    source, make_vault, admin, fingerprinter, canary
):
    target = make_vault("target")
    items = discover(source, REPLICATION, fingerprinter, kind="secret")
    first = replicate(items, source, target, REPLICATION, fingerprinter)
    assert set(statuses(first).values()) == {"replicated"}
    values = _values(admin, target)
    assert values["plain"] == canary + "-plain"
    assert values["typed"] == canary + "-typed"
    assert first["secret:typed"].bytes_copied == len(canary + "-typed")
    # A disabled secret's value cannot be read: placeholder, disabled, with a warning.
    assert any("disabled" in w for w in first["secret:off"].warnings)
    off = admin(target).secrets
    props = next(p for p in off.list_properties_of_secret_versions("off"))
    assert props.enabled is False
    assert canary not in repr(first)
    assert_sides_match(source, target, REPLICATION, fingerprinter, kind="secret")

    again = replicate(items, source, target, REPLICATION, fingerprinter)
    assert set(statuses(again).values()) == {"unchanged"}
    for name in ("plain", "typed", "off"):
        assert _version_count(admin, target, name) == 1


def test_attribute_drift_is_fixed_in_place(source, make_vault, admin, fingerprinter):
    target = make_vault("target")
    items = discover(source, REPLICATION, fingerprinter, kind="secret")
    replicate(items, source, target, REPLICATION, fingerprinter)
    admin(target).secrets.update_secret_properties("typed", tags={"env": "dev"})
    outcomes = replicate(items, source, target, REPLICATION, fingerprinter)
    assert outcomes["secret:typed"].status == "replicated"
    assert outcomes["secret:plain"].status == "unchanged"
    assert _version_count(admin, target, "typed") == 1
    assert admin(target).secrets.get_secret("typed").properties.tags == {
        "env": "prod",
        "owner": "team-a",
    }


def test_value_change_in_source_adds_one_version(source, make_vault, admin, fingerprinter):
    target = make_vault("target")
    items = discover(source, REPLICATION, fingerprinter, kind="secret")
    replicate(items, source, target, REPLICATION, fingerprinter)
    admin(source).secrets.set_secret("plain", "rotated")
    items = discover(source, REPLICATION, fingerprinter, kind="secret")
    outcomes = replicate(items, source, target, REPLICATION, fingerprinter)
    assert outcomes["secret:plain"].status == "replicated"
    assert admin(target).secrets.get_secret("plain").value == "rotated"
    assert _version_count(admin, target, "plain") == 2


def test_all_versions_are_copied_oldest_first_once(make_vault, admin, fingerprinter):
    source = make_vault("source")
    client = admin(source).secrets
    for n in range(3):
        if n:
            time.sleep(1.05)  # Key Vault's creation times have one-second resolution
        client.set_secret("history", f"value-{n}", tags={"n": str(n)})
    client.set_secret("single", "only")
    options = {"keyvault.all_versions": True}
    items = discover(source, REPLICATION, fingerprinter, options, kind="secret")
    history = sorted((i for i in items if i.name == "history"), key=lambda i: i.order)
    assert [i.order for i in history] == [0, 1, 2]
    assert all(i.version for i in history)
    assert [i.properties["tags"] for i in history] == [{"n": "0"}, {"n": "1"}, {"n": "2"}]

    target = make_vault("target")
    first = replicate(items, source, target, REPLICATION, fingerprinter, options)
    assert set(statuses(first).values()) == {"replicated"}
    tgt = admin(target).secrets
    assert _version_count(admin, target, "history") == 3
    assert tgt.get_secret("history").value == "value-2"
    values = {tgt.get_secret("history", p.version).value
              for p in tgt.list_properties_of_secret_versions("history")}
    assert values == {"value-0", "value-1", "value-2"}
    assert_sides_match(source, target, REPLICATION, fingerprinter, options, kind="secret")

    again = replicate(items, source, target, REPLICATION, fingerprinter, options)
    assert set(statuses(again).values()) == {"unchanged"}
    assert _version_count(admin, target, "history") == 3

    # Only current versions were copied before: the history is added behind them.
    partial_target = make_vault("target")
    replicate(discover(source, REPLICATION, fingerprinter, kind="secret"),
              source, partial_target, REPLICATION, fingerprinter)
    outcomes = replicate(items, source, partial_target, REPLICATION, fingerprinter, options)
    history_outcomes = [outcomes[i.key] for i in history]
    assert any(o.warnings for o in history_outcomes)
    assert admin(partial_target).secrets.get_secret("history").value == "value-2"
    rerun = replicate(items, source, partial_target, REPLICATION, fingerprinter, options)
    assert set(statuses(rerun).values()) == {"unchanged"}


def test_fingerprint_is_keyed_hash_of_the_value(source, fingerprinter, canary):
    items = {i.name: i for i in discover(source, REPLICATION, fingerprinter, kind="secret")}
    value = fingerprint(items["plain"], source, REPLICATION, fingerprinter)
    assert value == fingerprinter.of(canary + "-plain")
    assert canary not in value
    # Another key gives another fingerprint: a fingerprint cannot be looked up.
    from atg_dataplane import Fingerprinter

    other = Fingerprinter()
    assert fingerprint(items["plain"], source, REPLICATION, other) != value
    assert plugin.dataplane_fingerprint(
        item=items["plain"], resource=source, mode=TEMPLATE, fingerprinter=fingerprinter
    ) is None
    assert fingerprint(items["off"], source, REPLICATION, fingerprinter) is None


def test_terraform_holds_no_value(source, fingerprinter, canary):
    items = discover(source, TEMPLATE, fingerprinter)
    hcl = plugin.dataplane_terraform(resource=source, items=items, mode=TEMPLATE, options={})
    assert canary not in hcl
    assert hcl.count("sensitive   = true") == 3
    assert re.search(r'resource "azurerm_key_vault_secret" "kv\w+_typed"', hcl)
    assert re.search(r'content_type\s+= "application/json"', hcl)


def test_rerun_writes_nothing_when_the_histories_differ_across_seconds(
    make_vault, admin, fingerprinter
):
    """The target held the current version before the history was copied, a second
    earlier: positions no longer line up, and a re-run must still write nothing."""
    source = make_vault("source")
    client = admin(source).secrets
    for n in range(3):
        if n:
            time.sleep(1.05)
        client.set_secret("history", f"value-{n}")
    options = {"keyvault.all_versions": True}
    target = make_vault("target")
    replicate(discover(source, REPLICATION, fingerprinter, kind="secret"),
              source, target, REPLICATION, fingerprinter)
    time.sleep(1.05)  # the history lands in a later second than the first copy
    items = discover(source, REPLICATION, fingerprinter, options, kind="secret")
    replicate(items, source, target, REPLICATION, fingerprinter, options)
    rerun = replicate(items, source, target, REPLICATION, fingerprinter, options)
    assert set(statuses(rerun).values()) == {"unchanged"}
    assert admin(target).secrets.get_secret("history").value == "value-2"
