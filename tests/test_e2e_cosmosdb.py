"""End to end, as a user types it: the Cosmos DB plugin through the CLI against a private
sandbox seeded with the reference accounts (three databases, one with shared throughput,
hash and hierarchical keys, a custom indexing policy, unique keys, TTL, autoscale, scripts
of all three kinds, unicode ids, documents near 2 MB).

What landed is checked independently of the plugin, through azure-cosmos with the
account's key. A replication killed (SIGKILL) in the middle of a large container resumes
from its checkpoint when the same command is run again.

Covers issue 17's acceptance 1 and 2.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from e2e_helpers import Cli, only_types, start_private_sandbox

pytestmark = pytest.mark.sandbox
COSMOS = "Microsoft.DocumentDB/databaseAccounts"
ACCOUNTS = {"source": "srccosmos1", "target": "tgtcosmos1"}
GROUPS = {"source": "rg-source-data", "target": "rg-target-data"}
SYSTEM = ("_rid", "_etag", "_ts", "_self", "_attachments")
BIG = 4000


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from atg_dataplane_sandbox import sandbox as sbx
    from atg_dataplane_sandbox import seed

    directory = tmp_path_factory.mktemp("e2e-cosmos")
    info = start_private_sandbox(directory)
    only_types(info.config_path, COSMOS)
    try:
        seed.seed(directory, "reference")
        yield {"dir": directory, "config": str(info.config_path)}
    finally:
        sbx.down(directory)


def _client(world: dict[str, Any], side: str) -> Any:
    from atg_dataplane_sandbox import seed
    from atg_dataplane_sandbox.seeders import cosmos
    from azure.mgmt.cosmosdb import CosmosDBManagementClient

    ctx = seed.context(world["dir"])
    arm = ctx.mgmt(CosmosDBManagementClient, side).database_accounts
    endpoint = arm.get(GROUPS[side], ACCOUNTS[side]).document_endpoint
    key = arm.list_keys(GROUPS[side], ACCOUNTS[side]).primary_master_key
    return cosmos.data_client(ctx, endpoint, key)


def _contents(client: Any) -> dict[str, Any]:
    """Every container: its definition, scripts and documents (without system fields)."""
    seen: dict[str, Any] = {}
    for db in client.list_databases():
        database = client.get_database_client(db["id"])
        for found in database.list_containers():
            container = database.get_container_client(found["id"])
            scripts = container.scripts
            docs = container.query_items("SELECT * FROM c", enable_cross_partition_query=True)
            seen[f"{db['id']}/{found['id']}"] = {
                "partitionKey": found["partitionKey"],
                "indexingPolicy": found.get("indexingPolicy"),
                "uniqueKeyPolicy": found.get("uniqueKeyPolicy"),
                "defaultTtl": found.get("defaultTtl"),
                "scripts": sorted(
                    [s["id"], s["body"]] for s in [*scripts.list_stored_procedures(),
                                                   *scripts.list_triggers(),
                                                   *scripts.list_user_defined_functions()]),
                "documents": {d["id"]: {k: v for k, v in d.items() if k not in SYSTEM}
                              for d in docs},
            }
    return seen


def test_cosmos_db_through_the_cli(world: dict[str, Any]) -> None:
    cli = Cli(cwd=world["dir"])
    config = world["config"]
    listing = cli("plugins", "--output", "json").json()
    assert any(p["name"] == "cosmosdb" and p["status"] == "loaded" for p in listing)
    perms = cli("permissions", "--config", config, "--mode", "replication", "-o", "json").json()
    assert perms["ok"] is True, perms
    source = _contents(_client(world, "source"))
    assert sum(len(c["documents"]) for c in source.values()) == 54

    # Template mode: the structure, scripts included, and no document.
    template = cli("replicate", "--config", config, "--mode", "template", "-o", "json")
    assert template.summary()["failed"] == 0
    target = _contents(_client(world, "target"))
    assert set(target) == set(source)
    for name, container in source.items():
        assert {**target[name], "documents": None} == {**container, "documents": None}, name
        assert target[name]["documents"] == {}
    verify = cli("verify", "--config", config, "--mode", "template", "-o", "json").json()
    assert verify["fidelity"] == 100.0, verify["items"]

    # Replication: every document; verify compares them; a re-run writes nothing.
    run = cli("replicate", "--config", config, "--mode", "replication", "--yes", "-o", "json")
    result = run.summary()
    assert result["failed"] == 0, result
    assert _contents(_client(world, "target")) == source
    assert any("TTL restarts with the copy" in w for w in result["warnings"])
    verify = cli("verify", "--config", config, "--mode", "replication", "-o", "json").json()
    cosmos = verify["by_type"][COSMOS]
    assert verify["fidelity"] == 100.0 and cosmos["fidelity"] == 100.0, verify["items"]
    assert cosmos["by_kind"]["container"] == {"matching": 6}
    assert cosmos["by_kind"]["storedProcedure"] == {"matching": 1}
    again = cli("replicate", "--config", config, "--mode", "replication", "--yes", "-o", "json")
    assert again.summary()["replicated"] == 0

    # A document gone from the target: verify says so and exits 1 (--min-fidelity lowers
    # the bar); the next run puts it back.
    events = _client(world, "target").get_database_client("shareddb").get_container_client(
        "events")
    gone = next(iter(events.query_items("SELECT * FROM c", enable_cross_partition_query=True)))
    events.delete_item(gone["id"], partition_key=[gone["tenant"], gone["user"]])
    args = ("verify", "--config", config, "--mode", "replication", "-o", "json")
    short = cli(*args, check=1).json()
    assert short["different"] == 1 and short["fidelity"] < 100.0
    cli(*args, "--min-fidelity", "90")
    cli("replicate", "--config", config, "--mode", "replication", "--yes", "-o", "json")
    assert cli(*args).json()["fidelity"] == 100.0


def _checkpoint(journal: Any, item_key: str) -> str | None:
    try:
        with sqlite3.connect(journal, timeout=1) as db:
            row = db.execute(
                "SELECT value FROM checkpoints WHERE item_key = ?", (item_key,)
            ).fetchone()
    except sqlite3.OperationalError:  # not created yet, or busy
        return None
    return str(row[0]) if row else None


def test_a_killed_run_resumes_the_large_container_from_its_checkpoint(
    world: dict[str, Any]
) -> None:
    from atg_dataplane_sandbox import sandbox as sbx
    from atg_dataplane_sandbox import seed
    from atg_dataplane_sandbox.scenarios import (
        CosmosContainerSpec,
        CosmosContents,
        CosmosDatabaseSpec,
        ResourceSpec,
    )
    from atg_dataplane_sandbox.seeders import cosmos

    directory = world["dir"]
    big = CosmosContents(databases=[CosmosDatabaseSpec("bigdb", containers=[
        CosmosContainerSpec("events", partition_key=["/device", "/day"], documents=BIG)])])
    cosmos.seed(seed.context(directory),
                ResourceSpec("cosmos", ACCOUNTS["source"], ACCOUNTS["target"], big))
    args = ["replicate", "--config", world["config"], "--mode", "replication", "--yes",
            "-o", "json"]
    # Slow answers, so the run is surely killed between two pages of the large container.
    sbx.set_faults(directory, "cosmos:latency=60ms")
    journal = directory / ".atg-dataplane" / "journal.db"
    process = subprocess.Popen([sys.executable, "-m", "atg_dataplane", *args], cwd=directory,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while _checkpoint(journal, "container:bigdb/events") is None:
            assert process.poll() is None, "the run ended before the large container began"
            assert time.monotonic() < deadline, "no checkpoint of the large container"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
        sbx.set_faults(directory, "")
    saved = json.loads(str(_checkpoint(journal, "container:bigdb/events")))
    assert saved["token"] or saved["index"] > 0

    resumed = Cli(cwd=directory)(*args)
    result = resumed.summary()
    assert result["failed"] == 0, result
    [line] = [w for w in result["warnings"] if w.startswith("container bigdb/events:")]
    read = int(line.split(": ", 1)[1].split(" documents read")[0])
    assert "(resumed from its checkpoint)" in line
    assert 0 < read < BIG, line  # fewer documents read than the container holds

    source = _contents(_client(world, "source"))["bigdb/events"]["documents"]
    target = _contents(_client(world, "target"))["bigdb/events"]["documents"]
    assert len(source) == BIG and target == source  # no loss, no duplicate
