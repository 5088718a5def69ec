"""End to end, as a user types it: the SQL plugin through the CLI against a private
sandbox seeded with the reference servers (two databases, keys, indexes, a view, a few
thousand rows of varied types). Issue 21's acceptance 1 to 3: template mode gives the
target the schema and no row, replication the rows too, verify matches (full and
shallow), a re-run starts no import; a non-empty, different target fails with the reason
and is left as it was; the staging SAS and the SQL logins are in nothing we write, and
the staging container is empty afterwards."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from e2e_helpers import Cli, assert_no_canary, canaries, seeded_sandbox

pytestmark = pytest.mark.sandbox
SQL = "Microsoft.Sql/servers"
GROUPS = {"source": "rg-source-data", "target": "rg-target-data"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with seeded_sandbox(tmp_path_factory.mktemp("e2e-sql"), SQL) as found:
        yield found


def _ctx(world: dict[str, Any]) -> Any:
    from atg_dataplane_sandbox import seed

    return seed.context(world["dir"])


def _rows(world: dict[str, Any], side: str, server: str, database: str) -> dict[str, int]:
    """Rows per table of the database, from a fresh export (the sandbox's own reading)."""
    from atg_dataplane_sandbox import bacpac
    from atg_dataplane_sandbox.seeders import sql

    return bacpac.tables(sql.export_package(_ctx(world), side, server, database))


def _staged(world: dict[str, Any]) -> list[str]:
    from atg_dataplane_sandbox.seeders import sql

    return sql.staged(_ctx(world), "atg-dataplane-sql")


def test_sql_databases_through_the_cli(world: dict[str, Any]) -> None:
    cli = Cli(cwd=world["dir"])
    config = world["config"]
    cli("permissions", "--config", config, "--mode", "replication")
    plan = cli("plan", "--config", config, "--mode", "replication", "-o", "json").json()
    assert "sql-src-reference" in json.dumps(plan)

    template = cli("replicate", "--config", config, "--mode", "template", "-o", "json")
    assert template.summary()["failed"] == 0 and template.summary()["replicated"] == 2
    assert _rows(world, "target", "sql-tgt-reference", "sales") == {"Customers": 0,
                                                                    "Orders": 0}
    verify = cli("verify", "--config", config, "--mode", "template", "-o", "json").json()
    assert verify["by_type"][SQL]["by_kind"]["database"] == {"matching": 2}

    run = cli("replicate", "--config", config, "--mode", "replication", "--yes", "-o", "json")
    summary = run.summary()
    assert summary["failed"] == 0 and summary["replicated"] == 2
    ended = json.loads([line for line in run.stdout.splitlines() if line.startswith("{")][-1])
    assert ended["client_bytes"] == 0  # Azure moved the rows
    for database in ("sales", "inventory"):
        source = _rows(world, "source", "sql-src-reference", database)
        assert _rows(world, "target", "sql-tgt-reference", database) == source
    assert world["counts"]["sql_rows"] > 2000

    report = world["dir"] / "sql-report.html"
    verify = cli("verify", "--config", config, "--mode", "replication", "--report",
                 str(report), "-o", "json").json()
    assert verify["fidelity"] == 100.0, verify["items"]
    assert verify["by_type"][SQL]["by_kind"]["database"] == {"matching": 2}
    shallow = cli("verify", "--config", config, "--mode", "replication", "--shallow",
                  "-o", "json").json()
    assert shallow["by_type"][SQL]["by_kind"]["database"] == {"matching": 2}

    again = cli("replicate", "--config", config, "--mode", "replication", "--yes", "-o", "json")
    assert again.summary()["replicated"] == 0 and again.summary()["failed"] == 0

    assert _staged(world) == []
    journal = (world["dir"] / ".atg-dataplane" / "journal.db").read_bytes()
    texts = [*cli.outputs, journal, report.read_bytes()]
    for text in texts:  # no SAS signature, whoever made it
        assert (b"sig=" if isinstance(text, bytes) else "sig=") not in text
    assert_no_canary(texts, canaries(world["dir"]))  # the SQL logins' passwords among them


def test_a_different_target_fails_and_is_left_as_it_was(world: dict[str, Any]) -> None:
    from atg_dataplane_sandbox.seeders import sql

    ctx = _ctx(world)
    if sql.create_database(ctx, "source", "sql-src-reference", "crm"):
        sql.import_package(ctx, "source", "sql-src-reference", "crm", sql.build("sales", 50))
    if sql.create_database(ctx, "target", "sql-tgt-reference", "crm"):
        sql.import_package(ctx, "target", "sql-tgt-reference", "crm",
                           sql.build("inventory", 50))
    before = _rows(world, "target", "sql-tgt-reference", "crm")
    cli = Cli(cwd=world["dir"])
    run = cli("replicate", "--config", world["config"], "--mode", "replication", "--yes",
              "-o", "json", check=1)
    assert run.summary()["failed"] == 1
    assert "sql.replace_non_empty" in run.stdout + run.stderr
    assert _rows(world, "target", "sql-tgt-reference", "crm") == before
    assert _staged(world) == []
