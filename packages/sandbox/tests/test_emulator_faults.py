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
from atg_dataplane_sandbox.emulator.faults import (
    FaultSpecError,
    ServiceFaults,
    decide,
    parse_spec,
)
from atg_dataplane_sandbox.emulator.testing import arm_kwargs, credential, vault_kwargs
from atg_dataplane_sandbox.topology import Topology, load_topology
from azure.keyvault.secrets import SecretClient
from azure.mgmt.resource.resources import ResourceManagementClient
from faults_testing import FAST_RETRY, until_injected
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
