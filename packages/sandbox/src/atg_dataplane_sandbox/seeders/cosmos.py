"""Cosmos DB: accounts, databases and containers through ARM (names from the server pool),
as Terraform makes them; scripts and documents through azure-cosmos with the account key.

Each account's side gets its replicator a Cosmos DB data role (``sqlRoleAssignments``), as
a tenant set up for copying would: Data Reader on the source, Data Contributor on the
target. Documents go in as transactional batches per partition key.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from typing import Any

from azure.cosmos import CosmosClient
from azure.cosmos.documents import SSLConfiguration
from azure.mgmt.cosmosdb import CosmosDBManagementClient
from azure.mgmt.cosmosdb.models import (
    DatabaseAccountCreateUpdateParameters,
    DatabaseAccountCreateUpdateProperties,
    Location,
)

from atg_dataplane_sandbox.scenarios import CosmosContainerSpec, CosmosContents, ResourceSpec
from atg_dataplane_sandbox.seeders.context import SeedContext

POLL = {"polling_interval": 0.05}
DATA_READER = "00000000-0000-0000-0000-000000000001"
DATA_CONTRIBUTOR = "00000000-0000-0000-0000-000000000002"
ODD_IDS = (
    "naïve café ü",
    "名前-データ",
    "emoji 😀 id",
    "[brackets] {braces} %percent% $dollar",
    "quote ' and \" double",
    "rtl \u202e mark",
)
"""Ids with characters a copy must keep (all but ``/ \\ ? #`` are legal)."""
LARGE_BYTES = 1_900_000


def create_account(ctx: SeedContext, side: str, name: str) -> tuple[str, str]:
    """Create the account through ARM, with the side's replicator holding its data role;
    return its document endpoint and primary key."""
    client = ctx.mgmt(CosmosDBManagementClient, side)
    location = ctx.location(side)
    group = ctx.resource_groups[side]
    account = client.database_accounts.begin_create_or_update(
        group, name,
        DatabaseAccountCreateUpdateParameters(
            location=location, kind="GlobalDocumentDB",
            properties=DatabaseAccountCreateUpdateProperties(
                locations=[Location(location_name=location, failover_priority=0)],
            ),
        ),
        **POLL,
    ).result()
    role = DATA_READER if side == "source" else DATA_CONTRIBUTOR
    replicator = ctx.topology.principal(side, "replicator").object_id
    # A stable name: seeding again assigns the same role once.
    assignment = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{account.id}/{role}/{replicator}"))
    client.sql_resources.begin_create_update_sql_role_assignment(
        assignment, group, name,
        {"properties": {"roleDefinitionId": f"{account.id}/sqlRoleDefinitions/{role}",
                        "scope": account.id, "principalId": replicator}},
        **POLL,
    ).result()
    keys = client.database_accounts.list_keys(group, name)
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
    arm = ctx.mgmt(CosmosDBManagementClient, "source").sql_resources
    group, account = ctx.resource_groups["source"], spec.source_name
    client = data_client(ctx, endpoint, key)
    counts = {"databases": 0, "cosmos_containers": 0, "documents": 0, "cosmos_scripts": 0}
    for db_spec in contents.databases:
        options = {"throughput": db_spec.throughput} if db_spec.throughput else {}
        arm.begin_create_update_sql_database(
            group, account, db_spec.name,
            {"properties": {"resource": {"id": db_spec.name}, "options": options}}, **POLL,
        ).result()
        counts["databases"] += 1
        for container_spec in db_spec.containers:
            arm.begin_create_update_sql_container(
                group, account, db_spec.name, container_spec.name,
                {"properties": {"resource": _container_resource(container_spec),
                                "options": _throughput(container_spec.throughput)}},
                **POLL,
            ).result()
            counts["cosmos_containers"] += 1
            container = client.get_database_client(db_spec.name).get_container_client(
                container_spec.name)
            if container_spec.scripts:
                counts["cosmos_scripts"] += _scripts(container)
            counts["documents"] += _documents(container, container_spec)
    return counts


def _paths(spec: CosmosContainerSpec) -> list[str]:
    key = spec.partition_key
    return list(key) if isinstance(key, list) else [key]


def _container_resource(spec: CosmosContainerSpec) -> dict[str, Any]:
    paths = _paths(spec)
    resource: dict[str, Any] = {"id": spec.name, "partitionKey": (
        {"paths": paths, "kind": "MultiHash", "version": 2} if len(paths) > 1
        else {"paths": paths, "kind": "Hash"})}
    if spec.custom_indexing:
        resource["indexingPolicy"] = {
            "indexingMode": "consistent", "automatic": True,
            "includedPaths": [{"path": "/*"}],
            "excludedPaths": [{"path": "/payload/*"}, {"path": '/"_etag"/?'}],
            "compositeIndexes": [[{"path": "/title", "order": "ascending"},
                                  {"path": "/amount", "order": "descending"}]],
        }
    if spec.default_ttl is not None:
        resource["defaultTtl"] = spec.default_ttl
    if spec.unique_keys:
        resource["uniqueKeyPolicy"] = {"uniqueKeys": [{"paths": [p]} for p in spec.unique_keys]}
    return resource


def _throughput(value: int | None) -> dict[str, Any]:
    if not value:
        return {}
    if value < 0:
        return {"autoscaleSettings": {"maxThroughput": -value}}
    return {"throughput": value}


def _scripts(container: Any) -> int:
    scripts = container.scripts
    existing = {s["id"] for s in scripts.list_stored_procedures()}
    if "bulkImport" not in existing:
        scripts.create_stored_procedure({
            "id": "bulkImport",
            "body": "function bulkImport(docs) {\n  var c = getContext().getCollection();\n"
                    "  docs.forEach(function (d) { c.createDocument(c.getSelfLink(), d); });\n}",
        })
    if "stampCreated" not in {t["id"] for t in scripts.list_triggers()}:
        scripts.create_trigger({
            "id": "stampCreated", "triggerType": "Pre", "triggerOperation": "Create",
            "body": "function stampCreated() {\n  var r = getContext().getRequest();\n"
                    "  var d = r.getBody(); d.created = Date.now(); r.setBody(d);\n}",
        })
    if "taxOf" not in {u["id"] for u in scripts.list_user_defined_functions()}:
        scripts.create_user_defined_function({
            "id": "taxOf", "body": "function taxOf(amount) { return amount * 0.2; }"})
    return 3


def _documents(container: Any, spec: CosmosContainerSpec) -> int:
    paths = _paths(spec)
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    total = spec.documents + spec.large_documents
    for index in range(total):
        document = _document(spec, paths, index)
        if index >= spec.documents:
            document["payload"] = {"blob": "x" * LARGE_BYTES}
        value = [document[p.strip("/")] for p in paths]
        groups[json.dumps(value)].append(document)
    for key, documents in groups.items():
        value = json.loads(key)
        partition = value if len(value) > 1 else value[0]
        chunk: list[dict[str, Any]] = []
        for document in documents:
            if chunk and (len(chunk) >= 100 or "blob" in document.get("payload", {})):
                container.execute_item_batch([("upsert", (d,)) for d in chunk], partition)
                chunk = []
            chunk.append(document)
        if chunk:
            container.execute_item_batch([("upsert", (d,)) for d in chunk], partition)
    return total


def _document(spec: CosmosContainerSpec, paths: list[str], index: int) -> dict[str, Any]:
    doc_id = f"{spec.name}-{index:05d}"
    if spec.odd_ids and index < len(ODD_IDS):
        doc_id = f"{ODD_IDS[index]} {index}"
    doc: dict[str, Any] = {
        "id": doc_id,
        "email": f"user{index}@sandbox.example",
        "title": f"Document {index} — naïve café",
        "amount": round(10.5 * index, 2),
        "tags": ["seed", spec.name],
        "payload": {"nested": {"level": 2, "values": list(range(index % 5))}},
    }
    for depth, path in enumerate(paths):
        doc[path.strip("/")] = f"{path.strip('/')}-{(index >> depth) % 4}"
    return doc
