"""The plugin against the sandbox's virtual machines (the reference scenario's), through
the core's engine and verifier: extensions (one with protected settings, reported until
the config gives them), data disks copied server-side (no byte through the client),
byte-identical; a second run after the source VM changed one range copies only that
range; no access grant stays open."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from atg_dataplane import Checkpoint, Fingerprinter, ReplicationMode
from atg_dataplane.testing import Killed, KilledAfter, PairRun
from compute_testing import GROUPS, MIB, binding, client, open_grants

pytestmark = pytest.mark.sandbox
REPLICATION = ReplicationMode.REPLICATION


def test_disks_copy_server_side_then_only_what_changed(seeded: Any, tmp_path: Path) -> None:
    vm = "vm-src-reference-1"
    run = PairRun(
        "compute", binding(seeded, "source", vm), binding(seeded, "target", "vm-tgt-reference-1"),
        tmp_path,
    )
    first = run.replicate(REPLICATION)
    assert first.result.failed == 0, first.result.errors[:5]
    assert first.client_bytes == 0  # every disk byte copied by the service
    report = run.verify(REPLICATION)
    kinds = report.by_type()["Microsoft.Compute/virtualMachines"]["by_kind"]
    wrong = [v for v in report.verdicts if v.status != "matching"]
    assert kinds["data_disk"] == {"matching": 2}, wrong
    # the extension with protected settings is reported, the other copied
    assert kinds["extension"] == {"matching": 1, "not_copyable": 1}
    assert open_grants(seeded) == []

    from atg_dataplane_sandbox import seed
    from atg_dataplane_sandbox.seeders.compute import write_as_vm

    write_as_vm(seed.context(seeded.dir), f"{vm}-data-0", 3 * MIB, b"\x5a" * 8192)
    second = run.replicate(REPLICATION)
    assert second.result.failed == 0, second.result.errors[:5]
    assert second.result.bytes == 8192  # only the changed range crossed from the source
    assert run.verify(REPLICATION).fidelity == 100.0
    assert open_grants(seeded) == []
    again = run.replicate(REPLICATION)
    assert again.result.replicated == 0 and again.result.failed == 0


def test_a_stopped_disk_copy_resumes_without_recopying(seeded: Any) -> None:
    """Stopped after its first chunk (the VHD footer, copied first), the copy revokes every
    grant; the next attempt copies that chunk inside the target and only the others from
    the source."""
    from atg_dataplane_compute import disks
    from atg_dataplane_sandbox import seed
    from atg_dataplane_sandbox.scenarios import VmContents
    from atg_dataplane_sandbox.seeders.compute import create_vm

    # a target as Terraform leaves it: an empty 24 MiB data disk at LUN 0
    create_vm(seed.context(seeded.dir), "target", "vm-tgt-resume", VmContents(disks_mib=(24,)))
    source = binding(seeded, "source", "vm-src-reference-2")
    target = binding(seeded, "target", "vm-tgt-resume")
    [item] = [i for i in disks.items(source) if i.kind == "data_disk"]
    checkpoint = KilledAfter(3)  # the snapshot, the new disk, then the first chunk
    with pytest.raises(Killed):
        disks.replicate(item, source, target, checkpoint, {})
    assert open_grants(seeded) == []  # revoked on the way out

    outcome = disks.replicate(item, source, target, checkpoint, {})
    assert outcome.status == "replicated" and outcome.client_bytes == 0
    # the chunks not copied before: 64 KiB, 4 KiB, 8 KiB and 6 MiB (in two)
    assert outcome.bytes_copied == 65536 + 4096 + 8192 + 6 * MIB
    assert open_grants(seeded) == []
    fingerprinter = Fingerprinter()
    assert disks.fingerprint(item, target, fingerprinter) == disks.fingerprint(
        item, source, fingerprinter
    )
    names = [d.name for d in client(seeded, "target").disks.list_by_resource_group(
        GROUPS["target"]) if d.name.startswith("vm-tgt-resume-lun0-atg")]
    assert len(names) == 1  # the partly filled disk is gone


def test_protected_settings_come_from_the_config(seeded: Any, tmp_path: Path) -> None:
    secrets_file = tmp_path / "protected.json"
    secrets_file.write_text(json.dumps(
        {"vm-src-reference-1/custom-script": {"commandToExecute": "setup.sh --token t0k3n"}}
    ))
    options = {"compute.protected_settings_file": str(secrets_file)}
    run = PairRun(
        "compute",
        binding(seeded, "source", "vm-src-reference-1"),
        binding(seeded, "target", "vm-tgt-reference-1"),
        tmp_path,
    )
    summary = run.replicate(REPLICATION, options)
    assert summary.result.failed == 0, summary.result.errors[:5]
    kinds = run.verify(REPLICATION, options).by_type()[
        "Microsoft.Compute/virtualMachines"]["by_kind"]
    assert kinds["extension"] == {"matching": 2}
    made = client(seeded, "target").virtual_machine_extensions.get(
        GROUPS["target"], "vm-tgt-reference-1", "custom-script"
    )
    assert made.properties.provisioning_state == "Succeeded"
    assert made.properties.protected_settings is None  # stored, never shown
    assert b"t0k3n" not in run.journal.path.read_bytes()


class StoppedAfter(Checkpoint):
    """Ctrl-C after the checkpoint of the first copied chunk: the run's stop event."""

    def __init__(self, saves: int, stop: Any) -> None:
        super().__init__()
        self.left, self.stop = saves, stop

    def save(self, value: str) -> None:
        super().save(value)
        self.left -= 1
        if self.left == 0:
            self.stop.set()


def test_ctrl_c_mid_disk_closes_every_grant(seeded: Any) -> None:
    from atg_dataplane.retry import RunStopping
    from atg_dataplane_compute import disks
    from atg_dataplane_sandbox import seed
    from atg_dataplane_sandbox.scenarios import VmContents
    from atg_dataplane_sandbox.seeders.compute import create_vm

    create_vm(seed.context(seeded.dir), "target", "vm-tgt-stop", VmContents(disks_mib=(24,)))
    source = binding(seeded, "source", "vm-src-reference-2")
    target = binding(seeded, "target", "vm-tgt-stop")
    [item] = [i for i in disks.items(source) if i.kind == "data_disk"]
    checkpoint = StoppedAfter(3, target.context.stop)
    with pytest.raises(RunStopping):
        disks.replicate(item, source, target, checkpoint, {})
    assert open_grants(seeded) == []
    target.context.stop.clear()  # the next run
    outcome = disks.replicate(item, source, target, checkpoint, {})
    assert outcome.bytes_copied == 65536 + 4096 + 8192 + 6 * MIB
    assert open_grants(seeded) == []


def test_an_upload_whose_footer_never_landed_is_copied_again(seeded: Any) -> None:
    """The stopped attempt's disk lacks its VHD footer (the footer's write is what failed):
    it cannot be finalised, so the next attempt copies every chunk from the source and
    the clean-up drops that disk; nothing is left open."""
    from atg_dataplane_compute import disks
    from atg_dataplane_sandbox import seed
    from atg_dataplane_sandbox.scenarios import VmContents
    from atg_dataplane_sandbox.seeders.compute import create_vm

    create_vm(seed.context(seeded.dir), "target", "vm-tgt-nofooter", VmContents(disks_mib=(24,)))
    source = binding(seeded, "source", "vm-src-reference-2")
    target = binding(seeded, "target", "vm-tgt-nofooter")
    [item] = [i for i in disks.items(source) if i.kind == "data_disk"]
    checkpoint = KilledAfter(2)  # the snapshot, then the name of the disk to fill
    with pytest.raises(Killed):
        disks.replicate(item, source, target, checkpoint, {})
    upload = json.loads(checkpoint.get() or "{}")["upload"]
    compute = client(seeded, "target")  # the disk as a failed footer write leaves it
    compute.disks.begin_create_or_update(GROUPS["target"], upload, {
        "location": "eastus",
        "properties": {"creationData": {"createOption": "Upload",
                                        "uploadSizeBytes": 24 * MIB + 512}},
    }).result()
    compute.disks.begin_grant_access(
        GROUPS["target"], upload, {"access": "Write", "durationInSeconds": 600}).result()

    outcome = disks.replicate(item, source, target, checkpoint, {})
    assert outcome.status == "replicated"
    assert outcome.bytes_copied == 512 + 65536 + 4096 + 8192 + 6 * MIB  # all from the source
    assert open_grants(seeded) == []
    names = [d.name for d in compute.disks.list_by_resource_group(GROUPS["target"])
             if d.name.startswith("vm-tgt-nofooter-lun0-atg")]
    assert names == [upload.removesuffix("-0") + "-1"]  # the disk of the second attempt
