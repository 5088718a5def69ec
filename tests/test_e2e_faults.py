"""End to end under faults, as a user runs the command: a tenth of every service's answers
refused, dropped or lost after the write; a third of them; a stalled service and Ctrl-C; a
kill in the middle of a large streamed copy. Each run ends with the target verified at
100 % and every secret version written exactly once.

Covers issue 12's acceptance 2 (the kill), 3 (the fault mix, at the scale CI affords; the
benchmark runs scale 10) and 4 (Ctrl-C under a stall).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import Cli, assert_no_canary, canaries, start_private_sandbox

pytestmark = pytest.mark.sandbox
KEY_VAULT = "Microsoft.KeyVault/vaults"
STORAGE = "Microsoft.Storage/storageAccounts"
BIG = 24 * 1024 * 1024 + 5  # seven ranges of the streamed copy


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from atg_dataplane_sandbox import sandbox as sbx
    from atg_dataplane_sandbox import seed

    directory = tmp_path_factory.mktemp("e2e-faults")
    info = start_private_sandbox(directory)
    try:
        seed.seed(directory, "large", 1)
        yield {"dir": directory, "config": Path(info.config_path)}
    finally:
        sbx.down(directory)


def _config(world: dict[str, Any], name: str, types: list[str], **options: Any) -> str:
    """A variant of the sandbox's config (beside it: the same relative secret paths)."""
    config = json.loads(world["config"].read_text())
    config["filters"]["types"] = types
    config["options"] = options
    path = world["dir"] / f"{name}.json"
    path.write_text(json.dumps(config, indent=2))
    return str(path)


def _faults(world: dict[str, Any], spec: str) -> dict[str, dict[str, int]]:
    """Set the sandbox's faults; the faults injected so far, by service and kind."""
    from atg_dataplane_sandbox import sandbox as sbx

    return dict(sbx.set_faults(world["dir"], spec)["injected"])


def _vault_client(world: dict[str, Any], side: str, vault: str) -> Any:
    from atg_dataplane_sandbox.topology import load_topology
    from azure.identity import ClientSecretCredential
    from azure.keyvault.secrets import SecretClient

    directory = world["dir"]
    emulator = json.loads((directory / "emulator.json").read_text())
    topology = load_topology(directory)
    principal = topology.principal(side, "admin")
    ca = str(directory / "ca.pem")
    credential = ClientSecretCredential(
        topology.tenant(side).tenant_id,
        principal.client_id,
        topology.client_secret(principal),
        authority=emulator["entra"],
        disable_instance_discovery=True,
        connection_verify=ca,
    )
    return SecretClient(
        emulator["keyvault"][vault], credential, verify_challenge_resource=False,
        connection_verify=ca,
    )


def _version_counts(client: Any) -> dict[str, int]:
    return {
        p.name: len(list(client.list_properties_of_secret_versions(p.name)))
        for p in client.list_properties_of_secrets()
        if not p.managed
    }


def _share(world: dict[str, Any], account: str, share: str) -> Any:
    from azure.core.credentials import AzureNamedKeyCredential
    from azure.storage.fileshare import ShareClient

    directory = world["dir"]
    emulator = json.loads((directory / "emulator.json").read_text())
    key = (directory / "secrets" / "azurite" / account).read_text().strip()
    return ShareClient(
        f"{emulator['file']}/{account}",
        share,
        credential=AzureNamedKeyCredential(account, key),
        connection_verify=str(directory / "ca.pem"),
    )


def _verify(cli: Cli, config: str) -> dict[str, Any]:
    report = cli("verify", "--config", config, "--mode", "replication", "-o", "json", check=None)
    return dict(json.loads(report.stdout))


def test_a_tenth_of_answers_failing_on_both_sides_changes_nothing_in_the_result(world):
    cli = Cli(cwd=world["dir"])
    config = _config(world, "mix10", [KEY_VAULT, STORAGE], **{"keyvault.all_versions": True})
    before = _faults(world, "*:mix=0.1,retry_after=0.2")
    try:
        run = cli("replicate", "--config", config, "--mode", "replication", "--yes",
                  "-o", "json", timeout=900)
    finally:
        after = _faults(world, "")
    for service in ("keyvault", "storage"):  # answers were lost after writes, on both
        lost = after.get(service, {}).get("lost", 0) - before.get(service, {}).get("lost", 0)
        assert lost > 0, (service, after)
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert summary["result"]["failed"] == 0, summary["result"]["errors"][:5]
    report = _verify(cli, config)
    assert report["fidelity"] == 100.0, report["items"][:5]
    source = _version_counts(_vault_client(world, "source", "kv-src-large-1"))
    target = _version_counts(_vault_client(world, "target", "kv-tgt-large-1"))
    assert target == source and max(source.values()) == 3
    assert_no_canary(cli.outputs, canaries(world["dir"]))


def test_a_third_of_answers_failing_ends_and_the_next_run_completes(world):
    cli = Cli(cwd=world["dir"])
    config = _config(world, "mix30", [KEY_VAULT, STORAGE], **{"keyvault.all_versions": True})
    _faults(world, "*:mix=0.3,retry_after=0.2")
    try:
        # It ends (items that exhaust their tries fail with a reason), well before the
        # subprocess's guard against a hang.
        first = cli("replicate", "--config", config, "--mode", "replication", "--yes",
                    "-o", "json", timeout=1200, check=None)
    finally:
        _faults(world, "")
    assert first.code in (0, 1), first.stderr[-2000:]
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    for error in summary["result"]["errors"]:
        assert ":" in error  # each failed item names itself and its reason
    cli("replicate", "--config", config, "--mode", "replication", "--yes", timeout=600)
    assert _verify(cli, config)["fidelity"] == 100.0
    source = _version_counts(_vault_client(world, "source", "kv-src-large-1"))
    assert _version_counts(_vault_client(world, "target", "kv-tgt-large-1")) == source


def _start(world: dict[str, Any], config: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "atg_dataplane", "replicate", "--config", config,
         "--mode", "replication", "--yes", "-o", "json", *extra],
        cwd=world["dir"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def test_ctrl_c_under_a_stalled_service_returns_in_seconds_and_the_run_resumes(world):
    cli = Cli(cwd=world["dir"])
    config = _config(world, "stall", [KEY_VAULT, STORAGE], **{"keyvault.all_versions": True})
    _faults(world, "*:latency=30ms")
    proc = _start(world, config, "--concurrency", "4")
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if '"item_done"' in line:
                break
        _faults(world, "*:stall=1,stall_for=600s")  # every service stops answering
        time.sleep(1.0)
        asked = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - asked
    finally:
        if proc.poll() is None:
            proc.kill()
        _faults(world, "")
    assert proc.returncode == 130, err[-2000:]
    assert took < 10, f"Ctrl-C took {took:.1f} s"
    assert "Run the same command again" in err
    resumed = cli("replicate", "--config", config, "--mode", "replication", "--yes", timeout=600)
    assert "resuming run" in resumed.stdout + resumed.stderr
    assert _verify(cli, config)["fidelity"] == 100.0
    source = _version_counts(_vault_client(world, "source", "kv-src-large-1"))
    assert _version_counts(_vault_client(world, "target", "kv-tgt-large-1")) == source


def test_a_kill_during_a_large_streamed_copy_is_repaired_by_the_next_run(world):
    from atg_dataplane_storage.common import INCOMPLETE

    data = os.urandom(BIG)
    source = _share(world, "srcstore2", "bulk")
    source.create_share()
    source.get_file_client("disk.img").upload_file(data)
    target = _share(world, "tgtstore2", "bulk").get_file_client("disk.img")
    config = _config(
        world, "killed", [STORAGE], **{"storage.server_side": False, "storage.services": "file"}
    )
    _faults(world, "storage:latency=100ms")
    proc = _start(world, config)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until the copy has begun filling the file
            try:
                if INCOMPLETE in target.get_file_properties().metadata:
                    break
            except Exception:  # not there yet
                pass
            time.sleep(0.05)
        time.sleep(0.4)  # a range or two in
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        _faults(world, "")
    left = target.get_file_properties()
    assert left.size == BIG and INCOMPLETE in left.metadata  # killed half-way, as intended
    cli = Cli(cwd=world["dir"])
    damaged = _verify(cli, config)
    assert damaged["fidelity"] < 100.0
    cli("replicate", "--config", config, "--mode", "replication", "--yes", timeout=600)
    copied = target.download_file(decompress=False).readall()
    assert hashlib.sha256(copied).digest() == hashlib.sha256(data).digest()
    assert INCOMPLETE not in target.get_file_properties().metadata
    assert _verify(cli, config)["fidelity"] == 100.0
