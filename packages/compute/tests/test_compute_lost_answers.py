"""Answers lost on their way back (the service did the work, the client saw the
connection break), aimed at one request of each kind a disk copy sends instead of the
sandbox's random share: every write the copy makes by name or at an offset is sent again
by the retry policy, a lost grant or swap is settled by reading the service, and the copy
still ends in one attempt, byte-identical, with no grant left open. Only the wire is
scripted: every request reaches the sandbox through the SDKs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from atg_dataplane import Checkpoint, Fingerprinter, ResourceBinding
from atg_dataplane.retry import is_transient
from atg_dataplane.testing import AnswersLost
from azure.core.exceptions import ServiceResponseError
from compute_testing import GROUPS, MIB, binding, client, open_grants

pytestmark = pytest.mark.sandbox


def _arm(method: str, path: str) -> Any:
    return lambda r: r.method == method and path in r.url.split("?")[0]


def _grant(access: str) -> Any:
    def wanted(request: Any) -> bool:
        if not (request.method == "POST" and "/beginGetAccess" in request.url):
            return False
        body = request.data if isinstance(request.data, bytes | str) else b"{}"
        return bool(json.loads(body or "{}").get("access") == access)

    return wanted


def _pair(
    seeded: Any, name: str, lose: dict[str, dict[str, Any]], monkeypatch: Any
) -> tuple[ResourceBinding, ResourceBinding, Any, dict[str, AnswersLost]]:
    """Source and target, each on a wire losing what ``lose[side]`` names (laid before
    any client is made: a client keeps the transport it was made with)."""
    from atg_dataplane_compute import disks
    from atg_dataplane_sandbox import seed
    from atg_dataplane_sandbox.scenarios import VmContents
    from atg_dataplane_sandbox.seeders.compute import create_vm

    # a target as Terraform leaves it: an empty 24 MiB data disk at LUN 0
    create_vm(seed.context(seeded.dir), "target", name, VmContents(disks_mib=(24,)))
    source = binding(seeded, "source", "vm-src-reference-2")
    target = binding(seeded, "target", name)
    wires = {
        "source": AnswersLost.on(source, lose.get("source", {}), monkeypatch),
        "target": AnswersLost.on(target, lose.get("target", {}), monkeypatch),
    }
    [item] = [i for i in disks.items(source) if i.kind == "data_disk"]
    return source, target, item, wires


def _same(item: Any, source: ResourceBinding, target: ResourceBinding) -> bool:
    from atg_dataplane_compute import disks

    fingerprinter = Fingerprinter()
    return disks.fingerprint(item, target, fingerprinter) == disks.fingerprint(
        item, source, fingerprinter
    )


def test_one_lost_answer_of_each_kind_costs_no_attempt(seeded: Any, monkeypatch: Any) -> None:
    from atg_dataplane_compute import disks

    source, target, item, wires = _pair(seeded, "vm-tgt-lost", {
        "source": {
            "the snapshot": _arm("PUT", "/snapshots/"),
            "the read grant": _grant("Read"),
            "the end of access": _arm("POST", "/endGetAccess"),
        },
        "target": {
            "the new disk": _arm("PUT", "/disks/"),
            "a page range": lambda r: r.method == "PUT" and "comp=page" in r.url,
            "the upload's end": _arm("POST", "/endGetAccess"),
            "the swap": _arm("POST", "/attachDetachDataDisks"),
        },
    }, monkeypatch)

    outcome = disks.replicate(item, source, target, Checkpoint(), {})

    assert outcome.status == "replicated" and outcome.client_bytes == 0
    assert outcome.bytes_copied == 512 + 65536 + 4096 + 8192 + 6 * MIB  # each once
    assert sorted(wires["source"].lost + wires["target"].lost) == sorted(
        ["the snapshot", "the read grant", "the end of access", "the new disk",
         "a page range", "the upload's end", "the swap"]
    )
    assert open_grants(seeded) == []
    machine = client(seeded, "target").virtual_machines.get(GROUPS["target"], "vm-tgt-lost")
    [attached] = machine.storage_profile.data_disks
    assert attached.name.startswith("vm-tgt-lost-lun0-atg")  # swapped once, not refused
    assert _same(item, source, target)


def test_a_lost_write_grant_costs_one_attempt_and_leaves_nothing_open(
    seeded: Any, monkeypatch: Any
) -> None:
    """The disk made for upload has left ``ReadyToUpload`` and takes no second grant: the
    attempt fails as transient, and the next one fills a disk of its own and drops the
    first."""
    from atg_dataplane_compute import disks

    source, target, item, wires = _pair(
        seeded, "vm-tgt-lostwrite", {"target": {"the write grant": _grant("Write")}}, monkeypatch
    )
    checkpoint = Checkpoint()
    with pytest.raises(ServiceResponseError) as lost:
        disks.replicate(item, source, target, checkpoint, {})
    assert is_transient(lost.value) and wires["target"].lost == ["the write grant"]

    outcome = disks.replicate(item, source, target, checkpoint, {})  # the engine's next try
    assert outcome.status == "replicated"
    assert open_grants(seeded) == []
    upload = json.loads(checkpoint.get() or "{}")["upload"]
    names = [d.name for d in client(seeded, "target").disks.list_by_resource_group(
        GROUPS["target"]) if d.name.startswith("vm-tgt-lostwrite-lun0-atg")]
    assert names == [upload] and upload.endswith("-1")  # the first attempt's disk is gone
    assert _same(item, source, target)


def test_a_swap_that_did_not_land_is_sent_again(seeded: Any, monkeypatch: Any) -> None:
    """No answer, and the VM still holds the old disk at the LUN: the swap is sent again
    within the attempt (after a lost answer the VM holds the new one, and it is not)."""
    from atg_dataplane_compute import disks

    source, target, item, wires = _pair(seeded, "vm-tgt-dropped", {
        "target": {"dropped:the swap": _arm("POST", "/attachDetachDataDisks")},
    }, monkeypatch)
    outcome = disks.replicate(item, source, target, Checkpoint(), {})
    assert outcome.status == "replicated"
    assert wires["target"].lost == ["dropped:the swap"]
    machine = client(seeded, "target").virtual_machines.get(GROUPS["target"], "vm-tgt-dropped")
    [attached] = machine.storage_profile.data_disks
    assert attached.name.startswith("vm-tgt-dropped-lun0-atg")
    assert open_grants(seeded) == [] and _same(item, source, target)
