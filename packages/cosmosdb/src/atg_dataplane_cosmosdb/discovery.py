"""What an account holds, as items: databases, containers (with their documents in
replication mode), stored procedures, triggers and user-defined functions.

Names are paths (``db``, ``db/container``, ``db/container/script``): Cosmos DB ids cannot
contain ``/``. Properties hold what verification compares: a container's definition and
throughput, its document count in replication mode, a script's keyed body fingerprint.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from typing import Any

from atg_dataplane import DataPlaneItem, Fingerprinter, ReplicationMode, ResourceBinding, read_ahead
from atg_dataplane.retry import RunStopping, is_transient
from azure.cosmos.exceptions import CosmosHttpResponseError

from atg_dataplane_cosmosdb import documents, structure
from atg_dataplane_cosmosdb.account import Account, account
from atg_dataplane_cosmosdb.kinds import CONTAINER, DATABASE, SCRIPTS
from atg_dataplane_cosmosdb.permissions import Options

WORKERS = 8
"""Databases listed at once (their containers and each container's scripts)."""
Sizes = dict[str, list[tuple[Any, int | None]]]
"""Database -> its containers as listed, each with its document count (None: the data plane
refused)."""
COUNT_ATTEMPTS = 3
"""Tries of a container's document count that fails transiently before it is left unknown."""
COUNT_RETRY_SECONDS = 0.25
STOP_POLL_SECONDS = 0.2
"""How often discovery, waiting for the counts, looks for a stop."""


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

    counts: Sizes = {}
    if mode is not ReplicationMode.REPLICATION:
        yield from read_ahead(shared, databases, WORKERS)
    else:
        # Counted on a thread of their own while the database items are listed.
        sizes = _Sizes(acc, [db.name for db in databases])
        try:
            yield from read_ahead(shared, databases, WORKERS)
            counts = sizes.result(binding.context.stop)
        finally:
            sizes.cancel()  # when nothing waits for it any more (a stop, an error)
    # A container copied alone at the end of the run is the run's tail: the containers that
    # hold the most documents (and their databases) are listed first, so that their copies
    # run alongside the many short ones (the benchmark's 183,000-document container at 100x
    # was listed last, after 1,700 others, and finished 48 s after the rest).
    databases.sort(key=lambda db: -max((n or 0 for _, n in counts.get(db.name, [])), default=0))

    def inside(db: Any) -> list[DataPlaneItem]:
        return list(_inside(acc, db.name, mode, fingerprinter, counts.get(db.name)))

    for items in read_ahead(inside, databases, WORKERS):
        yield from items


class _Sizes:
    """Each database's containers with their document counts (the containers' listings,
    not their items), counted on a thread of its own."""

    def __init__(self, acc: Account, databases: list[str]) -> None:
        self._cancelled = threading.Event()
        self._done = threading.Event()
        self._value: Sizes = {}
        self._error: BaseException | None = None
        # A daemon thread: a run that gives up at a second Ctrl-C does not wait for it.
        threading.Thread(target=contextvars.copy_context().run, args=(self._count, acc, databases),
                         name="atg-cosmos-sizes", daemon=True).start()

    def _count(self, acc: Account, databases: list[str]) -> None:
        def of(db: str) -> list[tuple[Any, int | None]]:
            if self._cancelled.is_set():
                raise RunStopping("discovery ended")
            # Kept with its count: the database's items are read from this listing, not
            # from a second one (one more management call per database).
            return [(c, _count(acc, db, c.name))
                    for c in acc.sql.list_sql_containers(acc.group, acc.name, db)]

        try:
            self._value = dict(zip(databases, read_ahead(of, databases, WORKERS), strict=True))
        except BaseException as exc:  # raised where the counts are asked for
            self._error = exc
        finally:
            self._done.set()

    def result(self, stop: threading.Event) -> Sizes:
        """The counts, once all are in; RunStopping if the run stops first."""
        while not self._done.wait(STOP_POLL_SECONDS):
            if stop.is_set():
                raise RunStopping("the run is stopping")
        if self._error is not None:
            raise self._error
        return self._value

    def cancel(self) -> None:
        self._cancelled.set()


def _inside(
    acc: Account,
    db: str,
    mode: ReplicationMode,
    fingerprinter: Fingerprinter,
    counted: list[tuple[Any, int | None]] | None,
) -> Iterator[DataPlaneItem]:
    """The database's containers and scripts; ``counted`` is its containers' listing with
    their counts (replication), or None (template mode: no counts, listed here)."""
    binding = acc.binding
    if counted is None:
        counted = [(c, None) for c in acc.sql.list_sql_containers(acc.group, acc.name, db)]
    for found, documents_in in sorted(counted, key=lambda c: (-(c[1] or 0), c[0].name)):
        name = f"{db}/{found.name}"
        props: dict[str, Any] = {
            **structure.container_definition(found.resource),
            "throughput": structure.container_throughput(acc, db, found.name),
        }
        if mode is ReplicationMode.REPLICATION:
            props["documents"] = documents_in
        yield _item(binding, CONTAINER, name, props)
        for kind in SCRIPTS:
            for script in sorted(structure.scripts(acc, db, found.name, kind), key=lambda s: s.id):
                definition = structure.script_definition(script)
                props = {k: v for k, v in definition.items() if k not in ("id", "body")}
                props["body"] = fingerprinter.of(definition.get("body") or "")
                yield _item(binding, kind, f"{name}/{script.id}", props)


def _count(acc: Account, db: str, coll: str) -> int | None:
    """The container's document count; None when the data plane refuses (no data role: the
    container's copy then fails with the remedy), the container went away meanwhile, or the
    count kept failing transiently.

    The count only orders the copies and is compared by verify; the copy reads every
    document whatever it says. So a count that fails like a broken connection is tried
    again, then left unknown, instead of ending the account's whole discovery (a chain of
    hundreds of requests, of which the first failure would end the attempt).
    """
    for attempt in range(1, COUNT_ATTEMPTS + 1):
        try:
            return documents.count(acc.container(db, coll))
        except CosmosHttpResponseError as exc:
            if exc.status_code in (401, 403, 404):
                return None
            if not is_transient(exc):
                raise
        except Exception as exc:
            if not is_transient(exc):
                raise
        acc.binding.context.pause(COUNT_RETRY_SECONDS * attempt)
    return None


def _item(binding: ResourceBinding, kind: str, name: str, props: dict[str, Any]) -> DataPlaneItem:
    return DataPlaneItem(
        name=name, kind=kind, source_resource_id=binding.resource.id, properties=props
    )
