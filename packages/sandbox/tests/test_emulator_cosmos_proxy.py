"""The Cosmos DB server behind the emulator's fault-injecting proxies (fault service
``cosmos``), through azure-cosmos with TLS verification on: ARM's ``documentEndpoint`` and
the account's locations name the proxy, so every request of the SDK goes through it;
injected 429/500/503 and drops are retried as the SDK retries them, ``latency`` is added.

The SDK retries 429 up to 9 times (waiting ``x-ms-retry-after-ms``), but 503, 500 and
dropped connections only once per region (one region here), and writes on 500 or a drop
only with ``retry_write``: so the shares below are small and the fault dice are seeded.
After ``sandbox down``/``up`` the proxy finds the new server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from atg_dataplane_sandbox import sandbox as sbx
from atg_dataplane_sandbox import seed
from atg_dataplane_sandbox.emulator import EmulatorHandle
from atg_dataplane_sandbox.emulator.testing import arm_kwargs, credential
from atg_dataplane_sandbox.seeders import cosmos as seeders_cosmos
from atg_dataplane_sandbox.services import cosmos
from atg_dataplane_sandbox.topology import load_topology
from azure.cosmos import ContainerProxy, CosmosClient, PartitionKey
from azure.cosmos.documents import SSLConfiguration
from azure.cosmos.exceptions import CosmosHttpResponseError
from azure.mgmt.cosmosdb import CosmosDBManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient
from faults_testing import injected, until_injected
from services_testing import emulator_over, needs_emulators

pytestmark = needs_emulators
ACCOUNT = "srccosmos1"
GROUP = "rg-cosmos"


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorHandle]:
    directory = tmp_path_factory.mktemp("sandbox-cosmos")
    with emulator_over(
        directory, "cosmos", cosmos, lambda layout: cosmos.start(layout, 1), fault_seed=20261123
    ) as handle:
        yield handle


@pytest.fixture(scope="module")
def account(emu: EmulatorHandle) -> tuple[str, str]:
    """The document endpoint and key of ``srccosmos1``, created through ARM."""
    subscription = load_topology(emu.directory).tenant("source").subscription_id
    cred = credential(emu, "source", "admin")
    groups = ResourceManagementClient(cred, subscription, **arm_kwargs(emu)).resource_groups
    groups.create_or_update(GROUP, {"location": "eastus"})
    mgmt = CosmosDBManagementClient(cred, subscription, **arm_kwargs(emu))
    created = mgmt.database_accounts.begin_create_or_update(
        GROUP,
        ACCOUNT,
        {"location": "eastus", "properties": {"locations": [{"locationName": "eastus"}]}},
        polling_interval=0.05,
    ).result()
    key = mgmt.database_accounts.list_keys(GROUP, ACCOUNT).primary_master_key
    return created.document_endpoint, key


def _client(emu: EmulatorHandle, account: tuple[str, str], **kwargs: Any) -> CosmosClient:
    # azure-cosmos skips TLS verification for 127.0.0.1 unless an SSLConfiguration names a CA.
    ssl = SSLConfiguration()
    ssl.SSLCaCerts = str(emu.ca_path)
    return CosmosClient(account[0], credential=account[1], ssl_config=ssl, **kwargs)


@pytest.fixture(scope="module")
def items(emu: EmulatorHandle, account: tuple[str, str]) -> ContainerProxy:
    """A container with one item, through a client whose writes are retried (upserts are
    idempotent); its account read and endpoint health check are done before any fault."""
    client = _client(emu, account, retry_write=3)
    database = client.create_database_if_not_exists("faultsdb")
    container = database.create_container_if_not_exists("items", PartitionKey("/pk"))
    container.upsert_item({"id": "fixed", "pk": "p", "n": 0})
    return container


def test_document_endpoint_and_locations_name_the_proxy(
    emu: EmulatorHandle, account: tuple[str, str], faults: Any
) -> None:
    proxy = emu.describe()["cosmos"][ACCOUNT]
    services = json.loads((emu.directory / "services.json").read_text())
    server = services["cosmos"]["accounts"][ACCOUNT]["endpoint"]
    assert account[0] == proxy + "/" and proxy != server
    client = _client(emu, account)
    found = client.get_database_account()
    locations = found.WritableLocations + found.ReadableLocations
    assert {loc["databaseAccountEndpoint"] for loc in locations} == {proxy + "/"}

    # Every request of the SDK reaches the proxy: all fail, shaped as Cosmos DB answers.
    before = injected(emu, "cosmos", "503")
    faults("cosmos:503=1")
    with pytest.raises(CosmosHttpResponseError) as info:
        client.create_database_if_not_exists("never")
    assert info.value.status_code == 503
    assert json.loads(info.value.response.text())["code"] == "ServiceUnavailable"
    assert injected(emu, "cosmos", "503") - before >= 2  # the SDK tried again once
    faults("cosmos:429=1,retry_after=0.01")
    with pytest.raises(CosmosHttpResponseError) as info:
        client.create_database_if_not_exists("never")
    assert info.value.status_code == 429 and info.value.sub_status == 3200
    assert info.value.headers["x-ms-retry-after-ms"] == "10"
    assert json.loads(info.value.response.text())["code"] == "TooManyRequests"


@pytest.mark.parametrize(
    "spec", ["429=0.4,retry_after=0.01", "500=0.2", "503=0.2", "drop=0.2"]
)
def test_faults_are_retried_by_the_sdk(
    emu: EmulatorHandle, items: ContainerProxy, faults: Any, spec: str
) -> None:
    label = spec.split("=")[0]
    faults(f"cosmos:{spec}")

    def roundtrip(i: int) -> None:
        items.upsert_item({"id": f"{label}-{i}", "pk": "p", "n": i})
        assert items.read_item(f"{label}-{i}", partition_key="p")["n"] == i
        assert items.read_item("fixed", partition_key="p")["n"] == 0

    until_injected(emu, "cosmos", label, roundtrip)


def test_latency_applies_to_every_request(items: ContainerProxy, faults: Any) -> None:
    faults("cosmos:latency=100ms")
    started = time.monotonic()
    for _ in range(4):
        items.read_item("fixed", partition_key="p")
    assert time.monotonic() - started >= 4 * 0.1 * 0.9  # a lower bound only


def test_the_proxy_follows_the_server_across_a_restart(tmp_path: Path) -> None:
    """``sandbox down``/``up``: a new Cosmos DB server (new port, no data), the proxy on its
    remembered port; the stored ARM account names the proxy and the SDK gets through."""
    pools = sbx.PoolSizes(storage=1, cosmos=1)
    first = sbx.up(tmp_path, pools=pools)
    try:
        ctx = seed.context(tmp_path)
        groups = ctx.mgmt(ResourceManagementClient, "source").resource_groups
        groups.create_or_update(ctx.resource_groups["source"], {"location": "eastus"})
        endpoint, key = seeders_cosmos.create_account(ctx, "source", ACCOUNT)
        assert endpoint == first.services[f"cosmos/{ACCOUNT}"] + "/"
        seeders_cosmos.data_client(ctx, endpoint, key).create_database("before")
        sbx.down(tmp_path)

        second = sbx.up(tmp_path, pools=pools)
        ctx = seed.context(tmp_path)  # Entra ID and ARM moved too
        mgmt = ctx.mgmt(CosmosDBManagementClient, "source")
        moved = mgmt.database_accounts.get(ctx.resource_groups["source"], ACCOUNT)
        assert moved.document_endpoint == second.services[f"cosmos/{ACCOUNT}"] + "/"
        client = seeders_cosmos.data_client(ctx, moved.document_endpoint, key)
        client.create_database("after")
        assert {d["id"] for d in client.list_databases()} == {"after"}  # in memory only
        sbx.set_faults(tmp_path, "cosmos:503=1")
        with pytest.raises(CosmosHttpResponseError) as info:
            list(client.list_databases())
        assert info.value.status_code == 503
    finally:
        sbx.down(tmp_path)
