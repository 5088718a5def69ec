"""Cosmos DB: accounts through ARM (names from the server pool), data through azure-cosmos."""

from __future__ import annotations

from typing import Any

from azure.cosmos import CosmosClient, PartitionKey
from azure.cosmos.documents import SSLConfiguration
from azure.mgmt.cosmosdb import CosmosDBManagementClient
from azure.mgmt.cosmosdb.models import (
    DatabaseAccountCreateUpdateParameters,
    DatabaseAccountCreateUpdateProperties,
    Location,
)

from atg_dataplane_sandbox.scenarios import CosmosContainerSpec, CosmosContents, ResourceSpec
from atg_dataplane_sandbox.seeders.context import SeedContext


def create_account(ctx: SeedContext, side: str, name: str) -> tuple[str, str]:
    """Create the account through ARM; return its document endpoint and primary key."""
    client = ctx.mgmt(CosmosDBManagementClient, side)
    location = ctx.location(side)
    account = client.database_accounts.begin_create_or_update(
        ctx.resource_groups[side], name,
        DatabaseAccountCreateUpdateParameters(
            location=location, kind="GlobalDocumentDB",
            properties=DatabaseAccountCreateUpdateProperties(
                locations=[Location(location_name=location, failover_priority=0)],
            ),
        ),
        polling_interval=0.1,
    ).result()
    keys = client.database_accounts.list_keys(ctx.resource_groups[side], name)
    return account.document_endpoint, keys.primary_master_key


def data_client(ctx: SeedContext, endpoint: str, key: str) -> CosmosClient:
    # azure-cosmos skips TLS verification for 127.0.0.1 unless an SSLConfiguration names a CA.
    ssl = SSLConfiguration()
    ssl.SSLCaCerts = ctx.ca_bundle
    return CosmosClient(endpoint, credential=key, ssl_config=ssl)


def seed(ctx: SeedContext, spec: ResourceSpec) -> dict[str, int]:
    contents: CosmosContents = spec.contents
    create_account(ctx, "target", spec.target_name)
    endpoint, key = create_account(ctx, "source", spec.source_name)
    client = data_client(ctx, endpoint, key)
    counts = {"databases": 0, "cosmos_containers": 0, "documents": 0}
    for db_spec in contents.databases:
        database = client.create_database_if_not_exists(db_spec.name)
        counts["databases"] += 1
        for container_spec in db_spec.containers:
            container = database.create_container_if_not_exists(**_container_args(container_spec))
            counts["cosmos_containers"] += 1
            for index in range(container_spec.documents):
                container.upsert_item(_document(container_spec, index))
                counts["documents"] += 1
    return counts


def _container_args(spec: CosmosContainerSpec) -> dict[str, Any]:
    args: dict[str, Any] = {
        "id": spec.name,
        "partition_key": PartitionKey(path=spec.partition_key),
        "indexing_policy": {"indexingMode": "consistent", "automatic": True,
                            "includedPaths": [{"path": "/*"}],
                            "excludedPaths": [{"path": "/payload/*"}]},
    }
    if spec.default_ttl is not None:
        args["default_ttl"] = spec.default_ttl
    if spec.unique_keys:
        args["unique_key_policy"] = {"uniqueKeys": [{"paths": [p]} for p in spec.unique_keys]}
    return args


def _document(spec: CosmosContainerSpec, index: int) -> dict[str, Any]:
    key_field = spec.partition_key.strip("/").split("/")[0]
    doc: dict[str, Any] = {
        "id": f"{spec.name}-{index:05d}",
        key_field: f"pk-{index % 4}",
        "email": f"user{index}@sandbox.example",
        "title": f"Document {index} — naïve café",
        "amount": round(10.5 * index, 2),
        "tags": ["seed", spec.name],
        "payload": {"nested": {"level": 2, "values": list(range(index % 5))}},
    }
    return doc
