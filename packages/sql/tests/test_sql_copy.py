"""The plugin against the sandbox's SQL servers, through the core's engine and verifier:
template mode gives the target the schema and no rows, replication the rows too, verify
matches, a re-run imports nothing; a non-empty target that differs fails untouched unless
``sql.replace_non_empty``; a server closed to Azure services is reported; the staging
container is empty afterwards and the SAS is in no journal."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from atg_dataplane import ReplicationMode, ResourceBinding
from atg_dataplane.testing import PairRun
from azure.mgmt.sql import SqlManagementClient

pytestmark = pytest.mark.sandbox
GROUPS = {"source": "rg-sql-tests", "target": "rg-target-data"}
"""The source servers of these tests are not in the seed's source group: a run over the
session's sandbox (the conformance suite's) would take them for servers to copy."""
TYPE = "Microsoft.Sql/servers"
PREFIX = {"source": "src", "target": "tgt"}


@pytest.fixture(scope="module")
def seeded(sandbox: Any) -> Any:
    sandbox.seed("reference")
    return sandbox


@pytest.fixture(scope="module")
def options(seeded: Any) -> dict[str, Any]:
    config = json.loads(seeded.config_path.read_text())
    return {k: v for k, v in config["options"].items() if k.startswith("sql.")}


def _binding(sandbox: Any, side: str, server: str) -> ResourceBinding:
    from atg_dataplane_sql.plugin import dataplane_resource_types

    client: SqlManagementClient = sandbox.mgmt(SqlManagementClient, side)
    found = client.servers.get(GROUPS[side], server)
    binding: ResourceBinding = sandbox.binding(side, found.id, dataplane_resource_types()[0])
    return binding


def _run(sandbox: Any, source: str, target: str, tmp_path: Path) -> PairRun:
    return PairRun(
        "sql", _binding(sandbox, "source", source), _binding(sandbox, "target", target), tmp_path
    )


def _pair(sandbox: Any, stem: str, contents: dict[str, tuple[str, str | None]]) -> None:
    """Servers ``sql-src-<stem>`` and ``sql-tgt-<stem>`` (the session's reference servers
    are the conformance suite's): ``{database: (source content, target content or None
    for empty)}``, each imported from the seed's packages of 60 rows."""
    from atg_dataplane_sandbox.seeders import sql

    ctx = _ctx(sandbox)
    for side in ("source", "target"):
        server = f"sql-{PREFIX[side]}-{stem}"
        sql.create_server(ctx, side, server)
        for database, filled in contents.items():
            content = filled[0] if side == "source" else filled[1]
            if sql.create_database(ctx, side, server, database) and content:
                sql.import_package(ctx, side, server, database, sql.build(content, 60))


def _unchanged(summary: Any) -> int:
    return sum(kinds["database"].unchanged for kinds in summary.by_resource.values())


def _ctx(sandbox: Any) -> Any:
    import dataclasses

    from atg_dataplane_sandbox import seed
    from azure.mgmt.resource.resources import ResourceManagementClient

    context = dataclasses.replace(seed.context(sandbox.dir), resource_groups=GROUPS)
    context.mgmt(ResourceManagementClient, "source").resource_groups.create_or_update(
        GROUPS["source"], {"location": context.location("source")})
    return context


def _rows(sandbox: Any, side: str, server: str, database: str) -> dict[str, int]:
    """Rows per table of a fresh export (read through the sandbox's own helpers)."""
    from atg_dataplane_sandbox import bacpac
    from atg_dataplane_sandbox.seeders import sql

    return bacpac.tables(sql.export_package(_ctx(sandbox), side, server, database))


def _staged(sandbox: Any) -> list[str]:
    from atg_dataplane_sandbox.seeders import sql

    return sql.staged(_ctx(sandbox), "atg-dataplane-sql")


def test_template_then_replication_then_nothing_to_do(
    seeded: Any, options: dict[str, Any], tmp_path: Path
) -> None:
    from atg_dataplane_sql import staging

    _pair(seeded, "copy", {"sales": ("sales", None), "inventory": ("inventory", None)})
    run = _run(seeded, "sql-src-copy", "sql-tgt-copy", tmp_path)
    template = run.replicate(ReplicationMode.TEMPLATE, options)
    assert template.result.failed == 0, template.result.errors[:5]
    assert template.result.replicated == 2
    assert _rows(seeded, "target", "sql-tgt-copy", "sales") == {"Customers": 0, "Orders": 0}
    again = run.replicate(ReplicationMode.TEMPLATE, options)
    assert again.result.replicated == 0 and _unchanged(again) == 2  # no import

    # replication over the template's schema and no row: made again and filled
    replicated = run.replicate(ReplicationMode.REPLICATION, options)
    assert replicated.result.failed == 0, replicated.result.errors[:5]
    assert replicated.result.replicated == 2
    assert replicated.client_bytes == 0  # Azure moved the rows
    source_rows = _rows(seeded, "source", "sql-src-copy", "sales")
    assert _rows(seeded, "target", "sql-tgt-copy", "sales") == source_rows
    assert sum(source_rows.values()) == 120

    report = run.verify(ReplicationMode.REPLICATION, options)
    assert report.by_type()[TYPE]["by_kind"]["database"] == {"matching": 2}
    shallow = run.verify(ReplicationMode.REPLICATION, {**options, "verify.shallow": True})
    assert shallow.fidelity == 100.0
    last = run.replicate(ReplicationMode.REPLICATION, options)
    assert last.result.replicated == 0 and _unchanged(last) == 2

    assert _staged(seeded) == []  # every package deleted
    journal = run.journal.path.read_bytes()
    assert b"sig=" not in journal
    for made in staging._made.values():  # the staging account's key, whose SAS Azure got
        assert isinstance(made, staging.Staging) and made._key.encode() not in journal


def test_a_different_target_fails_untouched(
    seeded: Any, options: dict[str, Any], tmp_path: Path
) -> None:
    _pair(seeded, "conflict", {"crm": ("sales", "inventory")})
    before = _rows(seeded, "target", "sql-tgt-conflict", "crm")
    run = _run(seeded, "sql-src-conflict", "sql-tgt-conflict", tmp_path)
    failed = run.replicate(ReplicationMode.REPLICATION, options)
    assert failed.result.failed == 1
    [error] = failed.result.errors
    assert "sql.replace_non_empty" in str(error)
    assert _rows(seeded, "target", "sql-tgt-conflict", "crm") == before
    assert _staged(seeded) == []
    replaced = run.replicate(ReplicationMode.REPLICATION,
                             {**options, "sql.replace_non_empty": True})
    assert replaced.result.failed == 0 and replaced.result.replicated == 1
    assert _rows(seeded, "target", "sql-tgt-conflict", "crm") == {"Customers": 60, "Orders": 60}
    assert run.verify(ReplicationMode.REPLICATION, options).fidelity == 100.0


def test_a_server_closed_to_azure_services_is_reported(
    seeded: Any, options: dict[str, Any], tmp_path: Path
) -> None:
    from atg_dataplane_sandbox.seeders import sql
    from atg_dataplane_sql import databases

    ctx = _ctx(seeded)
    sql.create_server(ctx, "source", "sql-src-closed")
    sql.create_database(ctx, "source", "sql-src-closed", "orders")
    ctx.mgmt(SqlManagementClient, "source").firewall_rules.delete(
        GROUPS["source"], "sql-src-closed", "AllowAllWindowsAzureIps")
    [item] = databases.items(_binding(seeded, "source", "sql-src-closed"), options)
    assert not item.copyable
    assert "does not let Azure services in" in item.not_copyable_reason
    assert "0.0.0.0" in item.not_copyable_reason  # the remedy


def test_without_logins_the_item_says_what_to_give(
    seeded: Any, options: dict[str, Any], tmp_path: Path
) -> None:
    _pair(seeded, "nologin", {"sales": ("sales", None)})
    run = _run(seeded, "sql-src-nologin", "sql-tgt-nologin", tmp_path)
    summary = run.replicate(ReplicationMode.TEMPLATE,
                            {k: v for k, v in options.items() if k != "sql.logins_file"})
    assert summary.result.failed == 1
    assert "sql.logins_file" in str(summary.result.errors[0])


def test_export_from_a_copy_then_the_copy_is_gone(
    seeded: Any, options: dict[str, Any], tmp_path: Path
) -> None:
    _pair(seeded, "copied", {"sales": ("sales", None)})
    run = _run(seeded, "sql-src-copied", "sql-tgt-copied", tmp_path)
    summary = run.replicate(ReplicationMode.REPLICATION,
                            {**options, "sql.export_from_copy": True})
    assert summary.result.failed == 0 and summary.result.replicated == 1
    assert _rows(seeded, "target", "sql-tgt-copied", "sales") == {"Customers": 60,
                                                                  "Orders": 60}
    listed = seeded.mgmt(SqlManagementClient, "source").databases.list_by_server(
        GROUPS["source"], "sql-src-copied")
    assert sorted(d.name for d in listed) == ["master", "sales"]


def test_a_failed_import_leaves_the_target_empty(
    seeded: Any, options: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An import that fails part way (a row breaks a key: Azure keeps what it created
    before) is undone: the target database is made again, empty, and can be filled by the
    next run. The source's export is swapped for such a package, uploaded to the real
    staging blob; every Azure call is real."""
    from atg_dataplane import ItemError
    from atg_dataplane.context import Checkpoint
    from atg_dataplane_sandbox import bacpac
    from atg_dataplane_sandbox.seeders import sql
    from atg_dataplane_sql import databases
    from atg_dataplane_sql.plugin import dataplane_discover

    _pair(seeded, "broken", {"sales": ("sales", None)})
    source = _binding(seeded, "source", "sql-src-broken")
    target = _binding(seeded, "target", "sql-tgt-broken")
    package = sql.build("sales", 20)
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        parts = {n: archive.read(n) for n in archive.namelist()}
    orders = "Data/dbo.Orders/TableData-000-00000.BCP"
    parts[orders] = parts[orders].splitlines(keepends=True)[0] + parts[orders]  # a key twice
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    real = databases.export

    def export(binding: Any, opts: Any, name: str, stage: Any, blob: str) -> None:
        if binding.side == "source":
            stage.blob(blob, binding).upload_blob(buffer.getvalue())
        else:
            real(binding, opts, name, stage, blob)

    monkeypatch.setattr(databases, "export", export)
    [item] = dataplane_discover(source, ReplicationMode.REPLICATION, options)
    with pytest.raises(ItemError, match="failed part way"):
        databases.replicate(item, source, target, Checkpoint(), options, True)
    assert _rows(seeded, "target", "sql-tgt-broken", "sales") == {}  # empty again
    assert bacpac.tables(package) == {"Customers": 20, "Orders": 20}
    monkeypatch.undo()
    outcome = databases.replicate(item, source, target, Checkpoint(), options, True)
    assert outcome.status == "replicated"
    assert _rows(seeded, "target", "sql-tgt-broken", "sales") == {"Customers": 60,
                                                                  "Orders": 60}


def test_a_stop_while_replacing_a_database_resumes(
    seeded: Any, options: dict[str, Any]
) -> None:
    """Stopped once the checkpoint says the target is being made again; the drop went
    through, the make did not: the next attempt makes it and fills it, and cleans up the
    packages the stopped one left."""
    from atg_dataplane.testing import Killed, KilledAfter
    from atg_dataplane_sql import databases
    from atg_dataplane_sql.plugin import dataplane_discover

    _pair(seeded, "stopped", {"crm": ("sales", "inventory")})
    source = _binding(seeded, "source", "sql-src-stopped")
    target = _binding(seeded, "target", "sql-tgt-stopped")
    replace = {**options, "sql.replace_non_empty": True}
    [item] = dataplane_discover(source, ReplicationMode.REPLICATION, replace)
    checkpoint = KilledAfter(3)  # the two exports staged, then the body to make it again
    with pytest.raises(Killed):
        databases.replicate(item, source, target, checkpoint, replace, True)
    assert json.loads(checkpoint.get() or "{}")["remaking"]["location"]
    seeded.mgmt(SqlManagementClient, "target").databases.begin_delete(
        GROUPS["target"], "sql-tgt-stopped", "crm").result()
    outcome = databases.replicate(item, source, target, checkpoint, replace, True)
    assert outcome.status == "replicated"
    assert _rows(seeded, "target", "sql-tgt-stopped", "crm") == {"Customers": 60,
                                                                 "Orders": 60}
    assert _staged(seeded) == []


def test_ctrl_c_ends_the_wait_and_the_next_run_finishes(
    seeded: Any, options: dict[str, Any]
) -> None:
    from atg_dataplane.context import Checkpoint
    from atg_dataplane.retry import RunStopping
    from atg_dataplane_sql import databases
    from atg_dataplane_sql.plugin import dataplane_discover

    _pair(seeded, "ctrlc", {"sales": ("sales", None)})
    source = _binding(seeded, "source", "sql-src-ctrlc")
    target = _binding(seeded, "target", "sql-tgt-ctrlc")
    [item] = dataplane_discover(source, ReplicationMode.REPLICATION, options)
    checkpoint = Checkpoint()
    source.context.stop.set()
    try:
        with pytest.raises(RunStopping):
            databases.replicate(item, source, target, checkpoint, options, True)
    finally:
        source.context.stop.clear()
    assert _staged(seeded) == []  # what the stopped attempt staged is gone
    outcome = databases.replicate(item, source, target, checkpoint, options, True)
    assert outcome.status == "replicated"
    assert _rows(seeded, "target", "sql-tgt-ctrlc", "sales") == {"Customers": 60,
                                                                 "Orders": 60}


def test_a_request_the_sdk_sent_twice_is_tried_again_not_failed(
    seeded: Any, options: dict[str, Any]
) -> None:
    """An answer lost on its way back makes the SDK send an export or import again, and
    the service refuses the second because the first did its work (the blob exists; the
    database is no longer empty). That is a transient error for the engine to try the
    item again, which then finds the copy made: every call here is real."""
    from atg_dataplane.context import Checkpoint
    from atg_dataplane.retry import is_transient
    from atg_dataplane_sql import databases
    from atg_dataplane_sql.plugin import dataplane_discover
    from azure.core.exceptions import ServiceResponseError

    _pair(seeded, "twice", {"sales": ("sales", None)})
    source = _binding(seeded, "source", "sql-src-twice")
    target = _binding(seeded, "target", "sql-tgt-twice")
    stage = databases._stage(source, target, options)
    blob = stage.name("sql-src-twice", "sales", "source")
    try:
        databases.export(source, options, "sales", stage, blob)  # the first request
        with pytest.raises(ServiceResponseError, match="sent twice") as export_again:
            databases.export(source, options, "sales", stage, blob)
        assert is_transient(export_again.value)
        databases._operate(target, options, "import", "sales", stage, blob)
        with pytest.raises(ServiceResponseError, match="sent twice") as import_again:
            databases._operate(target, options, "import", "sales", stage, blob)
        assert is_transient(import_again.value)
    finally:
        stage.delete([blob], target)
    [item] = dataplane_discover(source, ReplicationMode.REPLICATION, options)
    outcome = databases.replicate(item, source, target, Checkpoint(), options, True)
    assert outcome.status == "unchanged"
    assert _rows(seeded, "target", "sql-tgt-twice", "sales") == {"Customers": 60,
                                                                 "Orders": 60}
