"""A Cosmos DB account's NoSQL resources through ARM (azure-mgmt-cosmosdb), applied to the
account's server and seen by the data plane (azure-cosmos), and back: databases with shared
throughput, containers with every property a copy must carry, throughput settings, and the
three kinds of scripts (stored procedures and triggers kept by the emulator)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from atg_dataplane_sandbox.emulator import EmulatorHandle
from atg_dataplane_sandbox.emulator.testing import credential
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.cosmos import CosmosClient
from azure.cosmos.exceptions import CosmosHttpResponseError
from azure.mgmt.cosmosdb import CosmosDBManagementClient
from cosmos_testing import client, cosmos_emulator, create_account, grant, management
from services_testing import needs_emulators

pytestmark = needs_emulators
ACCOUNT = "srccosmos1"
GROUP = "rg-cosmos-sql"
POLL = {"polling_interval": 0.05}

CONTAINER = {
    "id": "orders",
    "partitionKey": {"paths": ["/tenant", "/user"], "kind": "MultiHash", "version": 2},
    "indexingPolicy": {
        "indexingMode": "consistent",
        "automatic": True,
        "includedPaths": [{"path": "/*"}],
        "excludedPaths": [{"path": "/payload/*"}, {"path": '/"_etag"/?'}],
    },
    "uniqueKeyPolicy": {"uniqueKeys": [{"paths": ["/email"]}]},
    "defaultTtl": 3600,
    "conflictResolutionPolicy": {"mode": "LastWriterWins", "conflictResolutionPath": "/_ts"},
}


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorHandle]:
    with cosmos_emulator(tmp_path_factory.mktemp("sandbox-cosmos-sql")) as handle:
        yield handle


@pytest.fixture(scope="module")
def mgmt(emu: EmulatorHandle) -> CosmosDBManagementClient:
    return management(emu)


@pytest.fixture(scope="module")
def data(emu: EmulatorHandle, mgmt: CosmosDBManagementClient) -> CosmosClient:
    return client(emu, create_account(emu, mgmt, GROUP, ACCOUNT))


def _database(mgmt: CosmosDBManagementClient, name: str, options: dict[str, Any]) -> Any:
    body = {"properties": {"resource": {"id": name}, "options": options}}
    sql = mgmt.sql_resources
    return sql.begin_create_update_sql_database(GROUP, ACCOUNT, name, body, **POLL).result()


def _container(
    mgmt: CosmosDBManagementClient, db: str, resource: dict[str, Any], options: dict[str, Any]
) -> Any:
    body = {"properties": {"resource": resource, "options": options}}
    return mgmt.sql_resources.begin_create_update_sql_container(
        GROUP, ACCOUNT, db, resource["id"], body, **POLL
    ).result()


def test_databases_and_throughput(mgmt: CosmosDBManagementClient, data: CosmosClient) -> None:
    shared = _database(mgmt, "shared", {"throughput": 400})
    assert shared.resource.id == "shared" and shared.options.throughput == 400
    _database(mgmt, "plain", {})
    sql = mgmt.sql_resources
    assert {d.name for d in sql.list_sql_databases(GROUP, ACCOUNT)} >= {"shared", "plain"}
    assert {d["id"] for d in data.list_databases()} >= {"shared", "plain"}  # in the server
    assert sql.get_sql_database(GROUP, ACCOUNT, "plain").options is None

    assert sql.get_sql_database_throughput(GROUP, ACCOUNT, "shared").resource.throughput == 400
    sql.begin_update_sql_database_throughput(
        GROUP, ACCOUNT, "shared", {"properties": {"resource": {"throughput": 800}}}, **POLL
    ).result()
    assert sql.get_sql_database_throughput(GROUP, ACCOUNT, "shared").resource.throughput == 800
    with pytest.raises(ResourceNotFoundError):
        sql.get_sql_database_throughput(GROUP, ACCOUNT, "plain")

    _container(mgmt, "plain", {"id": "auto", "partitionKey": {"paths": ["/pk"]}},
               {"autoscaleSettings": {"maxThroughput": 4000}})
    auto = sql.get_sql_container_throughput(GROUP, ACCOUNT, "plain", "auto").resource
    assert auto.autoscale_settings.max_throughput == 4000

    sql.begin_delete_sql_database(GROUP, ACCOUNT, "plain", **POLL).result()
    assert "plain" not in {d["id"] for d in data.list_databases()}
    with pytest.raises(ResourceNotFoundError):
        sql.get_sql_database(GROUP, ACCOUNT, "plain")


def test_a_container_carries_every_property(
    mgmt: CosmosDBManagementClient, data: CosmosClient
) -> None:
    _database(mgmt, "shop", {})
    made = _container(mgmt, "shop", CONTAINER, {"throughput": 1000})
    resource = made.resource
    assert resource.partition_key.paths == ["/tenant", "/user"]
    assert resource.partition_key.kind == "MultiHash" and resource.partition_key.version == 2
    assert [p.path for p in resource.indexing_policy.excluded_paths] == [
        "/payload/*", '/"_etag"/?']
    assert resource.unique_key_policy.unique_keys[0].paths == ["/email"]
    assert resource.default_ttl == 3600
    assert resource.conflict_resolution_policy.conflict_resolution_path == "/_ts"
    assert made.options.throughput == 1000
    listed = mgmt.sql_resources.list_sql_containers(GROUP, ACCOUNT, "shop")
    assert [c.name for c in listed] == ["orders"]

    # The data plane sees the same container and can write into it.
    container = data.get_database_client("shop").get_container_client("orders")
    read = container.read()
    assert read["partitionKey"]["paths"] == ["/tenant", "/user"]
    assert read["defaultTtl"] == 3600
    container.upsert_item({"id": "o1", "tenant": "t", "user": "u", "email": "a@example.com"})
    assert container.read_item("o1", partition_key=["t", "u"])["email"] == "a@example.com"

    # A PUT with another TTL updates the container and keeps its documents and functions,
    # as Azure does; a new partition key is refused, as in Azure.
    container.scripts.create_user_defined_function({"id": "f", "body": "function f() {}"})
    _container(mgmt, "shop", dict(CONTAINER, defaultTtl=60), {})
    assert container.read()["defaultTtl"] == 60
    assert container.read_item("o1", partition_key=["t", "u"])["email"] == "a@example.com"
    assert [u["id"] for u in container.scripts.list_user_defined_functions()] == ["f"]
    container.upsert_item({"id": "o2", "tenant": "t", "user": "u", "email": "b@example.com"})
    every = container.query_items("SELECT * FROM c", enable_cross_partition_query=True)
    assert len(list(every)) == 2
    with pytest.raises(HttpResponseError) as info:
        _container(mgmt, "shop", dict(CONTAINER, partitionKey={"paths": ["/other"]}), {})
    assert info.value.status_code == 400
    assert "partition key cannot be changed" in str(info.value)
    assert container.read()["partitionKey"]["paths"] == ["/tenant", "/user"]


SCRIPTS = {
    "stored_procedure": {"id": "bulk", "body": "function bulk(docs) { return docs.length; }"},
    "trigger": {"id": "stamp", "body": "function stamp() {}", "triggerType": "Pre",
                "triggerOperation": "Create"},
    "user_defined_function": {"id": "tax", "body": "function tax(x) { return x * 0.2; }"},
}


def _put_script(mgmt: CosmosDBManagementClient, kind: str, coll: str, body: dict) -> Any:
    create = getattr(mgmt.sql_resources, f"begin_create_update_sql_{kind}")
    params = {"properties": {"resource": body, "options": {}}}
    return create(GROUP, ACCOUNT, "shop", coll, body["id"], params, **POLL).result()


def _list_scripts(mgmt: CosmosDBManagementClient, kind: str, coll: str) -> dict[str, Any]:
    found = getattr(mgmt.sql_resources, f"list_sql_{kind}s")(GROUP, ACCOUNT, "shop", coll)
    return {script.name: script.resource for script in found}


def test_scripts_through_arm_and_the_data_plane(
    emu: EmulatorHandle, mgmt: CosmosDBManagementClient, data: CosmosClient
) -> None:
    _database(mgmt, "shop", {})
    _container(mgmt, "shop", {"id": "carts", "partitionKey": {"paths": ["/pk"]}}, {})
    for kind, body in SCRIPTS.items():
        made = _put_script(mgmt, kind, "carts", body).resource
        assert (made.id, made.body) == (body["id"], body["body"])
        assert set(_list_scripts(mgmt, kind, "carts")) == {body["id"]}
    trigger = _list_scripts(mgmt, "trigger", "carts")["stamp"]
    assert (trigger.trigger_type, trigger.trigger_operation) == ("Pre", "Create")

    # The data plane sees what ARM wrote, and ARM what the data plane writes (with a key).
    scripts = data.get_database_client("shop").get_container_client("carts").scripts
    assert [s["id"] for s in scripts.list_stored_procedures()] == ["bulk"]
    assert scripts.get_trigger("stamp")["triggerOperation"] == "Create"
    assert [u["id"] for u in scripts.list_user_defined_functions()] == ["tax"]
    scripts.create_stored_procedure({"id": "second", "body": "function second() {}"})
    with pytest.raises(CosmosHttpResponseError) as info:
        scripts.create_stored_procedure({"id": "second", "body": "function again() {}"})
    assert info.value.status_code == 409
    scripts.replace_trigger("stamp", dict(SCRIPTS["trigger"], triggerType="Post"))
    assert set(_list_scripts(mgmt, "stored_procedure", "carts")) == {"bulk", "second"}
    assert _list_scripts(mgmt, "trigger", "carts")["stamp"].trigger_type == "Post"
    with pytest.raises(CosmosHttpResponseError) as info:
        scripts.create_trigger({"id": "bad", "body": "function bad() {}", "triggerType": "Mid",
                                "triggerOperation": "All"})
    assert info.value.status_code == 400

    # Entra ID tokens may not write scripts on the data plane, whatever their role.
    endpoint = mgmt.database_accounts.get(GROUP, ACCOUNT).document_endpoint
    grant(emu, mgmt, GROUP, ACCOUNT, "source", "replicator")
    by_token = client(emu, (endpoint, credential(emu, "source", "replicator")))
    with pytest.raises(CosmosHttpResponseError) as info:
        by_token.get_database_client("shop").get_container_client("carts").scripts \
            .create_stored_procedure({"id": "token", "body": "function t() {}"})
    assert (info.value.status_code, info.value.sub_status) == (403, 5300)

    # A deleted script and a deleted container take their scripts with them.
    mgmt.sql_resources.begin_delete_sql_stored_procedure(
        GROUP, ACCOUNT, "shop", "carts", "second", **POLL).result()
    assert [s["id"] for s in scripts.list_stored_procedures()] == ["bulk"]
    mgmt.sql_resources.begin_delete_sql_container(GROUP, ACCOUNT, "shop", "carts", **POLL).result()
    _container(mgmt, "shop", {"id": "carts", "partitionKey": {"paths": ["/pk"]}}, {})
    for kind in SCRIPTS:
        assert _list_scripts(mgmt, kind, "carts") == {}


def test_concurrent_puts_of_one_container_both_succeed(mgmt: CosmosDBManagementClient) -> None:
    """ARM's PUT creates or updates: two callers creating the same database and container
    at once (a copy's items do) both succeed, whoever is first."""
    from concurrent.futures import ThreadPoolExecutor

    def create(_: int) -> str:
        _database(mgmt, "raced", {})
        made = _container(mgmt, "raced", {"id": "c", "partitionKey": {"paths": ["/pk"]}}, {})
        return str(made.resource.id)

    with ThreadPoolExecutor(6) as pool:
        assert list(pool.map(create, range(6))) == ["c"] * 6
