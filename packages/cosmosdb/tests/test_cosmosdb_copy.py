"""The plugin against the sandbox's Cosmos DB accounts, through the engine: template mode
makes the structure (throughput and scripts included) and no documents; replication copies
every document (hierarchical keys, odd ids, a document near 2 MB) and a re-run writes
nothing; a stopped container copy resumes from its checkpoint; a target container with
another partition key fails that container alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from atg_dataplane import Fingerprinter
from atg_dataplane.testing import Killed, KilledAfter
from atg_dataplane_cosmosdb import copy, discovery, documents
from atg_dataplane_sandbox.scenarios import (
    CosmosContainerSpec,
    CosmosContents,
    CosmosDatabaseSpec,
)
from cosmosdb_testing import GROUPS, REPLICATION, TARGET, TEMPLATE, CosmosWorld

CONTENTS = CosmosContents(databases=[
    CosmosDatabaseSpec("shop", containers=[
        CosmosContainerSpec("orders", partition_key="/customerId", documents=1200,
                            custom_indexing=True, scripts=True, odd_ids=True,
                            unique_keys=["/email"], default_ttl=86400),
        CosmosContainerSpec("attachments", documents=1, large_documents=1, throughput=-4000),
    ]),
    CosmosDatabaseSpec("shared", throughput=400, containers=[
        CosmosContainerSpec("events", partition_key=["/tenant", "/user"], documents=30),
    ]),
])


def _clean(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["id"]: documents.clean(d) for d in docs}


def _failures(run: Any, summary: Any) -> dict[str, str]:
    return {i["name"]: i["reason"] for i in run.journal.items(summary.run_id)
            if i["status"] == "failed"}


def test_template_then_replication_then_a_rerun(accounts: CosmosWorld, tmp_path: Path) -> None:
    accounts.seed(CONTENTS)
    run = accounts.run(tmp_path)

    summary = run.replicate(TEMPLATE)
    assert summary.result.failed == 0, _failures(run, summary)
    sql, group = accounts.arm("target").sql_resources, GROUPS["target"]
    assert sql.get_sql_database_throughput(group, TARGET, "shared").resource.throughput == 400
    attachments = sql.get_sql_container_throughput(group, TARGET, "shop", "attachments")
    assert attachments.resource.autoscale_settings.max_throughput == 4000
    orders = accounts.container("target", "shop", "orders").read()
    source_orders = accounts.container("source", "shop", "orders").read()
    for field in ("partitionKey", "indexingPolicy", "uniqueKeyPolicy", "defaultTtl"):
        assert orders[field] == source_orders[field], field
    events = accounts.container("target", "shared", "events").read()
    assert events["partitionKey"]["paths"] == ["/tenant", "/user"]
    scripts = accounts.container("target", "shop", "orders").scripts
    assert [s["id"] for s in scripts.list_stored_procedures()] == ["bulkImport"]
    assert [t["triggerOperation"] for t in scripts.list_triggers()] == ["Create"]
    assert [u["id"] for u in scripts.list_user_defined_functions()] == ["taxOf"]
    assert accounts.documents("target", "shop", "orders") == []  # structure only
    assert run.verify(TEMPLATE).fidelity == 100.0

    summary = run.replicate(REPLICATION)
    assert summary.result.failed == 0, _failures(run, summary)
    for db, coll in (("shop", "orders"), ("shop", "attachments"), ("shared", "events")):
        source = _clean(accounts.documents("source", db, coll))
        assert _clean(accounts.documents("target", db, coll)) == source, f"{db}/{coll}"
    copied = _clean(accounts.documents("target", "shop", "orders"))
    assert "名前-データ 1" in copied and "rtl \u202e mark 5" in copied
    large = _clean(accounts.documents("target", "shop", "attachments"))
    assert max(len(d.get("payload", {}).get("blob", "")) for d in large.values()) == 1_900_000
    report = run.verify(REPLICATION)
    assert report.fidelity == 100.0 and report.count("matching") == report.compared
    assert report.by_type()["Microsoft.DocumentDB/databaseAccounts"]["by_kind"]["container"] == {
        "matching": 3}

    again = run.replicate(REPLICATION)
    assert again.result.failed == 0 and again.result.replicated == 0  # 0 documents written


def test_verify_sees_a_changed_and_a_missing_document(
    accounts: CosmosWorld, tmp_path: Path
) -> None:
    accounts.seed(CosmosContents(databases=[CosmosDatabaseSpec("v", containers=[
        CosmosContainerSpec("items", documents=20)])]))
    run = accounts.run(tmp_path)
    run.replicate(REPLICATION)
    target = accounts.container("target", "v", "items")
    changed = target.read_item("items-00003", partition_key="pk-3")
    target.upsert_item({**documents.clean(changed), "amount": -1})
    report = run.verify(REPLICATION)
    assert report.count("different") == 1
    [verdict] = [v for v in report.verdicts if v.status == "different"]
    assert verdict.name == "v/items" and verdict.detail == "content differs (fingerprint)"

    target.delete_item("items-00004", partition_key="pk-0")
    report = run.verify(REPLICATION)
    [verdict] = [v for v in report.verdicts if v.status == "different"]
    assert "documents" in verdict.detail  # 19 in the target, 20 in the source

    summary = run.replicate(REPLICATION)  # a new run puts both back, and only them
    assert summary.result.replicated == 1
    assert run.verify(REPLICATION).fidelity == 100.0


def test_a_stopped_container_copy_resumes_from_its_checkpoint(
    accounts: CosmosWorld, fingerprinter: Fingerprinter
) -> None:
    total = 2 * documents.PAGE + 300
    accounts.seed(CosmosContents(databases=[CosmosDatabaseSpec("big", containers=[
        CosmosContainerSpec("events", documents=total)])]))
    options = discovery.Options()
    items = {i.name: i for i in discovery.discover(
        accounts.binding("source"), REPLICATION, options, fingerprinter)}
    item = items["big/events"]
    assert item.properties["documents"] == total
    checkpoint = KilledAfter(2)
    with pytest.raises(Killed):
        copy.replicate(item, accounts.binding("source"), accounts.binding("target"),
                       REPLICATION, options, fingerprinter, checkpoint)
    assert len(accounts.documents("target", "big", "events")) == 2 * documents.PAGE

    outcome = copy.replicate(item, accounts.binding("source"), accounts.binding("target"),
                             REPLICATION, options, fingerprinter, checkpoint)
    assert outcome.reason == "300 documents read (resumed from its checkpoint), 300 written"
    copied = accounts.documents("target", "big", "events")
    assert len(copied) == total and len({d["id"] for d in copied}) == total
    assert _clean(copied) == _clean(accounts.documents("source", "big", "events"))


def test_a_target_container_with_another_partition_key_fails_alone(
    accounts: CosmosWorld, tmp_path: Path
) -> None:
    accounts.seed(CosmosContents(databases=[CosmosDatabaseSpec("mixed", containers=[
        CosmosContainerSpec("a", partition_key="/pk", documents=3),
        CosmosContainerSpec("b", documents=2)])]))
    sql, group = accounts.arm("target").sql_resources, GROUPS["target"]
    sql.begin_create_update_sql_database(
        group, TARGET, "mixed", {"properties": {"resource": {"id": "mixed"}}},
        polling_interval=0.05).result()
    sql.begin_create_update_sql_container(
        group, TARGET, "mixed", "a",
        {"properties": {"resource": {"id": "a", "partitionKey": {"paths": ["/other"]}}}},
        polling_interval=0.05).result()
    run = accounts.run(tmp_path)
    summary = run.replicate(REPLICATION)
    failures = _failures(run, summary)
    assert list(failures) == ["mixed/a"]
    assert "another partitionKey than the source (/other instead of /pk)" in failures["mixed/a"]
    assert "delete the target container" in failures["mixed/a"]
    assert accounts.container("target", "mixed", "a").read()["partitionKey"]["paths"] == [
        "/other"]
    assert accounts.documents("target", "mixed", "a") == []
    assert len(accounts.documents("target", "mixed", "b")) == 2


def test_without_a_data_role_the_copy_says_how_and_keys_do_it(
    accounts: CosmosWorld, tmp_path: Path
) -> None:
    """Documents need the target's Cosmos DB data role (native RBAC, which the ARM
    permission check cannot see): without it the container fails with the command that
    grants it; ``cosmosdb.use_keys`` copies with the account keys from ARM instead."""
    accounts.seed(CosmosContents(databases=[CosmosDatabaseSpec("k", containers=[
        CosmosContainerSpec("items", documents=7)])]))
    sql, group = accounts.arm("target").sql_resources, GROUPS["target"]
    replicator = accounts.sandbox.topology.principal("target", "replicator").object_id
    granted = [a.name for a in sql.list_sql_role_assignments(group, TARGET)
               if a.principal_id == replicator]
    assert granted
    for name in granted:
        sql.begin_delete_sql_role_assignment(name, group, TARGET, polling_interval=0.05).result()
    assignment = ""
    try:
        run = accounts.run(tmp_path)
        summary = run.replicate(REPLICATION)
        failures = _failures(run, summary)
        assert list(failures) == ["k/items"]
        reason = failures["k/items"]
        assert "403 Forbidden" in reason and "az cosmosdb sql role assignment create" in reason
        assert accounts.documents("target", "k", "items") == []

        # The source's read-only keys take a role with readonlykeys/action.
        assignment = accounts.grant("source", "replicator", "Cosmos DB Account Reader Role")
        summary = run.replicate(REPLICATION, {"cosmosdb.use_keys": True})
        assert summary.result.failed == 0 and not summary.failed_resources, (
            _failures(run, summary), summary.failed_resources)
        assert len(accounts.documents("target", "k", "items")) == 7
        assert run.verify(REPLICATION, {"cosmosdb.use_keys": True}).fidelity == 100.0
    finally:
        if assignment:
            accounts.revoke("source", assignment)
        accounts.seed(CosmosContents())  # the seeder grants the data role again


def test_the_largest_containers_are_listed_first(
    accounts: CosmosWorld, fingerprinter: Fingerprinter
) -> None:
    """A long copy listed last runs alone at the end: replication lists the databases by
    their largest container, each one's containers by their document counts; template mode
    (no documents to copy) lists them by name."""
    accounts.seed(CONTENTS)
    source = accounts.binding("source")

    def containers(mode: Any) -> list[str]:
        items = discovery.discover(source, mode, discovery.Options(), fingerprinter)
        return [i.name for i in items if i.kind == discovery.CONTAINER]

    assert containers(REPLICATION) == ["shop/orders", "shop/attachments", "shared/events"]
    assert containers(TEMPLATE) == ["shared/events", "shop/attachments", "shop/orders"]


def test_a_count_that_keeps_failing_is_left_unknown_not_the_discovery(
    accounts: CosmosWorld, fingerprinter: Fingerprinter
) -> None:
    """Counts only order the copies: a data plane that answers every request with 500
    (a transient failure, tried again) leaves each count unknown, and the account's
    structure is still listed in full through ARM."""
    accounts.seed(CONTENTS)
    before = accounts.sandbox.set_faults("cosmos:500=1")["injected"].get("cosmos", {})
    try:
        items = discovery.discover(
            accounts.binding("source"), REPLICATION, discovery.Options(), fingerprinter)
        counts = {i.name: i.properties["documents"] for i in items
                  if i.kind == discovery.CONTAINER}
    finally:
        after = accounts.sandbox.set_faults("")["injected"].get("cosmos", {})
    assert counts == {"shop/orders": None, "shop/attachments": None, "shared/events": None}
    assert after.get("500", 0) - before.get("500", 0) >= 3 * discovery.COUNT_ATTEMPTS
