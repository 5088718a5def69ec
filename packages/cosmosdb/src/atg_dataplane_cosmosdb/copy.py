"""One item into the target: a database, a container (and its documents in replication
mode), or a script.

Items of one account run concurrently, so whatever an item needs above it (the database of
a container, the container of a script) it creates first if the target lacks it, with the
source's definition; each write is a create-or-update, so two items doing so at once agree.
"""

from __future__ import annotations

from typing import Any

from atg_dataplane import (
    Checkpoint,
    DataPlaneItem,
    Fingerprinter,
    ItemError,
    ItemOutcome,
    ReplicationMode,
    ResourceBinding,
)
from atg_dataplane.redact import describe_error
from azure.cosmos.exceptions import CosmosHttpResponseError

from atg_dataplane_cosmosdb import documents, structure
from atg_dataplane_cosmosdb.account import Account, account
from atg_dataplane_cosmosdb.kinds import CONTAINER, DATABASE
from atg_dataplane_cosmosdb.permissions import Options

_FROM_SOURCE = object()


def replicate(
    item: DataPlaneItem,
    source: ResourceBinding,
    target: ResourceBinding,
    mode: ReplicationMode,
    options: Options,
    fingerprinter: Fingerprinter,
    checkpoint: Checkpoint,
) -> ItemOutcome:
    src, tgt = account(source, options.use_keys), account(target, options.use_keys)
    if item.kind == DATABASE:
        return _outcome(_database(src, tgt, item.name, item.properties["throughput"]))
    if item.kind == CONTAINER:
        db, coll = item.name.split("/", 1)
        definition = {k: v for k, v in item.properties.items() if k in structure.CONTAINER_FIELDS}
        done = _container(src, tgt, db, coll, (definition, item.properties["throughput"]))
        if mode is ReplicationMode.TEMPLATE:
            return _outcome(done)
        return _copy_documents(src, tgt, db, coll, definition, done, fingerprinter, checkpoint)
    db, coll, name = item.name.split("/", 2)
    done = _container(src, tgt, db, coll)
    wanted = structure.read_script(src, db, coll, item.kind, name)
    if structure.write_script(tgt, db, coll, item.kind, wanted):
        done.append("written")
    return _outcome(done)


def _copy_documents(
    src: Account,
    tgt: Account,
    db: str,
    coll: str,
    definition: dict[str, Any],
    done: list[str],
    fingerprinter: Fingerprinter,
    checkpoint: Checkpoint,
) -> ItemOutcome:
    paths = (definition.get("partitionKey") or {}).get("paths") or ["/id"]
    try:
        counts = documents.copy(
            src.container(db, coll), tgt.container(db, coll), paths, fingerprinter, checkpoint
        )
    except CosmosHttpResponseError as exc:
        if exc.status_code in (401, 403):
            raise ItemError(
                f"the account refused the data-plane request: {describe_error(exc)}",
                remedy=DATA_ROLE_REMEDY,
            ) from None
        raise
    resumed = " (resumed from its checkpoint)" if counts.resumed else ""
    reason = f"{counts.read} documents read{resumed}, {counts.written} written"
    warnings = ()
    if "defaultTtl" in definition:
        warnings = (
            "TTL restarts with the copy: documents expire counted from the time they were "
            "copied (_ts is the copy's time, not the source's)",
        )
    changed = bool(done) or counts.written > 0
    return ItemOutcome(
        status="replicated" if changed else "unchanged",
        bytes_copied=counts.bytes_written,
        client_bytes=counts.bytes_read,
        reason=reason,
        warnings=warnings,
    )


DATA_ROLE_REMEDY = (
    "grant the principal a Cosmos DB data role on the account the message names (Cosmos DB "
    "Built-in Data Reader on the source, Data Contributor on the target): az cosmosdb sql "
    "role assignment create --account-name ACCOUNT --resource-group GROUP --scope / "
    "--principal-id OBJECT_ID --role-definition-name 'Cosmos DB Built-in Data Contributor' "
    "(or 'Cosmos DB Built-in Data Reader'); or set cosmosdb.use_keys = true to use the "
    "account keys"
)


# -- what an item needs above it ----------------------------------------------------------
def _database(src: Account, tgt: Account, db: str, wanted: Any = _FROM_SOURCE) -> list[str]:
    """Create the target database, or align its throughput, once per run: the database's
    own item and every item below it share one write (concurrent ARM writes of one
    resource conflict in Azure)."""

    def write() -> list[str]:
        throughput = structure.database_throughput(src, db) if wanted is _FROM_SOURCE else wanted
        return structure.write_database(tgt, db, throughput)

    return list(tgt.binding.once(f"cosmosdb.database:{db}", write))


def _container(
    src: Account, tgt: Account, db: str, coll: str, wanted: Any = _FROM_SOURCE
) -> list[str]:
    """Create the target container (and its database), or align what Azure can change, once
    per run; ``wanted`` is (definition, throughput), else read from the source."""

    def write() -> list[str]:
        done = [f"database {d}" for d in _database(src, tgt, db)]
        if wanted is _FROM_SOURCE:
            found = structure.container(src, db, coll)
            if found is None:
                raise ItemError(f"the source container {db}/{coll} is gone", remedy="run again")
            definition = structure.container_definition(found.resource)
            throughput = structure.container_throughput(src, db, coll)
        else:
            definition, throughput = wanted
        return done + structure.write_container(tgt, db, coll, definition, throughput)

    return list(tgt.binding.once(f"cosmosdb.container:{db}/{coll}", write))


def _outcome(done: list[str]) -> ItemOutcome:
    if not done:
        return ItemOutcome(status="unchanged")
    return ItemOutcome(status="replicated", reason="; ".join(done))


def fingerprint(
    item: DataPlaneItem, resource: ResourceBinding, mode: ReplicationMode, options: Options,
    fingerprinter: Fingerprinter,
) -> str | None:
    """A container's documents, as one keyed fingerprint (replication mode only)."""
    if item.kind != CONTAINER or mode is not ReplicationMode.REPLICATION:
        return None
    db, coll = item.name.split("/", 1)
    _, combined = documents.digest(account(resource, options.use_keys).container(db, coll),
                                   fingerprinter)
    return combined
