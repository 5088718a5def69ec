"""Cosmos DB (NoSQL): databases, containers, scripts and every document.

The baseline is what users script today with the SDKs (or dmt, which does the documents
part): for each database and container, create it in the target through ARM, then its
scripts, then read the source's documents and upsert them one at a time, sequentially.
The ceiling creates the same structure (untimed discovery, timed writes) and then upserts
every document on its own, all concurrently: the least work any tool must do. Both use the
same SDKs and credentials as ``atg-dataplane-cosmosdb``.

Cosmos DB accounts are a fixed pool in the sandbox: a "fresh" target is the same account
emptied of its databases.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import certifi
from atg_dataplane import read_ahead
from azure.cosmos import CosmosClient
from azure.cosmos.documents import SSLConfiguration
from azure.mgmt.cosmosdb import CosmosDBManagementClient

from adapters import Task, arm_client, where

RESOURCE_TYPE = "Microsoft.DocumentDB/databaseAccounts"
SYSTEM = frozenset(("_rid", "_etag", "_ts", "_self", "_attachments", "_lsn"))
SCRIPTS = {
    "storedProcedure": "stored_procedure",
    "trigger": "trigger",
    "userDefinedFunction": "user_defined_function",
}
FIELDS = ("partitionKey", "indexingPolicy", "uniqueKeyPolicy", "defaultTtl",
          "analyticalStorageTtl", "conflictResolutionPolicy", "computedProperties")


class _Account:
    def __init__(self, resource: Any, side: Any, pool: int | None = None) -> None:
        self.group, self.name = where(resource)
        self.arm = arm_client(CosmosDBManagementClient, resource, side, pool)
        ssl = SSLConfiguration()
        ssl.SSLCaCerts = side.ca_bundle if isinstance(side.ca_bundle, str) else certifi.where()
        kwargs = side.kwargs(pool)
        kwargs.pop("connection_verify", None)
        self.data = CosmosClient(str(resource.properties["documentEndpoint"]),
                                 credential=side.credential, ssl_config=ssl, **kwargs)
        self.sql = self.arm.sql_resources

    def container(self, db: str, coll: str) -> Any:
        return self.data.get_database_client(db).get_container_client(coll)


def _plain(model: Any) -> dict[str, Any]:
    return dict(model.serialize() if hasattr(model, "serialize") else model.as_dict())


def _options(options: Any) -> dict[str, Any]:
    if options is None:
        return {}
    autoscale = getattr(options, "autoscale_settings", None)
    if autoscale is not None and autoscale.max_throughput:
        return {"autoscaleSettings": {"maxThroughput": autoscale.max_throughput}}
    return {"throughput": options.throughput} if options.throughput else {}


def _structure(src: _Account, each: Callable[..., Iterable[Any]] = map) -> list[dict[str, Any]]:
    """Databases, their containers (definition, options) and scripts, from ARM; ``each`` maps
    over the databases (the builtin: one at a time, as the baseline reads)."""

    def of(db: Any) -> dict[str, Any]:
        containers = []
        for c in src.sql.list_sql_containers(src.group, src.name, db.name):
            raw = _plain(c.resource)
            scripts = []
            for kind, op in SCRIPTS.items():
                for s in getattr(src.sql, f"list_sql_{op}s")(src.group, src.name, db.name, c.name):
                    body = _plain(s.resource)
                    keep = ("id", "body", "triggerType", "triggerOperation")
                    scripts.append((kind, {k: body[k] for k in keep if k in body}))
            containers.append({
                "name": c.name, "options": _options(c.options), "scripts": scripts,
                "resource": {"id": c.name, **{k: raw[k] for k in FIELDS if raw.get(k)}},
            })
        return {"name": db.name, "options": _options(db.options), "containers": containers}

    return list(each(of, src.sql.list_sql_databases(src.group, src.name)))


def _create_database(tgt: _Account, db: dict[str, Any]) -> int:
    body = {"properties": {"resource": {"id": db["name"]}, "options": db["options"]}}
    tgt.sql.begin_create_update_sql_database(tgt.group, tgt.name, db["name"], body).result()
    return 0


def _create_container(tgt: _Account, db: str, c: dict[str, Any]) -> int:
    body = {"properties": {"resource": c["resource"], "options": c["options"]}}
    tgt.sql.begin_create_update_sql_container(tgt.group, tgt.name, db, c["name"], body).result()
    return 0


def _create_script(tgt: _Account, db: str, coll: str, kind: str, body: dict[str, Any]) -> int:
    create = getattr(tgt.sql, f"begin_create_update_sql_{SCRIPTS[kind]}")
    params = {"properties": {"resource": body, "options": {}}}
    create(tgt.group, tgt.name, db, coll, body["id"], params).result()
    return 0


def _clean(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in SYSTEM}


def _size(document: dict[str, Any]) -> int:
    return len(json.dumps(document, separators=(",", ":")).encode())


class CosmosAdapter:
    resource_type = RESOURCE_TYPE
    kinds = ("database", "container", *SCRIPTS)
    server_side_kinds: tuple[str, ...] = ()

    def baseline(self, pair: Any, source: Any, target: Any, tally: Any) -> None:
        src, tgt = _Account(pair.source, source), _Account(pair.target, target)
        for db in _structure(src):
            tally.add("database", _create_database(tgt, db))
            for c in db["containers"]:
                _create_container(tgt, db["name"], c)
                for kind, body in c["scripts"]:
                    tally.add(kind, _create_script(tgt, db["name"], c["name"], kind, body))
                into = tgt.container(db["name"], c["name"])
                payload = 0
                for document in src.container(db["name"], c["name"]).read_all_items():
                    document = _clean(document)
                    into.upsert_item(document)
                    payload += _size(document)
                tally.add("container", payload)

    def plan(self, pair: Any, source: Any, target: Any, pool: int) -> list[Task]:
        src, tgt = _Account(pair.source, source, pool), _Account(pair.target, target, pool)

        def of(db: dict[str, Any]) -> list[Task]:
            name = db["name"]
            tasks = [Task("database", name, lambda d=db: _create_database(tgt, d), -2)]
            for c in db["containers"]:
                coll = c["name"]
                tasks.append(Task("container", f"{name}/{coll}",
                                  lambda d=name, x=c: _create_container(tgt, d, x), -1))
                for kind, body in c["scripts"]:
                    tasks.append(Task(kind, f"{name}/{coll}/{body['id']}",
                                      lambda d=name, k=coll, t=kind, b=body:
                                      _create_script(tgt, d, k, t, b)))
                into = tgt.container(name, coll)
                # Read as ours reads (a query, by pages of 500): at 100x the sandbox's
                # Cosmos DB server left the read feed of the 183,000-document container
                # unanswered (connection timeouts), which ended the ceiling in its plan.
                pages = src.container(name, coll).query_items(
                    "SELECT * FROM c", enable_cross_partition_query=True, max_item_count=500)
                for document in pages:
                    document = _clean(document)
                    tasks.append(Task("document", document["id"],
                                      lambda into=into, doc=document: _upsert(into, doc),
                                      counted=False))
            return tasks

        # Not timed, but read one database at a time the ceiling's plan at 100x outlasted
        # its timed writes: the databases are read on the pool's threads, in their order.
        def each(fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterable[Any]:
            return read_ahead(fn, items, pool)

        return [t for part in each(of, _structure(src, each)) for t in part]

    # -- sandbox targets ------------------------------------------------------
    def fresh_targets(self, sandbox_dir: str, names: list[str], tag: str) -> dict[str, str]:
        self.drop_targets(sandbox_dir, names)
        return {name: name for name in names}

    def drop_targets(self, sandbox_dir: str, names: list[str]) -> None:
        from atg_dataplane_sandbox.seed import context

        ctx = context(sandbox_dir)
        sql = ctx.mgmt(CosmosDBManagementClient, "target").sql_resources
        group = ctx.resource_groups["target"]
        for name in names:
            for db in list(sql.list_sql_databases(group, name)):
                sql.begin_delete_sql_database(group, name, db.name, polling_interval=0.05).result()


def _upsert(container: Any, document: dict[str, Any]) -> int:
    container.upsert_item(document)
    return _size(document)


ADAPTER = CosmosAdapter()
