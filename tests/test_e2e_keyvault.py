"""End to end, as a new user types it: the Key Vault plugin, the engine and the
CLI against a private sandbox seeded with the reference scenario.

Covers issue 4's acceptance 1, 2, 5 and issue 5's acceptance 1 and 3.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import Cli, assert_no_canary, canaries, only_types, start_private_sandbox

pytestmark = pytest.mark.sandbox
KEY_VAULT = "Microsoft.KeyVault/vaults"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from atg_dataplane_sandbox import sandbox as sbx
    from atg_dataplane_sandbox import seed

    directory = tmp_path_factory.mktemp("e2e-kv")
    info = start_private_sandbox(directory)
    only_types(info.config_path, KEY_VAULT)
    try:
        seed.seed(directory, "reference")
        yield {"dir": directory, "config": str(info.config_path), "info": info}
    finally:
        sbx.down(directory)


def _secret_client(world: dict[str, Any], side: str) -> Any:
    from atg_dataplane_sandbox.topology import load_topology
    from azure.identity import ClientSecretCredential
    from azure.keyvault.secrets import SecretClient

    directory = world["dir"]
    emulator = json.loads((directory / "emulator.json").read_text())
    topology = load_topology(directory)
    principal = topology.principal(side, "replicator")
    ca = str(directory / "ca.pem")
    credential = ClientSecretCredential(
        topology.tenant(side).tenant_id,
        principal.client_id,
        topology.client_secret(principal),
        authority=emulator["entra"],
        disable_instance_discovery=True,
        connection_verify=ca,
    )
    vault = "kv-src-reference" if side == "source" else "kv-tgt-reference"
    return SecretClient(
        emulator["keyvault"][vault],
        credential,
        verify_challenge_resource=False,
        connection_verify=ca,
    )


def test_the_whole_journey_as_a_user_types_it(world: dict[str, Any]) -> None:
    cli = Cli(cwd=world["dir"])
    config = world["config"]

    listing = cli("plugins", "--output", "json").json()
    assert any(p["name"] == "keyvault" and p["status"] == "loaded" for p in listing)

    cli("permissions", "--config", config, "--mode", "replication")
    perms = cli("permissions", "--config", config, "--mode", "replication", "-o", "json").json()
    assert perms["ok"] is True and perms["missing"] == []

    plan = cli("plan", "--config", config, "--mode", "replication", "-o", "json").json()
    kinds = {k for r in plan["resources"] for k in r["kinds"]}
    assert {"secret", "key", "certificate"} <= kinds
    assert plan["items"] >= 16 and plan["estimated_seconds"] >= 0

    dry = cli("replicate", "--config", config, "--dry-run", "-o", "json").json()
    assert dry["items"] == plan["items"]

    template = cli("replicate", "--config", config, "--mode", "template")
    assert "placeholder" in template.stdout
    cli("verify", "--config", config, "--mode", "template", "--min-fidelity", "100")

    # replication mode refuses to run unattended without --yes
    refused = cli("replicate", "--config", config, "--mode", "replication", check=2)
    assert "--yes" in refused.stderr

    cli("replicate", "--config", config, "--mode", "replication", "--yes")
    report_path = world["dir"] / "report.html"
    verify = cli(
        "verify",
        "--config",
        config,
        "--mode",
        "replication",
        "-o",
        "json",
        "--report",
        str(report_path),
        "--min-fidelity",
        "100",
    ).json()
    assert verify["fidelity"] == 100.0
    for key in ("compared", "matching", "different", "missing", "not_copyable", "by_type"):
        assert key in verify
    assert verify["different"] == 0 and verify["missing"] == 0
    assert verify["matching"] == verify["compared"] > 0
    kv = verify["by_type"]["Microsoft.KeyVault/vaults"]
    assert kv["by_kind"]["secret"]["matching"] >= 7
    assert kv["by_kind"]["certificate"]["matching"] >= 1
    not_copyable = [i for i in verify["items"] if i["status"] == "not_copyable"]
    assert len(not_copyable) == verify["not_copyable"] >= 1
    assert all(i["detail"] for i in not_copyable), "every uncopyable item names its reason"
    assert any(i["kind"] == "key" for i in not_copyable)
    assert "Fidelity 100.00 %" in report_path.read_text()

    again = cli("replicate", "--config", config, "--mode", "replication", "--yes", "-o", "json")
    summary = [json.loads(line) for line in again.stdout.splitlines() if line.startswith("{")]
    final = summary[-1]
    assert final["event"] == "summary"
    assert final["result"]["replicated"] == 0 and final["result"]["failed"] == 0

    terraform = cli("terraform", "--config", config)
    assert "azurerm_key_vault_secret" in terraform.stdout
    assert "sensitive" in terraform.stdout

    # no seeded secret value anywhere: outputs, journal, report
    journal = (world["dir"] / ".atg-dataplane" / "journal.db").read_bytes()
    wal = world["dir"] / ".atg-dataplane" / "journal.db-wal"
    assert_no_canary(
        [*cli.outputs, journal, wal.read_bytes() if wal.exists() else b"", report_path.read_text()],
        canaries(world["dir"]),
    )


def test_verbose_logging_leaks_no_secret(world: dict[str, Any]) -> None:
    cli = Cli(cwd=world["dir"])
    result = cli(
        "verify",
        "--config",
        world["config"],
        "--mode",
        "replication",
        "-vv",
        "--debug",  # the SDKs' request logging too: headers, URLs
        "--output",
        "json",
        check=None,
    )
    assert result.code in (0, 1), result.stderr[-2000:]  # ran (options after the command)
    assert "azure.core.pipeline.policies.http_logging_policy" in result.stderr
    assert_no_canary(cli.outputs, canaries(world["dir"]))


@pytest.fixture
def slow_world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A fresh sandbox whose Key Vault answers 50 ms late, so a run can be killed midway
    (the engine copies a fresh secret in two requests: at 15 ms a run was over before the
    test could kill it)."""
    from atg_dataplane_sandbox import sandbox as sbx
    from atg_dataplane_sandbox import seed

    info = start_private_sandbox(tmp_path, faults="keyvault:latency=50ms")
    only_types(info.config_path, KEY_VAULT)
    try:
        seed.seed(tmp_path, "reference")
        yield {"dir": tmp_path, "config": str(info.config_path), "info": info}
    finally:
        sbx.down(tmp_path)


def _replicate_in_background(world: dict[str, Any]) -> subprocess.Popen[str]:
    """``replicate --mode replication`` as a user starts it, with JSON progress."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "atg_dataplane",
            "replicate",
            "--config",
            world["config"],
            "--mode",
            "replication",
            "--yes",
            "--concurrency",
            "2",
            "-o",
            "json",
        ],
        cwd=world["dir"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def test_sigkill_at_a_random_point_then_rerun(slow_world: dict[str, Any]) -> None:
    config = slow_world["config"]
    proc = _replicate_in_background(slow_world)
    # kill once a few items are done, at a random point
    target_done = random.randint(1, 8)  # of 16: at least 8 remain, ~0.4 s of work
    done = 0
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        if '"item_done"' in line:
            done += 1
        if done >= target_done or time.monotonic() > deadline:
            break
    time.sleep(random.uniform(0, 0.2))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    cli = Cli(cwd=slow_world["dir"])
    resumed = cli("replicate", "--config", config, "--mode", "replication", "--yes")
    assert "resuming run" in resumed.stdout + resumed.stderr
    verify = cli("verify", "--config", config, "--mode", "replication", "-o", "json").json()
    assert verify["fidelity"] == 100.0, verify["items"]

    # exactly one version of every copied secret: the replay wrote no duplicate
    target = _secret_client(slow_world, "target")
    for props in target.list_properties_of_secrets():
        if props.managed:
            continue
        versions = list(target.list_properties_of_secret_versions(props.name))
        assert len(versions) == 1, f"{props.name} has {len(versions)} versions"


def test_deploy_takes_target_ids_from_terraform_state(world: dict[str, Any]) -> None:
    """The seed's interface: target resource ids come from the Terraform state, so
    the config needs no target resource group."""
    config = json.loads(Path(world["config"]).read_text())
    group = config["target"].pop("resource_group")
    target_vault = (
        f"/subscriptions/{config['target']['subscription_id']}/resourceGroups/{group}"
        "/providers/Microsoft.KeyVault/vaults/kv-tgt-reference"
    )
    no_group = world["dir"] / "deploy-config.json"
    no_group.write_text(json.dumps(config))
    iac = world["dir"] / "iac"
    iac.mkdir(exist_ok=True)
    cli = Cli(cwd=world["dir"])
    args = ["deploy", "--iac-dir", str(iac), "--config", str(no_group), "--dataplane"]
    # without state the counterpart is looked up in the source's group name: not there,
    # so deploy (replicate's flow) stops before writing anything
    missing = cli(*args, "--dataplane-mode", "template", check=2)
    assert "no counterpart of kv-src-reference" in missing.stdout + missing.stderr
    (iac / "terraform.tfstate").write_text(
        json.dumps(
            {
                "version": 4,
                "resources": [
                    {
                        "mode": "managed",
                        "type": "azurerm_key_vault",
                        "name": "kv",
                        "instances": [
                            {"attributes": {"id": target_vault, "name": "kv-tgt-reference"}}
                        ],
                    },
                ],
            }
        )
    )
    plan = cli(*args, "--dry-run", "-o", "json").json()
    assert plan["resources"][0]["target"] == target_vault
    done = cli(*args, "--dataplane-mode", "replication", "--yes", "-o", "json")
    assert json.loads(done.stdout.splitlines()[-1])["result"]["failed"] == 0
    assert cli("deploy", "--iac-dir", str(iac), "--config", str(no_group)).stdout.startswith(
        "--dataplane not given"
    )


def test_sigterm_stops_cleanly_with_130_and_the_same_command_resumes(
    slow_world: dict[str, Any],
) -> None:
    config = slow_world["config"]
    proc = _replicate_in_background(slow_world)
    assert proc.stdout is not None and proc.stderr is not None
    for line in proc.stdout:
        if '"item_done"' in line:
            break
    proc.send_signal(signal.SIGTERM)
    rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Run the same command again" in err
    summary = json.loads(rest.strip().splitlines()[-1])
    assert summary["event"] == "summary" and summary["interrupted"] is True

    cli = Cli(cwd=slow_world["dir"])
    resumed = cli("replicate", "--config", config, "--mode", "replication", "--yes")
    assert "resuming run" in resumed.stdout + resumed.stderr
    verify = cli("verify", "--config", config, "-o", "json").json()  # mode: the last run's
    assert verify["mode"] == "replication" and verify["fidelity"] == 100.0
