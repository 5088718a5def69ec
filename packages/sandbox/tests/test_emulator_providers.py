"""Storage, Cosmos DB and Container Registry accounts through their azure-mgmt-* clients."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from atg_dataplane_sandbox.emulator import EmulatorHandle, start_emulator
from atg_dataplane_sandbox.emulator.testing import arm_kwargs, credential
from atg_dataplane_sandbox.topology import Topology, load_topology
from azure.core.exceptions import HttpResponseError
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.storage import StorageManagementClient

AZURITE = "https://127.0.0.1:10000"


def _write_secret(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorHandle]:
    directory = tmp_path_factory.mktemp("sandbox")
    (directory / "services.json").write_text(
        json.dumps(
            {
                "azurite": {
                    "blob": AZURITE,
                    "queue": "https://127.0.0.1:10001",
                    "table": "https://127.0.0.1:10002",
                    "accounts": {"srcacct": {"tenant": "source"}},
                },
                "cosmos": {
                    "accounts": {
                        "srccosmos": {"endpoint": "https://127.0.0.1:8081", "tenant": "source"}
                    }
                },
                "registry": {"upstream": "https://127.0.0.1:5000"},
            }
        )
    )
    _write_secret(directory / "secrets" / "azurite" / "srcacct", "c3RvcmFnZS1rZXk=")
    _write_secret(directory / "secrets" / "cosmos" / "srccosmos", "Y29zbW9zLWtleQ==")
    handle = start_emulator(directory)
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def topo(emu: EmulatorHandle) -> Topology:
    topology = load_topology(emu.directory)
    src = topology.tenant("source")
    ResourceManagementClient(
        credential(emu, "source", "admin"), src.subscription_id, **arm_kwargs(emu)
    ).resource_groups.create_or_update("rg-data", {"location": "eastus"})
    return topology


def test_storage_account_maps_onto_azurite(emu: EmulatorHandle, topo: Topology) -> None:
    src = topo.tenant("source")
    storage = StorageManagementClient(
        credential(emu, "source", "admin"), src.subscription_id, **arm_kwargs(emu)
    )
    account = storage.storage_accounts.begin_create(
        "rg-data",
        "srcacct",
        {"location": "eastus", "kind": "StorageV2", "sku": {"name": "Standard_LRS"}},
    ).result()
    # Blob/Queue/Table through the emulator's fault-injecting proxies in front of Azurite
    proxies = emu.describe()["storage"]
    assert account.primary_endpoints.blob == f"{proxies['blob']}/srcacct/"
    assert account.primary_endpoints.queue == f"{proxies['queue']}/srcacct/"
    assert account.primary_endpoints.table == f"{proxies['table']}/srcacct/"
    assert AZURITE not in account.primary_endpoints.blob
    assert account.provisioning_state == "Succeeded"
    keys = storage.storage_accounts.list_keys("rg-data", "srcacct")
    assert keys["keys"][0]["value"] == "c3RvcmFnZS1rZXk="  # (.keys is the Mapping method)
    assert [a.name for a in storage.storage_accounts.list_by_resource_group("rg-data")] == [
        "srcacct"
    ]
    # Reader may see the account but not its keys
    reader = StorageManagementClient(
        credential(emu, "source", "limited"), src.subscription_id, **arm_kwargs(emu)
    )
    assert reader.storage_accounts.get_properties("rg-data", "srcacct").name == "srcacct"
    with pytest.raises(HttpResponseError) as info:
        reader.storage_accounts.list_keys("rg-data", "srcacct")
    assert info.value.status_code == 403
    assert "Microsoft.Storage/storageAccounts/listKeys/action" in info.value.error.message


def test_cosmos_account(emu: EmulatorHandle, topo: Topology) -> None:
    cosmosdb = pytest.importorskip("azure.mgmt.cosmosdb")
    src = topo.tenant("source")
    client = cosmosdb.CosmosDBManagementClient(
        credential(emu, "source", "admin"), src.subscription_id, **arm_kwargs(emu)
    )
    account = client.database_accounts.begin_create_or_update(
        "rg-data",
        "srccosmos",
        {
            "location": "eastus",
            "properties": {
                "databaseAccountOfferType": "Standard",
                "locations": [{"locationName": "eastus"}],
            },
        },
    ).result()
    # The account's fault-injecting proxy, in front of the server services.json names.
    proxy = emu.describe()["cosmos"]["srccosmos"]
    assert account.document_endpoint == proxy + "/" != "https://127.0.0.1:8081/"
    keys = client.database_accounts.list_keys("rg-data", "srccosmos")
    assert keys.primary_master_key == "Y29zbW9zLWtleQ=="
    # Four distinct keys, the read-only ones also through readonlykeys (GET and POST).
    every = {keys.primary_master_key, keys.secondary_master_key,
             keys.primary_readonly_master_key, keys.secondary_readonly_master_key}
    assert len(every) == 4
    for read_only in (client.database_accounts.get_read_only_keys("rg-data", "srccosmos"),
                      client.database_accounts.list_read_only_keys("rg-data", "srccosmos")):
        assert read_only.primary_readonly_master_key == keys.primary_readonly_master_key
        assert read_only.secondary_readonly_master_key == keys.secondary_readonly_master_key


def test_cosmos_native_rbac(emu: EmulatorHandle, topo: Topology) -> None:
    """``sqlRoleDefinitions`` and ``sqlRoleAssignments`` of an account (Cosmos DB's own
    data-plane RBAC), as azure-mgmt-cosmosdb manages them."""
    cosmosdb = pytest.importorskip("azure.mgmt.cosmosdb")
    src = topo.tenant("source")
    client = cosmosdb.CosmosDBManagementClient(
        credential(emu, "source", "admin"), src.subscription_id, **arm_kwargs(emu)
    )
    sql = client.sql_resources
    account_id = client.database_accounts.begin_create_or_update(
        "rg-data", "srccosmos",
        {"location": "eastus", "properties": {"locations": [{"locationName": "eastus"}]}},
    ).result().id
    reader = "00000000-0000-0000-0000-000000000001"
    found = {d.name: d for d in sql.list_sql_role_definitions("rg-data", "srccosmos")}
    assert found[reader].role_name == "Cosmos DB Built-in Data Reader"
    assert "00000000-0000-0000-0000-000000000002" in found
    assert sql.get_sql_role_definition(reader, "rg-data", "srccosmos").id == (
        f"{account_id}/sqlRoleDefinitions/{reader}")

    custom = sql.begin_create_update_sql_role_definition(
        "11111111-2222-3333-4444-555555555555", "rg-data", "srccosmos",
        {"properties": {"roleName": "Items only", "type": "CustomRole",
                        "assignableScopes": [account_id],
                        "permissions": [{"dataActions": [
                            "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/items/*"
                        ]}]}},
        polling_interval=0.05,
    ).result()
    assert custom.role_name == "Items only"
    principal = src.principals["replicator"].object_id
    scope = f"{account_id}/dbs/appdb/colls/orders"
    assignment = sql.begin_create_update_sql_role_assignment(
        "aaaaaaaa-0000-0000-0000-000000000001", "rg-data", "srccosmos",
        {"properties": {"roleDefinitionId": custom.id, "scope": scope,
                        "principalId": principal}},
        polling_interval=0.05,
    ).result()
    assert (assignment.scope, assignment.principal_id) == (scope, principal)
    assert [a.name for a in sql.list_sql_role_assignments("rg-data", "srccosmos")] == [
        assignment.name]

    bad = [
        {"roleDefinitionId": f"{account_id}/sqlRoleDefinitions/{'9' * 8}", "scope": account_id,
         "principalId": principal},  # no such definition
        {"roleDefinitionId": custom.id, "scope": f"/subscriptions/{src.subscription_id}",
         "principalId": principal},  # above the account
        {"roleDefinitionId": custom.id, "scope": f"{account_id}/colls/orders",
         "principalId": principal},  # not a database or container
    ]
    for properties in bad:
        with pytest.raises(HttpResponseError) as info:
            sql.begin_create_update_sql_role_assignment(
                "aaaaaaaa-0000-0000-0000-000000000002", "rg-data", "srccosmos",
                {"properties": properties}, polling_interval=0.05,
            ).result()
        assert info.value.status_code == 400, properties
    with pytest.raises(HttpResponseError) as info:
        sql.begin_delete_sql_role_definition(reader, "rg-data", "srccosmos").result()
    assert info.value.status_code == 400  # built-in

    sql.begin_delete_sql_role_assignment(
        assignment.name, "rg-data", "srccosmos", polling_interval=0.05
    ).result()
    assert list(sql.list_sql_role_assignments("rg-data", "srccosmos")) == []
    with pytest.raises(HttpResponseError) as info:
        sql.get_sql_role_assignment(assignment.name, "rg-data", "srccosmos")
    assert info.value.status_code == 404


def test_container_registry_and_import(emu: EmulatorHandle, topo: Topology) -> None:
    acr = pytest.importorskip("azure.mgmt.containerregistry")
    src = topo.tenant("source")
    client = acr.ContainerRegistryManagementClient(
        credential(emu, "source", "admin"), src.subscription_id, **arm_kwargs(emu)
    )
    registry = client.registries.begin_create(
        "rg-data", "srcacr", {"location": "eastus", "sku": {"name": "Standard"}}
    ).result()
    assert registry.login_server
    assert registry.login_server.startswith("127.0.0.1:")  # its own ACR front listener
    # only the sandbox's own registries can be imported from (see test_emulator_acr.py)
    with pytest.raises(HttpResponseError) as info:
        client.registries.begin_import_image(
            "rg-data",
            "srcacr",
            {
                "source": {"registryUri": "docker.io", "sourceImage": "library/hello-world:latest"},
                "targetTags": ["hello:1"],
                "mode": "Force",
            },
        ).result()
    assert info.value.status_code == 400
