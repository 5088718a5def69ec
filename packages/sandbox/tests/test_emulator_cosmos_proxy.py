"""The Cosmos DB server behind the emulator's fault-injecting proxies (fault service
``cosmos``), through azure-cosmos with TLS verification on: ARM's ``documentEndpoint`` and
the account's locations name the proxy, so every request of the SDK goes through it;
injected 429/500/503 and drops are retried as the SDK retries them, ``latency`` is added.

The SDK retries 429 up to 9 times (waiting ``x-ms-retry-after-ms``), but 503, 500 and
dropped connections only once per region (one region here), and writes on 500 or a drop
only with ``retry_write``: so the shares below are small and the fault dice are seeded.
After ``sandbox down``/``up`` the proxy finds the new server.

The proxy lets through only what Cosmos DB would: the account's keys as ARM lists them
(read-only keys for reads and queries), or an Entra ID token of the account's tenant whose
principal holds a Cosmos DB data role (``sqlRoleAssignments``) for the request."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest
import requests
from atg_dataplane_sandbox import sandbox as sbx
from atg_dataplane_sandbox import seed
from atg_dataplane_sandbox.emulator import EmulatorHandle
from atg_dataplane_sandbox.emulator.cosmos import auth as cosmos_auth
from atg_dataplane_sandbox.emulator.testing import credential
from atg_dataplane_sandbox.seeders import cosmos as seeders_cosmos
from atg_dataplane_sandbox.services.upstream_auth import COSMOS_HEADER
from azure.cosmos import ContainerProxy, CosmosClient, PartitionKey
from azure.cosmos.exceptions import CosmosHttpResponseError
from azure.mgmt.cosmosdb import CosmosDBManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient
from cosmos_testing import client as _client
from cosmos_testing import cosmos_emulator, create_account, grant, management
from faults_testing import injected, until_injected
from services_testing import needs_emulators

pytestmark = needs_emulators
ACCOUNT = "srccosmos1"
GROUP = "rg-cosmos"


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorHandle]:
    with cosmos_emulator(tmp_path_factory.mktemp("sandbox-cosmos"), 20261123) as handle:
        yield handle


@pytest.fixture(scope="module")
def mgmt(emu: EmulatorHandle) -> CosmosDBManagementClient:
    return management(emu)


@pytest.fixture(scope="module")
def account(emu: EmulatorHandle, mgmt: CosmosDBManagementClient) -> tuple[str, str]:
    """The document endpoint and key of ``srccosmos1``, created through ARM."""
    return create_account(emu, mgmt, GROUP, ACCOUNT)


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
    """``sandbox down``/``up``: a new Cosmos DB server (new port, the data it saved when it
    stopped), the proxy on its remembered port; the stored ARM account names the proxy and
    the SDK gets through."""
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
        assert {d["id"] for d in client.list_databases()} == {"before", "after"}  # kept
        sbx.set_faults(tmp_path, "cosmos:503=1")
        with pytest.raises(CosmosHttpResponseError) as info:
            list(client.list_databases())
        assert info.value.status_code == 503
    finally:
        sbx.down(tmp_path)


# ------------------------------------------------------------------ who may call the account
READER = "00000000-0000-0000-0000-000000000001"
CONTRIBUTOR = "00000000-0000-0000-0000-000000000002"


def _refused(call: Any) -> CosmosHttpResponseError:
    """The error ``call()`` raised: building a client reads the account already."""
    with pytest.raises(CosmosHttpResponseError) as info:
        call()
    return info.value


def _items(client: CosmosClient) -> ContainerProxy:
    return client.get_database_client("faultsdb").get_container_client("items")


def _grant(
    emu: EmulatorHandle, mgmt: CosmosDBManagementClient, tenant: str, principal: str,
    role: str,
) -> str:
    return grant(emu, mgmt, GROUP, ACCOUNT, tenant, principal, role)


def test_the_keys_arm_lists_work_and_no_other(
    emu: EmulatorHandle, account: tuple[str, str], mgmt: CosmosDBManagementClient,
    items: ContainerProxy,
) -> None:
    keys = mgmt.database_accounts.list_keys(GROUP, ACCOUNT)
    read_only = mgmt.database_accounts.list_read_only_keys(GROUP, ACCOUNT)
    assert (read_only.primary_readonly_master_key, read_only.secondary_readonly_master_key) == (
        keys.primary_readonly_master_key, keys.secondary_readonly_master_key)
    assert len({keys.primary_master_key, keys.secondary_master_key,
                keys.primary_readonly_master_key, keys.secondary_readonly_master_key}) == 4
    secondary = _items(_client(emu, (account[0], keys.secondary_master_key)))
    secondary.upsert_item({"id": "secondary", "pk": "p", "n": 2})
    assert secondary.read_item("secondary", partition_key="p")["n"] == 2

    wrong = base64.b64encode(os.urandom(64)).decode()
    error = _refused(lambda: list(_client(emu, (account[0], wrong)).list_databases()))
    assert error.status_code == 401
    body = json.loads(error.response.text())
    assert body["code"] == "Unauthorized"
    assert body["message"].startswith("The input authorization token can't serve the request.")
    assert "Server used the following payload to sign: 'get\n" in body["message"]


def test_read_only_keys_read_and_query_but_do_not_write(
    emu: EmulatorHandle, account: tuple[str, str], mgmt: CosmosDBManagementClient,
    items: ContainerProxy,
) -> None:
    keys = mgmt.database_accounts.list_read_only_keys(GROUP, ACCOUNT)
    for key in (keys.primary_readonly_master_key, keys.secondary_readonly_master_key):
        client = _client(emu, (account[0], key))
        container = _items(client)
        assert container.read_item("fixed", partition_key="p")["n"] == 0
        query = "SELECT VALUE c.n FROM c WHERE c.id = 'fixed'"
        assert list(container.query_items(query, enable_cross_partition_query=True)) == [0]
        assert "faultsdb" in {d["id"] for d in client.list_databases()}
        # Cosmos DB takes a write signed with a read-only key as a bad signature: 401.
        writes = [
            (container.upsert_item, ({"id": "ro", "pk": "p"},), {}),
            (container.delete_item, ("fixed",), {"partition_key": "p"}),
            (client.create_database, ("ro-db",), {}),
        ]
        for call, args, kwargs in writes:
            with pytest.raises(CosmosHttpResponseError) as info:
                call(*args, **kwargs)
            assert info.value.status_code == 401
            assert json.loads(info.value.response.text())["code"] == "Unauthorized"
    assert items.read_item("fixed", partition_key="p")["n"] == 0


def test_requests_without_authorization_are_refused(
    emu: EmulatorHandle, account: tuple[str, str], items: ContainerProxy
) -> None:
    endpoint, ca = account[0], str(emu.ca_path)
    for method, path, body in [
        ("GET", "", None),
        ("GET", "dbs", None),
        ("POST", "dbs", {"id": "sneaky"}),
        ("GET", "dbs/faultsdb/colls/items/docs/fixed", None),
        ("DELETE", "dbs/faultsdb", None),
    ]:
        response = requests.request(method, endpoint + path, json=body, verify=ca, timeout=10)
        assert response.status_code == 401, (method, path, response.text)
        answer = response.json()
        assert answer["code"] == "Unauthorized"
        assert answer["message"].startswith("Required Header authorization is missing.")
    assert "sneaky" not in {d["id"] for d in _client(emu, account).list_databases()}
    assert items.read_item("fixed", partition_key="p")["n"] == 0


def test_only_the_proxy_gets_through_to_the_server(
    emu: EmulatorHandle, account: tuple[str, str], items: ContainerProxy
) -> None:
    """The server demands the sandbox's upstream secret, which the proxy adds: a request
    straight to the server is refused even with the account's key, and a client's own
    ``x-sandbox-upstream`` never reaches the server (else this 200 would be a 401)."""
    services = json.loads((emu.directory / "services.json").read_text())
    server = services["cosmos"]["accounts"][ACCOUNT]["endpoint"]
    direct = _refused(lambda: list(_client(emu, (server + "/", account[1])).list_databases()))
    assert direct.status_code == 401
    assert json.loads(direct.response.text())["code"] == "Unauthorized"
    meddling = _client(emu, account, headers={COSMOS_HEADER: "guess"})
    assert "faultsdb" in {d["id"] for d in meddling.list_databases()}


def test_a_request_dated_more_than_15_minutes_off_is_refused(
    emu: EmulatorHandle, account: tuple[str, str]
) -> None:
    def get_dbs(when: float) -> requests.Response:
        date = formatdate(when, usegmt=True)
        signature = cosmos_auth.sign(account[1], cosmos_auth.string_to_sign("GET", "dbs", "", date))
        headers = {"x-ms-date": date, "x-ms-version": "2018-12-31",
                   "authorization": f"type%3Dmaster%26ver%3D1.0%26sig%3D{signature}"}
        return requests.get(account[0] + "dbs", headers=headers, verify=str(emu.ca_path),
                            timeout=10)

    assert get_dbs(time.time()).status_code == 200  # signed as the SDKs sign
    for skew in (-20 * 60, 20 * 60):
        stale = get_dbs(time.time() + skew)
        assert stale.status_code == 403, stale.text
        answer = stale.json()
        assert answer["code"] == "Forbidden"
        assert "The authorization token is not valid at the current time." in answer["message"]


def test_entra_tokens_need_a_cosmos_data_role_of_the_account(
    emu: EmulatorHandle, account: tuple[str, str], mgmt: CosmosDBManagementClient,
    items: ContainerProxy,
) -> None:
    def token_client(tenant: str, principal: str) -> CosmosClient:
        return _client(emu, (account[0], credential(emu, tenant, principal)))

    # The admin owns the subscription, but Azure roles grant no Cosmos DB data access.
    error = _refused(lambda: list(token_client("source", "admin").list_databases()))
    assert (error.status_code, error.sub_status) == (403, 5301)
    assert "Microsoft.DocumentDB/databaseAccounts/readMetadata" in error.message

    definitions = {d.name: d.role_name for d in mgmt.sql_resources.list_sql_role_definitions(
        GROUP, ACCOUNT)}
    assert definitions == {READER: "Cosmos DB Built-in Data Reader",
                           CONTRIBUTOR: "Cosmos DB Built-in Data Contributor"}
    contributor = _grant(emu, mgmt, "source", "replicator", CONTRIBUTOR)
    reader = _grant(emu, mgmt, "source", "limited", READER)
    assert {a.name for a in mgmt.sql_resources.list_sql_role_assignments(GROUP, ACCOUNT)} >= {
        contributor, reader}

    replicator = token_client("source", "replicator")
    container = _items(replicator)
    container.upsert_item({"id": "by-token", "pk": "p", "n": 7})
    assert container.read_item("by-token", partition_key="p")["n"] == 7
    assert items.read_item("by-token", partition_key="p")["n"] == 7  # the same data
    # Databases and containers are created through ARM, not with a token.
    error = _refused(lambda: replicator.create_database("by-token"))
    assert (error.status_code, error.sub_status) == (403, 5300)

    limited = _items(token_client("source", "limited"))
    assert limited.read_item("by-token", partition_key="p")["n"] == 7
    error = _refused(lambda: limited.upsert_item({"id": "by-reader", "pk": "p"}))
    assert (error.status_code, error.sub_status) == (403, 5301)
    assert "sqlDatabases/containers/items/upsert" in error.message

    # A token of the other tenant is refused whatever its principal may do there.
    error = _refused(lambda: list(token_client("target", "replicator").list_databases()))
    assert error.status_code == 401

    # Deleting the assignment takes the access away.
    mgmt.sql_resources.begin_delete_sql_role_assignment(
        reader, GROUP, ACCOUNT, polling_interval=0.05).result()
    error = _refused(lambda: _items(token_client("source", "limited")).read_item(
        "by-token", partition_key="p"))
    assert (error.status_code, error.sub_status) == (403, 5301)


def test_disabling_local_auth_refuses_keys_not_tokens(
    emu: EmulatorHandle, account: tuple[str, str], mgmt: CosmosDBManagementClient,
    items: ContainerProxy,
) -> None:
    _grant(emu, mgmt, "source", "replicator", CONTRIBUTOR)
    mgmt.database_accounts.begin_update(
        GROUP, ACCOUNT, {"properties": {"disableLocalAuth": True}}, polling_interval=0.05
    ).result()
    try:
        error = _refused(lambda: items.read_item("fixed", partition_key="p"))
        assert error.status_code == 401
        assert "Local Authorization is disabled" in error.message
        by_token = _items(_client(emu, (account[0], credential(emu, "source", "replicator"))))
        assert by_token.read_item("fixed", partition_key="p")["n"] == 0
    finally:
        mgmt.database_accounts.begin_update(
            GROUP, ACCOUNT, {"properties": {"disableLocalAuth": False}}, polling_interval=0.05
        ).result()
    assert items.read_item("fixed", partition_key="p")["n"] == 0
