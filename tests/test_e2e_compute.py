"""End to end, as a user types it: the Compute plugin through the CLI against a private
sandbox seeded with the reference VMs (data disks with sparse ranges, three extensions,
one with protected settings). Issue 20's acceptance 1 and 3: every data disk
byte-identical with no payload byte through the client, a second run after the source VM
changed one range copies only that range, no grant left open; the protected extension
reported without the config and created with it, its value nowhere we write."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from e2e_helpers import Cli, assert_no_canary, canaries, seeded_sandbox

pytestmark = pytest.mark.sandbox
VM = "Microsoft.Compute/virtualMachines"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with seeded_sandbox(tmp_path_factory.mktemp("e2e-vm"), VM) as found:
        yield found


def _compute(world: dict[str, Any], side: str) -> Any:
    from atg_dataplane_sandbox import seed
    from azure.mgmt.compute import ComputeManagementClient

    return seed.context(world["dir"]).mgmt(ComputeManagementClient, side)


def _open_grants(world: dict[str, Any]) -> list[str]:
    found = []
    for side, group in (("source", "rg-source-data"), ("target", "rg-target-data")):
        compute = _compute(world, side)
        volumes = [*compute.disks.list_by_resource_group(group),
                   *compute.snapshots.list_by_resource_group(group)]
        for volume in volumes:  # disks and snapshots alike
            if volume.disk_state in ("ActiveSAS", "ActiveUpload"):
                found.append(f"{side}:{volume.name}")
    return found


def test_virtual_machines_through_the_cli(world: dict[str, Any]) -> None:
    cli = Cli(cwd=world["dir"])
    config = world["config"]
    cli("permissions", "--config", config, "--mode", "replication")
    run = cli("replicate", "--config", config, "--mode", "replication", "--yes", "-o", "json")
    summary = run.summary()
    assert summary["failed"] == 0 and summary["bytes"] > 0
    ended = json.loads([line for line in run.stdout.splitlines() if line.startswith("{")][-1])
    assert ended["client_bytes"] == 0  # the disks were copied by the service
    verify = cli("verify", "--config", config, "--mode", "replication", "-o", "json").json()
    kinds = verify["by_type"][VM]["by_kind"]
    assert verify["fidelity"] == 100.0, verify["items"]
    assert kinds["data_disk"] == {"matching": world["counts"]["data_disk"]}
    assert kinds["extension"] == {"matching": 2, "not_copyable": 1}  # protected: no config
    assert _open_grants(world) == []

    secrets_file = world["dir"] / "protected.json"
    secrets_file.write_text(json.dumps(
        {"vm-src-reference-1/custom-script": {"commandToExecute": "setup.sh --token s3cr3t-xyz"}}
    ))
    option = f"compute.protected_settings_file={secrets_file}"
    from atg_dataplane_sandbox import seed
    from atg_dataplane_sandbox.seeders.compute import write_as_vm

    write_as_vm(seed.context(world["dir"]), "vm-src-reference-1-data-0", 3 * MIB, b"\x42" * 8192)
    again = cli(
        "replicate", "--config", config, "--mode", "replication", "--yes", "-o", "json",
        "--option", option,
    )
    assert again.summary()["failed"] == 0
    assert again.summary()["bytes"] == 8192  # the one range the VM changed
    report = world["dir"] / "vm-report.html"
    verify = cli(
        "verify", "--config", config, "--mode", "replication", "--option", option,
        "--report", str(report), "-o", "json",
    ).json()
    assert verify["by_type"][VM]["by_kind"]["extension"] == {"matching": 3}
    assert verify["fidelity"] == 100.0 and _open_grants(world) == []

    journal = (world["dir"] / ".atg-dataplane" / "journal.db").read_bytes()
    texts = [*cli.outputs, journal, report.read_bytes()]
    assert_no_canary(texts, [*canaries(world["dir"]), "s3cr3t-xyz"])
