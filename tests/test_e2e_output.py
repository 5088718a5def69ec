"""Output where users read it: a CI log or a pipe. ``-o table | cat`` carries no escape
code and splits no name across lines; ``-o json|yaml|tsv|none`` and ``--query`` give
scripts what they ask for (issue 14, acceptance 4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from e2e_helpers import Cli, seeded_sandbox

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with seeded_sandbox(tmp_path_factory.mktemp("output")) as found:
        yield found


def _piped(world: dict[str, Any], command: str) -> subprocess.CompletedProcess[str]:
    """``atg-dataplane COMMAND | cat``, as a CI job runs it: no terminal, no COLUMNS."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "FORCE_COLOR")}
    return subprocess.run(
        f"{sys.executable} -m atg_dataplane {command} 2>&1 | cat",
        shell=True,
        cwd=world["dir"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_tables_in_a_log_have_no_escape_codes_and_whole_names(world: dict[str, Any]) -> None:
    config = world["config"]
    plan = Cli(cwd=world["dir"])("plan", "--config", config, "-o", "json").json()
    names = {r["source"].rsplit("/", 1)[-1] for r in plan["resources"]}
    types = {r["type"] for r in plan["resources"]}
    for command, shown in (
        (f"plan --config {config} -o table", names | types),
        (f"replicate --config {config} --mode template -o table", names),
        (f"verify --config {config} -o table", types),  # verify's table is per type
    ):
        result = _piped(world, command)
        assert result.returncode == 0, result.stdout[-2000:]
        text = result.stdout
        assert "\x1b" not in text, command  # no colour, no cursor movement
        for name in shown:
            assert name in text, f"{name!r} is cut or missing in `{command}`:\n{text[-3000:]}"


def test_formats_and_queries_for_scripts(world: dict[str, Any]) -> None:
    cli = Cli(cwd=world["dir"])
    config = world["config"]
    cli("replicate", "--config", config, "--mode", "template", "-o", "none")
    report = cli("verify", "--config", config, "-o", "json").json()
    as_yaml = yaml.safe_load(cli("verify", "--config", config, "-o", "yaml").stdout)
    assert as_yaml["fidelity"] == report["fidelity"] and as_yaml["by_type"] == report["by_type"]
    fidelity = cli("verify", "--config", config, "--query", "fidelity", "-o", "json").json()
    assert fidelity == report["fidelity"]
    types = cli("plan", "--config", config, "--query", "resources[].type", "-o", "tsv").stdout
    assert sorted(set(types.split())) == sorted(
        {
            r["type"]
            for r in json.loads(cli("plan", "--config", config, "-o", "json").stdout)["resources"]
        }
    )
    assert cli("verify", "--config", config, "-o", "none").stdout == ""
    table = cli("plan", "--config", config, "--query", "resources[].{name: source, kind: type}")
    assert "name" in table.stdout and "kind" in table.stdout
    bad = cli("plan", "--config", config, "--query", "resources[", check=2)
    assert "--query" in bad.stderr
