"""Fault injection (429/500/503, dropped connections, latency, throttling), retried by the
official SDKs, and the admin endpoint that changes faults at run time."""

from __future__ import annotations

import json
import random
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from atg_dataplane_sandbox.emulator import EmulatorHandle, start_emulator
from atg_dataplane_sandbox.emulator.common.faults import (
    FaultSpecError,
    ServiceFaults,
    decide,
    parse_spec,
)
from atg_dataplane_sandbox.emulator.testing import arm_kwargs, credential, vault_kwargs
from atg_dataplane_sandbox.topology import Topology, load_topology
from azure.core.exceptions import DecodeError, ResourceNotFoundError, ServiceResponseError
from azure.keyvault.secrets import SecretClient
from azure.mgmt.resource.resources import ResourceManagementClient
from faults_testing import FAST_RETRY, injected, until_injected
from vault_testing import create_vault


# -- the spec language (pure) ---------------------------------------------------------------
def test_parse_spec() -> None:
    spec = parse_spec("keyvault:429=0.1,500=5%,drop=0.02,latency=20ms;arm:503=0.1,retry_after=2")
    kv = spec.for_service("keyvault")
    assert kv.statuses == {429: 0.1, 500: 0.05} and kv.drop == 0.02 and kv.latency == 0.02
    assert spec.for_service("arm") == ServiceFaults(statuses={503: 0.1}, retry_after=2.0)
    assert spec.for_service("entra") == ServiceFaults()
    assert parse_spec("*:latency=1s").for_service("entra").latency == 1.0
    assert parse_spec("").services == {}
    for bad in ("keyvault", "nosuch:429=0.1", "arm:429=2", "arm:teapot=0.1", "arm:latency=x"):
        with pytest.raises(FaultSpecError):
            parse_spec(bad)


def test_parse_spec_new_faults_and_the_mix() -> None:
    spec = parse_spec("storage:lost=0.1,stall=5%,malformed=0.2,stall_for=2s;keyvault:mix=0.2")
    storage = spec.for_service("storage")
    assert (storage.lost, storage.stall, storage.malformed, storage.stall_for) == (
        0.1,
        0.05,
        0.2,
        2.0,
    )
    kv = spec.for_service("keyvault")
    assert kv.statuses == {429: 0.05, 503: 0.05} and kv.drop == 0.05 and kv.lost == 0.05
    assert parse_spec("arm:stall_for=1500ms").for_service("arm").stall_for == 1.5
    assert parse_spec("arm:stall_for=3").for_service("arm").stall_for == 3.0  # bare: seconds
    for bad in ("arm:lost=1.5", "arm:mix=x", "arm:stall_for=soon"):
        with pytest.raises(FaultSpecError):
            parse_spec(bad)


def test_decide_draws_every_kind() -> None:
    spec = parse_spec("arm:429=0.2,drop=0.2,lost=0.2,stall=0.2,malformed=0.2,stall_for=7s")
    seen = {decide(spec, "arm", random.Random(seed)) for seed in range(200)}
    assert {f.kind for f in seen} == {"status", "drop", "lost", "stall", "malformed"}
    assert all(f.stall_for == 7.0 for f in seen if f.kind == "stall")


def test_decide_is_pure_given_the_dice() -> None:
    spec = parse_spec("arm:429=0.5,drop=0.5")
    kinds = {decide(spec, "arm", random.Random(seed)).kind for seed in range(50)}
    assert kinds == {"status", "drop"}
    assert decide(spec, "keyvault", random.Random(1)).kind == "none"
    assert decide(parse_spec("arm:latency=5ms"), "arm").latency == 0.005


# -- against the running emulator -------------------------------------------------------------
@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorHandle]:
    handle = start_emulator(tmp_path_factory.mktemp("sandbox"), fault_seed=20261122)
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def vault_url(emu: EmulatorHandle) -> str:
    return create_vault(emu, load_topology(emu.directory), "source", "rg-faults", "kv-faults")


def _client(emu: EmulatorHandle, url: str) -> SecretClient:
    return SecretClient(url, credential(emu), **vault_kwargs(emu), **FAST_RETRY)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_status_faults_are_retried_by_the_sdk(
    emu: EmulatorHandle, vault_url: str, faults: Any, status: int
) -> None:
    client = _client(emu, vault_url)
    client.set_secret("warm-up", "x")  # challenge + token before faults start
    faults(f"keyvault:{status}=0.4,retry_after=0")

    def roundtrip(i: int) -> None:
        client.set_secret(f"s{status}-{i}", str(i))
        assert client.get_secret(f"s{status}-{i}").value == str(i)

    until_injected(emu, "keyvault", str(status), roundtrip)


def test_arm_503_is_retried(emu: EmulatorHandle, faults: Any) -> None:
    topo = load_topology(emu.directory)
    rm = ResourceManagementClient(
        credential(emu, "source", "admin"),
        topo.tenant("source").subscription_id,
        **arm_kwargs(emu),
        **FAST_RETRY,
    )
    faults("arm:503=0.4,retry_after=0")
    until_injected(
        emu,
        "arm",
        "503",
        lambda i: rm.resource_groups.create_or_update(f"rg-503-{i}", {"location": "eastus"}),
    )


def test_dropped_connections_are_retried(emu: EmulatorHandle, vault_url: str, faults: Any) -> None:
    client = _client(emu, vault_url)
    client.set_secret("dropped", "value")
    faults("keyvault:drop=0.2")

    def read(_: int) -> None:
        assert client.get_secret("dropped").value == "value"

    until_injected(emu, "keyvault", "drop", read)


def test_lost_answer_applies_the_write(emu: EmulatorHandle, vault_url: str, faults: Any) -> None:
    client = SecretClient(
        vault_url, credential(emu), **vault_kwargs(emu), retry_total=0, retry_read=0
    )
    client.set_secret("lost-warm-up", "x")
    faults("keyvault:lost=1")
    with pytest.raises(ServiceResponseError):
        client.set_secret("lost-write", "applied")
    faults("")
    assert client.get_secret("lost-write").value == "applied"  # it landed all the same
    assert injected(emu, "keyvault", "lost") >= 1


def test_stalled_request_times_out(emu: EmulatorHandle, vault_url: str, faults: Any) -> None:
    client = SecretClient(
        vault_url, credential(emu), **vault_kwargs(emu), retry_total=0, read_timeout=1
    )
    client.set_secret("stall-warm-up", "x")
    faults("keyvault:stall=1,stall_for=30s")
    started = time.monotonic()
    with pytest.raises(ServiceResponseError):
        client.get_secret("stall-warm-up")
    assert time.monotonic() - started < 10  # the client's read timeout, not the stall
    faults("")
    assert client.get_secret("stall-warm-up").value == "x"
    assert injected(emu, "keyvault", "stall") >= 1


def test_malformed_answers_do_not_parse(emu: EmulatorHandle, vault_url: str, faults: Any) -> None:
    client = _client(emu, vault_url)
    client.set_secret("garbled", "x")
    faults("keyvault:malformed=1")
    with pytest.raises(DecodeError):
        client.get_secret("garbled")
    with pytest.raises(DecodeError):
        client.set_secret("garbled-write", "never applied")
    faults("")
    with pytest.raises(ResourceNotFoundError):
        client.get_secret("garbled-write")
    assert injected(emu, "keyvault", "malformed") >= 2


def test_latency_applies_to_every_request(emu: EmulatorHandle, vault_url: str, faults: Any) -> None:
    client = _client(emu, vault_url)
    client.set_secret("slow", "value")
    faults("keyvault:latency=40ms")
    started = time.monotonic()
    for _ in range(5):
        client.get_secret("slow")
    assert time.monotonic() - started >= 5 * 0.04 * 0.9  # a lower bound only


def test_throttled_burst_is_retried(emu: EmulatorHandle, vault_url: str, faults: Any) -> None:
    client = _client(emu, vault_url)
    client.set_secret("burst-0", "warm")
    faults("keyvault:throttle=10,retry_after=0.2")
    before = emu.fault_counts.get("keyvault", {}).get("throttled", 0)
    for i in range(30):
        client.set_secret(f"burst-{i}", str(i))
    assert emu.fault_counts["keyvault"]["throttled"] > before
    assert client.get_secret("burst-29").value == "29"


def _admin(emu: EmulatorHandle, body: dict[str, Any] | None, key: str | None) -> Any:
    request = urllib.request.Request(
        emu.faults_url,
        method="POST" if body else "GET",
        data=json.dumps(body).encode() if body else None,
    )
    if key:
        request.add_header("X-Sandbox-Admin-Key", key)
    context = ssl.create_default_context(cafile=str(emu.ca_path))
    with urllib.request.urlopen(request, context=context) as response:
        return json.loads(response.read())


def test_admin_endpoint(emu: EmulatorHandle) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        _admin(emu, {"spec": "arm:500=1"}, None)
    assert info.value.code == 401
    with pytest.raises(urllib.error.HTTPError) as info:
        _admin(emu, {"spec": "arm:500=1"}, "wrong")
    assert info.value.code == 401
    assert _admin(emu, {"spec": "entra:latency=1ms"}, emu.admin_key)["spec"] == "entra:latency=1ms"
    with pytest.raises(urllib.error.HTTPError) as info:
        _admin(emu, {"spec": "bogus"}, emu.admin_key)
    assert info.value.code == 400
    assert _admin(emu, {"spec": " "}, emu.admin_key)["spec"] == ""
    assert _admin(emu, None, emu.admin_key)["spec"] == ""


def test_topology_is_loadable(emu: EmulatorHandle) -> None:
    assert isinstance(load_topology(emu.directory), Topology)
