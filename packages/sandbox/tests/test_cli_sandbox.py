"""``atg-dataplane sandbox ...`` end to end: install check, up, idempotent up, status, down."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from atg_dataplane.cli import cli as core_cli
from atg_dataplane_sandbox import sandbox as sbx
from atg_dataplane_sandbox.cli import sandbox_group
from atg_dataplane_sandbox.services import process
from click.testing import CliRunner

needs_emulators = pytest.mark.skipif(
    bool(sbx.check_installed()), reason="emulators not installed: atg-dataplane sandbox install"
)


def _run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(sandbox_group, list(args), env=env, catch_exceptions=False)


def test_core_cli_has_the_sandbox_group() -> None:
    result = CliRunner().invoke(core_cli, ["sandbox", "--help"])
    assert result.exit_code == 0, result.output
    for command in ("install", "up", "down", "status", "seed"):
        assert command in result.output


def test_up_names_each_missing_emulator_with_its_install_command(tmp_path: Path) -> None:
    env = {"ATG_DATAPLANE_SANDBOX_CACHE": str(tmp_path / "empty-cache"),
           "ATG_DATAPLANE_REGISTRY_BIN": str(tmp_path / "no-registry")}
    result = CliRunner().invoke(sandbox_group, ["up", "--dir", str(tmp_path / "sbx")], env=env)
    assert result.exit_code == 5
    stderr = result.stderr
    assert "azurite is missing" in stderr
    assert "@vercel/cosmosdb-server is missing" in stderr
    assert f"npm install --prefix {tmp_path / 'empty-cache'}" in stderr
    assert "azurite@3.35.0" in stderr
    assert "docker-registry is missing" in stderr and "apt-get install -y docker-registry" in stderr
    pids = tmp_path / "sbx" / "pids"
    assert not pids.exists() or not list(pids.iterdir())


def test_seed_needs_a_running_sandbox(tmp_path: Path) -> None:
    result = CliRunner().invoke(sandbox_group, ["seed", "--dir", str(tmp_path)])
    assert result.exit_code == 5
    assert "is not running; start it with: atg-dataplane sandbox up" in result.stderr


def test_seed_rejects_an_unknown_scenario(tmp_path: Path) -> None:
    result = CliRunner().invoke(sandbox_group, ["seed", "--scenario", "huge"])
    assert result.exit_code == 2
    assert "'huge' is not one of 'reference', 'large'" in result.stderr


def test_status_of_a_directory_never_started(tmp_path: Path) -> None:
    result = _run("status", "--dir", str(tmp_path), "--output", "json")
    assert result.exit_code == 5
    assert json.loads(result.output)["state"] == "stopped"


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict]]:
    directory = tmp_path_factory.mktemp("cli-sbx")
    result = _run("up", "--dir", str(directory), "--output", "json",
                  "--storage-accounts", "2", "--cosmos-accounts", "1")
    assert result.exit_code == 0, result.output
    yield directory, json.loads(result.output)
    sbx.down(directory)


@needs_emulators
def test_up_prints_config_ca_and_services(started: tuple[Path, dict]) -> None:
    directory, info = started
    assert info["config"] == str(directory.resolve() / "config.json")
    assert info["ca_bundle"] == str(directory.resolve() / "ca.pem")
    for name in ("azurite-blob", "azurite-queue", "azurite-table", "registry", "entra", "arm",
                 "cosmos/srccosmos1", "cosmos/tgtcosmos1"):
        assert info["services"][name].startswith("https://127.0.0.1:"), name
    config = json.loads(Path(info["config"]).read_text())
    assert config["clouds"]["sandbox"]["authority_host"] == info["services"]["entra"]
    assert config["clouds"]["sandbox"]["resource_manager"] == info["services"]["arm"]
    assert config["clouds"]["sandbox"]["ca_bundle"] == "ca.pem"
    assert config["mapping"]["names"]["srcstore1"] == "tgtstore1"
    for side in ("source", "target"):
        secret_file = directory / config[side]["credential"]["client_secret_file"]
        assert secret_file.stat().st_mode & 0o777 == 0o600
    services = json.loads((directory / "services.json").read_text())
    assert set(services) == {"azurite", "cosmos", "registry"}
    assert "key" not in json.dumps(services).lower()


@needs_emulators
def test_up_again_reuses_the_running_sandbox(started: tuple[Path, dict]) -> None:
    directory, first = started
    again = _run("up", "--dir", str(directory), "--output", "json")
    assert again.exit_code == 0, again.output
    second = json.loads(again.output)
    assert second["reused"] is True
    assert second["pids"] == first["pids"]
    status = _run("status", "--dir", str(directory), "--output", "json")
    assert status.exit_code == 0
    state = json.loads(status.output)
    assert state["state"] == "running" and all(state["healthy"].values())


@needs_emulators
def test_up_with_faults_on_a_running_sandbox_forwards_them(started: tuple[Path, dict]) -> None:
    directory, _ = started
    bad = _run("up", "--dir", str(directory), "--faults", "nonsense")
    assert bad.exit_code == 1
    assert "refused the fault spec 'nonsense'" in bad.stderr
    assert sbx.set_faults(directory, "keyvault:429=0.5")["spec"] == "keyvault:429=0.5"
    assert sbx.set_faults(directory, "")["spec"] == ""


@needs_emulators
def test_down_leaves_no_process_behind(started: tuple[Path, dict]) -> None:
    directory, info = started
    pids = info["pids"]
    assert set(pids) == {"azurite", "cosmos", "registry", "emulator"}
    result = _run("down", "--dir", str(directory))
    assert result.exit_code == 0
    assert "stopped:" in result.output
    for name, pid in pids.items():
        assert not process.pid_alive(pid), name
        assert process.group_members(pid) == [], name
        assert not (directory / "pids" / f"{name}.pid").exists()
    status = _run("status", "--dir", str(directory))
    assert status.exit_code == 5 and "sandbox stopped" in status.output
    assert _run("down", "--dir", str(directory)).output.strip() == "nothing was running"


@needs_emulators
def test_a_dead_process_makes_up_restart_everything(tmp_path: Path) -> None:
    first = sbx.up(tmp_path, pools=sbx.PoolSizes(storage=1, cosmos=1))
    try:
        os.kill(first.pids["registry"], 9)
        assert sbx.status(tmp_path).state == "degraded"
        assert _run("status", "--dir", str(tmp_path)).exit_code == 6
        second = sbx.up(tmp_path, pools=sbx.PoolSizes(storage=1, cosmos=1))
        assert not second.reused
        assert sbx.status(tmp_path).state == "running"
        for name, pid in first.pids.items():
            assert not process.pid_alive(pid), name
    finally:
        sbx.down(tmp_path)


@needs_emulators
def test_down_then_up_keeps_what_seed_and_the_user_put_in_the_config(tmp_path: Path) -> None:
    """``sandbox down`` then ``up`` on the same folder: new endpoints, the same name
    mappings, filters and options (a seeded sandbox stays usable without a new seed)."""
    from atg_dataplane_sandbox.replication_config import add_name_mappings

    pools = sbx.PoolSizes(storage=1, cosmos=1)
    first = sbx.up(tmp_path, pools=pools)
    try:
        add_name_mappings(first.config_path, {"kv-src-x": "kv-tgt-x"})
        edited = json.loads(first.config_path.read_text())
        edited["filters"]["types"] = ["Microsoft.KeyVault/vaults"]
        edited["options"] = {"keyvault.all_versions": True}
        first.config_path.write_text(json.dumps(edited))
        before = edited["clouds"]["sandbox"]["resource_manager"]
        sbx.down(tmp_path)
        second = sbx.up(tmp_path, pools=pools)
        config = json.loads(second.config_path.read_text())
        assert config["mapping"]["names"]["kv-src-x"] == "kv-tgt-x"
        assert config["mapping"]["names"]["srcstore1"] == "tgtstore1"
        assert config["filters"]["types"] == ["Microsoft.KeyVault/vaults"]
        assert config["options"] == {"keyvault.all_versions": True}
        assert config["clouds"]["sandbox"]["resource_manager"] == second.services["arm"]
        assert before  # the endpoint of the first run, replaced where it moved
    finally:
        sbx.down(tmp_path)
