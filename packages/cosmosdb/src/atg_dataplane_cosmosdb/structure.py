"""Databases, containers, throughput and scripts: read from ARM, compared, written to ARM.

What Azure cannot change after creation (a container's partition key and unique keys) is
compared and, when the target differs, reported with the remedy: never silently used.
Throughput is carried as it is set on the source: manual or autoscale, shared by a database
or dedicated to a container.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from atg_dataplane import ItemError
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from atg_dataplane_cosmosdb.account import Account
from atg_dataplane_cosmosdb.kinds import SCRIPT_KINDS

FIXED = ("partitionKey", "uniqueKeyPolicy")
"""Container properties Azure cannot change once the container exists."""
CONTAINER_FIELDS = (
    "partitionKey",
    "indexingPolicy",
    "uniqueKeyPolicy",
    "defaultTtl",
    "analyticalStorageTtl",
    "conflictResolutionPolicy",
    "computedProperties",
    "clientEncryptionPolicy",
    "vectorEmbeddingPolicy",
    "fullTextPolicy",
)


def throughput(settings: Any) -> dict[str, int] | None:
    """``{"manual": RU/s}`` or ``{"autoscale": max RU/s}`` from a throughput settings
    resource (or ARM ``options``); None when there is none."""
    if settings is None:
        return None
    autoscale = getattr(settings, "autoscale_settings", None)
    if autoscale is not None and autoscale.max_throughput:
        return {"autoscale": int(autoscale.max_throughput)}
    if getattr(settings, "throughput", None):
        return {"manual": int(settings.throughput)}
    return None


def database_throughput(acc: Account, db: str) -> dict[str, int] | None:
    """The database's shared throughput, from its ``throughputSettings/default`` (ARM's GET
    of a database does not carry it); None when it has none (404), or on a serverless
    account (400)."""
    return _read_throughput(lambda: acc.sql.get_sql_database_throughput(acc.group, acc.name, db))


def container_throughput(acc: Account, db: str, coll: str) -> dict[str, int] | None:
    """The container's dedicated throughput (None: none of its own, or serverless)."""
    return _read_throughput(
        lambda: acc.sql.get_sql_container_throughput(acc.group, acc.name, db, coll))


def _read_throughput(read: Any) -> dict[str, int] | None:
    try:
        found = read()
    except ResourceNotFoundError:
        return None
    except HttpResponseError as exc:
        if exc.status_code == 400:  # serverless: no throughput to read or set
            return None
        raise
    return throughput(found.resource)


def _options(value: Mapping[str, int] | None) -> dict[str, Any]:
    if not value:
        return {}
    if "autoscale" in value:
        return {"autoscaleSettings": {"maxThroughput": value["autoscale"]}}
    return {"throughput": value["manual"]}


def plain(model: Any) -> dict[str, Any]:
    """An azure-mgmt-cosmosdb model as plain JSON with ARM's (camelCase) names, whichever
    model style the installed SDK generates (``serialize`` before 10.0, ``as_dict`` since)."""
    if hasattr(model, "serialize"):
        return dict(model.serialize())
    if hasattr(model, "as_dict"):
        return dict(model.as_dict())
    return dict(model)


def container_definition(resource: Any) -> dict[str, Any]:
    """The container's properties as ARM takes them (camelCase), without system fields."""
    raw = plain(resource)
    return {k: raw[k] for k in CONTAINER_FIELDS if raw.get(k) is not None}


# -- databases ----------------------------------------------------------------------------
def database(acc: Account, name: str) -> Any | None:
    try:
        return acc.sql.get_sql_database(acc.group, acc.name, name)
    except ResourceNotFoundError:
        return None


def write_database(acc: Account, name: str, wanted: Mapping[str, int] | None) -> list[str]:
    """Create the database, or bring its shared throughput in line; return what was done
    (empty: nothing to do). Raises ItemError when Azure cannot make it match."""
    found = database(acc, name)
    if found is None:
        body = {"properties": {"resource": {"id": name}, "options": _options(wanted)}}
        acc.sql.begin_create_update_sql_database(acc.group, acc.name, name, body).result()
        return ["created"]
    return _match_throughput(
        acc, f"database {name}", database_throughput(acc, name), wanted,
        lambda body: acc.sql.begin_update_sql_database_throughput(
            acc.group, acc.name, name, body).result(),
    )


def _match_throughput(
    acc: Account, what: str, found: Mapping[str, int] | None,
    wanted: Mapping[str, int] | None, update: Any,
) -> list[str]:
    if found == wanted or wanted is None:
        # A target with throughput the source lacks costs more, but holds the same data.
        return []
    if found is None:
        raise ItemError(
            f"the target {what} has no throughput of its own, the source has "
            f"{_describe(wanted)}: Azure cannot add it to an existing one",
            remedy="delete it in the target (or create it with the same throughput) and run "
            "again",
        )
    if set(found) != set(wanted):
        raise ItemError(
            f"the target {what} has {_describe(found)}, the source {_describe(wanted)}: "
            "switching between manual and autoscale is a migration",
            remedy="migrate it in the target (az cosmosdb sql database|container throughput "
            "migrate --throughput-type autoscale|manual) and run again",
        )
    update({"properties": {"resource": _options(wanted)}})
    return [f"throughput {_describe(found)} -> {_describe(wanted)}"]


def _describe(value: Mapping[str, int]) -> str:
    kind, amount = next(iter(value.items()))
    return f"{kind} {amount} RU/s"


# -- containers ---------------------------------------------------------------------------
def container(acc: Account, db: str, name: str) -> Any | None:
    try:
        return acc.sql.get_sql_container(acc.group, acc.name, db, name)
    except ResourceNotFoundError:
        return None


def write_container(
    acc: Account,
    db: str,
    name: str,
    definition: Mapping[str, Any],
    wanted: Mapping[str, int] | None,
) -> list[str]:
    """Create the container, or bring what Azure can change in line; return what was done.
    Raises ItemError when its partition key or unique keys differ."""
    found = container(acc, db, name)
    resource = {"id": name, **definition}
    if found is None:
        body = {"properties": {"resource": resource, "options": _options(wanted)}}
        acc.sql.begin_create_update_sql_container(acc.group, acc.name, db, name, body).result()
        return ["created"]
    current = container_definition(found.resource)
    for field in FIXED:
        if current.get(field) != definition.get(field):
            raise ItemError(
                f"the target container {db}/{name} has another {field} than the source "
                f"({_short(current.get(field))} instead of {_short(definition.get(field))}); "
                "Azure cannot change it on an existing container",
                remedy="delete the target container and run again (the copy creates it "
                "with the source's definition)",
            )
    done = []
    changed = [k for k in CONTAINER_FIELDS if current.get(k) != definition.get(k)]
    if changed:
        body = {"properties": {"resource": resource, "options": {}}}
        acc.sql.begin_create_update_sql_container(acc.group, acc.name, db, name, body).result()
        done.append("updated " + ", ".join(changed))
    return done + _match_throughput(
        acc, f"container {db}/{name}", container_throughput(acc, db, name), wanted,
        lambda body: acc.sql.begin_update_sql_container_throughput(
            acc.group, acc.name, db, name, body).result(),
    )


def _short(value: Any) -> str:
    if isinstance(value, Mapping) and "paths" in value:
        return ", ".join(str(p) for p in value["paths"])
    if isinstance(value, Mapping) and "uniqueKeys" in value:
        return "; ".join(",".join(k.get("paths") or []) for k in value["uniqueKeys"]) or "none"
    return "none" if value is None else str(value)


# -- scripts ------------------------------------------------------------------------------
def scripts(acc: Account, db: str, coll: str, kind: str) -> list[Any]:
    lister = getattr(acc.sql, f"list_sql_{SCRIPT_KINDS[kind]}s")
    return [s.resource for s in lister(acc.group, acc.name, db, coll)]


def script_definition(resource: Any) -> dict[str, Any]:
    raw = plain(resource)
    return {k: raw[k] for k in ("id", "body", "triggerType", "triggerOperation") if k in raw}


def read_script(acc: Account, db: str, coll: str, kind: str, name: str) -> dict[str, Any]:
    getter = getattr(acc.sql, f"get_sql_{SCRIPT_KINDS[kind]}")
    return script_definition(getter(acc.group, acc.name, db, coll, name).resource)


def write_script(
    acc: Account, db: str, coll: str, kind: str, definition: Mapping[str, Any]
) -> bool:
    """Create or replace one script; False when the target already holds the same."""
    try:
        current = read_script(acc, db, coll, kind, str(definition["id"]))
    except ResourceNotFoundError:
        current = None
    if current == dict(definition):
        return False
    writer = getattr(acc.sql, f"begin_create_update_sql_{SCRIPT_KINDS[kind]}")
    body = {"properties": {"resource": dict(definition), "options": {}}}
    writer(acc.group, acc.name, db, coll, definition["id"], body).result()
    return True
