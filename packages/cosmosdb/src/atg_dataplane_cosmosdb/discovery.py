"""What an account holds, as items: databases, containers (with their documents in
replication mode), stored procedures, triggers and user-defined functions.

Names are paths (``db``, ``db/container``, ``db/container/script``): Cosmos DB ids cannot
contain ``/``. Properties hold what verification compares: a container's definition and
throughput, its document count in replication mode, a script's keyed body fingerprint.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
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
Sizes = dict[str, dict[str, int | None]]
"""Database -> container -> its document count (None: the data plane refused)."""


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
    sizes: Future[Sizes] | None = None
    if mode is ReplicationMode.REPLICATION:
        # Counted while the databases are listed and written: the longest copies go first.
        sizes = _sizes_in_background(acc, [db.name for db in databases])

    def shared(db: Any) -> DataPlaneItem:
        props = {"throughput": structure.database_throughput(acc, db.name)}
        return _item(binding, DATABASE, db.name, props)

    yield from read_ahead(shared, databases, WORKERS)
    counts = sizes.result() if sizes is not None else {}
    # A container copied alone at the end of the run is the run's tail: the containers that
    # hold the most documents (and their databases) are listed first, so that their copies
    # run alongside the many short ones (the benchmark's 183,000-document container at 100x
    # was listed last, after 1,700 others, and finished 48 s after the rest).
    databases.sort(key=lambda db: -max((n or 0 for n in counts.get(db.name, {}).values()),
                                       default=0))

    def inside(db: Any) -> list[DataPlaneItem]:
        return list(_inside(acc, db.name, mode, fingerprinter, counts.get(db.name, {})))

    for items in read_ahead(inside, databases, WORKERS):
        yield from items


def _sizes_in_background(acc: Account, databases: list[str]) -> Future[Sizes]:
    """Each database's containers with their document counts, listed on a thread of its
    own (its answer is a name and a number per container, not the containers' items)."""

    def sizes() -> Sizes:
        def of(db: str) -> dict[str, int | None]:
            return {c.name: _count(acc, db, c.name)
                    for c in acc.sql.list_sql_containers(acc.group, acc.name, db)}

        return dict(zip(databases, read_ahead(of, databases, WORKERS), strict=True))

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="atg-cosmos-sizes")
    try:
        return pool.submit(contextvars.copy_context().run, sizes)
    finally:
        pool.shutdown(wait=False)


def _inside(
    acc: Account,
    db: str,
    mode: ReplicationMode,
    fingerprinter: Fingerprinter,
    counted: dict[str, int | None],
) -> Iterator[DataPlaneItem]:
    binding = acc.binding
    containers = acc.sql.list_sql_containers(acc.group, acc.name, db)
    for found in sorted(containers, key=lambda c: (-(counted.get(c.name) or 0), c.name)):
        name = f"{db}/{found.name}"
        props: dict[str, Any] = {
            **structure.container_definition(found.resource),
            "throughput": structure.container_throughput(acc, db, found.name),
        }
        if mode is ReplicationMode.REPLICATION:
            props["documents"] = (counted[found.name] if found.name in counted
                                  else _count(acc, db, found.name))
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
