"""The core's engine and verifier driving this plugin against the emulated tenants.

The plugin is loaded from its real entry point; the engine runs items
concurrently (with the plugin's per-vault limit), journals them, and verifies
the target by discovering both sides again.
"""

from __future__ import annotations

import uuid

import pytest
from atg_dataplane import ReplicationMode
from atg_dataplane.testing import PairRun
from azure.keyvault.certificates import CertificatePolicy


@pytest.fixture
def seeded(make_vault, admin):
    source = make_vault("source")
    a = admin(source)
    canary = "canary-" + uuid.uuid4().hex
    for n in range(12):
        a.secrets.set_secret(f"s{n}", f"{canary}-{n}", tags={"n": str(n)})
    a.keys.create_ec_key("k1", curve="P-256")
    a.certificates.begin_create_certificate(
        "c1", CertificatePolicy(issuer_name="Self", subject="CN=c1.example", exportable=True)
    ).result()
    return source, canary


@pytest.mark.parametrize("mode", list(ReplicationMode))
def test_engine_replicates_reruns_as_no_op_and_verifies(
    seeded, make_vault, tmp_path, mode, capsys
):
    source, canary = seeded
    target = make_vault("target")
    harness = PairRun("keyvault", source, target, tmp_path)
    options = {"keyvault.all_versions": True}

    first = harness.replicate(mode, options)
    assert first.result.failed == 0, first.result.errors
    assert first.result.discovered == 14
    kinds = first.by_resource[source.resource.id]
    assert kinds["secret"].replicated == 12
    assert kinds["key"].replicated == 1
    assert kinds["certificate"].replicated == 1

    second = harness.replicate(mode, options)
    assert second.result.failed == 0, second.result.errors
    kinds = second.by_resource[source.resource.id]
    assert sum(k.replicated for k in kinds.values()) == 0
    assert sum(k.unchanged for k in kinds.values()) == 14

    report = harness.verify(mode, options)
    statuses = {(v.kind, v.name): v.status for v in report.verdicts}
    assert statuses.pop(("key", "k1")) == "not_copyable"
    assert set(statuses.values()) == {"matching"}, [
        v for v in report.verdicts if v.status != "matching"
    ]
    assert report.fidelity == 100.0
    assert canary not in repr(first.to_dict()) + repr(second.to_dict()) + repr(report.to_dict())
    assert canary not in capsys.readouterr().out


def test_throttling_and_transient_faults_are_absorbed_by_the_retry_policy(
    seeded, make_vault, admin, tenants, tmp_path
):
    """429/503 with Retry-After and a per-vault write limit: no plugin retry loop needed."""
    source, canary = seeded
    target = make_vault("target")
    harness = PairRun("keyvault", source, target, tmp_path)
    tenants.handle.set_faults("keyvault:429=0.2,503=0.1,retry_after=0.05,throttle=20")
    try:
        summary = harness.replicate(ReplicationMode.REPLICATION, {})
    finally:
        tenants.handle.set_faults("")
    assert summary.result.failed == 0, summary.result.errors
    secrets = admin(target).secrets
    assert {p.name for p in secrets.list_properties_of_secrets() if not p.managed} == {
        f"s{n}" for n in range(12)
    }
    assert secrets.get_secret("s7").value == f"{canary}-7"


def test_lost_answers_and_dropped_connections_leave_no_duplicate_version(
    make_vault, admin, tenants, tmp_path
):
    """A fifth of the vaults' answers refused, dropped, or lost after the write was applied:
    every version lands exactly once, and verify agrees."""
    source = make_vault("source")
    a = admin(source)
    for n in range(8):
        for revision in range(3):
            a.secrets.set_secret(f"v{n}", f"value {n}.{revision}", tags={"r": str(revision)})
    a.keys.create_rsa_key("rsa", size=2048)
    for revision in range(2):
        a.certificates.begin_create_certificate(
            "tls",
            CertificatePolicy(issuer_name="Self", subject=f"CN=r{revision}", exportable=True),
        ).result()
    target = make_vault("target")
    harness = PairRun("keyvault", source, target, tmp_path)
    options = {"keyvault.all_versions": True}
    tenants.handle.set_faults("keyvault:mix=0.2,retry_after=0.05")
    try:
        summary = harness.replicate(ReplicationMode.REPLICATION, options)
    finally:
        tenants.handle.set_faults("")
    assert summary.result.failed == 0, summary.result.errors
    lost = tenants.handle.fault_counts.get("keyvault", {}).get("lost", 0)
    assert lost > 0  # the faults did happen
    t = admin(target)
    for n in range(8):
        values = [
            t.secrets.get_secret(f"v{n}", p.version).value
            for p in t.secrets.list_properties_of_secret_versions(f"v{n}")
        ]
        assert sorted(values) == [f"value {n}.{r}" for r in range(3)], values
    assert len(list(t.keys.list_properties_of_key_versions("rsa"))) == 1
    assert len(list(t.certificates.list_properties_of_certificate_versions("tls"))) == 2
    report = harness.verify(ReplicationMode.REPLICATION, options)
    assert report.fidelity == 100.0, [v for v in report.verdicts if v.status != "matching"]


def test_a_missing_or_altered_non_exportable_key_is_reported_by_verify(
    make_vault, admin, tmp_path
):
    """Keys cannot be copied byte for byte, but the target must hold one of each with the
    same parameters: one deleted there is missing, one with other parameters different."""
    source = make_vault("source")
    a = admin(source)
    a.keys.create_rsa_key("signing", size=2048)
    a.keys.create_ec_key("wrapping", curve="P-256")
    a.keys.create_ec_key("kept", curve="P-384")
    target = make_vault("target")
    harness = PairRun("keyvault", source, target, tmp_path)
    assert harness.replicate(ReplicationMode.REPLICATION, {}).result.failed == 0
    before = harness.verify(ReplicationMode.REPLICATION, {})
    assert before.count("not_copyable") == 3 and before.fidelity == 100.0
    t = admin(target)
    t.keys.begin_delete_key("signing").wait()
    t.keys.update_key_properties("wrapping", enabled=False)
    report = harness.verify(ReplicationMode.REPLICATION, {})
    verdicts = {v.name: v for v in report.verdicts}
    assert verdicts["signing"].status == "missing"
    assert verdicts["wrapping"].status == "different"
    assert "enabled" in verdicts["wrapping"].detail
    assert verdicts["kept"].status == "not_copyable"
    assert report.fidelity < 100.0


def test_malformed_answers_fail_items_in_bounded_time_and_the_rerun_completes(
    make_vault, admin, tenants, tmp_path
):
    """Answers that do not parse are retried a bounded number of times (they once made an
    item retry until killed); what still fails says why, and the next run completes it."""
    source = make_vault("source")
    a = admin(source)
    for n in range(6):
        a.secrets.set_secret(f"m{n}", f"value {n}")
    target = make_vault("target")
    harness = PairRun("keyvault", source, target, tmp_path)
    tenants.handle.set_faults("keyvault:malformed=0.6")
    try:
        first = harness.replicate(ReplicationMode.REPLICATION, {})
    finally:
        tenants.handle.set_faults("")
    assert tenants.handle.fault_counts.get("keyvault", {}).get("malformed", 0) > 0
    for error in first.result.errors:
        assert "after" in error or "discovery" in error, error
    second = harness.replicate(ReplicationMode.REPLICATION, {})
    assert second.result.failed == 0, second.result.errors
    report = harness.verify(ReplicationMode.REPLICATION, {})
    assert report.fidelity == 100.0
