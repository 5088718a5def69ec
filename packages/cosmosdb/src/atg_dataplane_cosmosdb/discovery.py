"""What an account holds, as items: databases, containers (with their documents in
replication mode), stored procedures, triggers and user-defined functions.

Names are paths (``db``, ``db/container``, ``db/container/script``): Cosmos DB ids cannot
contain ``/``. Properties hold what verification compares: a container's definition and
throughput, its document count in replication mode, a script's keyed body fingerprint.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from atg_dataplane import DataPlaneItem, Fingerprinter, ReplicationMode, ResourceBinding, read_ahead
from azure.cosmos.exceptions import CosmosHttpResponseError

from atg_dataplane_cosmosdb import documents, structure
from atg_dataplane_cosmosdb.account import Account, account

DATABASE = "database"
CONTAINER = "container"
SCRIPTS = tuple(structure.SCRIPT_KINDS)
KINDS = (DATABASE, CONTAINER, *SCRIPTS)
WORKERS = 8
"""Databases listed at once (their containers and each container's scripts)."""


@dataclass(frozen=True)
class Options:
    use_keys: bool = False

    @classmethod
    def of(cls, options: Any) -> Options:
        return cls(use_keys=bool((options or {}).get("cosmosdb.use_keys", False)))


def discover(
    binding: ResourceBinding,
    mode: ReplicationMode,
    options: Options,
    fingerprinter: Fingerprinter,
) -> Iterator[DataPlaneItem]:
    acc = account(binding, options.use_keys)
    databases = sorted(acc.sql.list_sql_databases(acc.group, acc.name), key=lambda d: d.name)

    def shared(db: Any) -> DataPlaneItem:
        props = {"throughput": structure.database_throughput(acc, db.name)}
        return _item(binding, DATABASE, db.name, props)

    yield from read_ahead(shared, databases, WORKERS)

    def inside(db: Any) -> list[DataPlaneItem]:
        return list(_inside(acc, db.name, mode, fingerprinter))

    for items in read_ahead(inside, databases, WORKERS):
        yield from items


def _inside(
    acc: Account, db: str, mode: ReplicationMode, fingerprinter: Fingerprinter
) -> Iterator[DataPlaneItem]:
    binding = acc.binding
    containers = acc.sql.list_sql_containers(acc.group, acc.name, db)
    for found in sorted(containers, key=lambda c: c.name):
        name = f"{db}/{found.name}"
        props: dict[str, Any] = {
            **structure.container_definition(found.resource),
            "throughput": structure.container_throughput(acc, db, found.name),
        }
        if mode is ReplicationMode.REPLICATION:
            props["documents"] = _count(acc, db, found.name)
        yield _item(binding, CONTAINER, name, props)
        for kind in SCRIPTS:
            for script in sorted(structure.scripts(acc, db, found.name, kind), key=lambda s: s.id):
                definition = structure.script_definition(script)
                props = {k: v for k, v in definition.items() if k not in ("id", "body")}
                props["body"] = fingerprinter.of(definition.get("body") or "")
                yield _item(binding, kind, f"{name}/{script.id}", props)


def _count(acc: Account, db: str, coll: str) -> int | None:
    """The container's document count; None when the data plane refuses (no data role: the
    container's copy then fails with the remedy) or the container went away meanwhile."""
    try:
        return documents.count(acc.container(db, coll))
    except CosmosHttpResponseError as exc:
        if exc.status_code in (401, 403, 404):
            return None
        raise


def _item(binding: ResourceBinding, kind: str, name: str, props: dict[str, Any]) -> DataPlaneItem:
    return DataPlaneItem(
        name=name, kind=kind, source_resource_id=binding.resource.id, properties=props
    )
