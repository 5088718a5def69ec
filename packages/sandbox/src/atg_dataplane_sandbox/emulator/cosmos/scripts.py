"""Stored procedures and triggers of Cosmos DB containers, kept by the emulator: the Cosmos DB
server has user-defined functions only.

Served on the data plane by each account's proxy (``/dbs/{db}/colls/{c}/sprocs|triggers``:
read, list, query all, create, upsert, replace, delete; executing a stored procedure is not
emulated) and through ARM (``storedProcedures``, ``triggers``), both over the same store
section, so either side sees what the other wrote. Bodies are shaped as Cosmos DB answers
(``_rid``, ``_self``, ``_etag``, ``_ts``); a container's scripts go with the container.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from typing import Any

from aiohttp import web

from atg_dataplane_sandbox.emulator.cosmos import upstream as cosmos_upstream
from atg_dataplane_sandbox.emulator.cosmos.auth import Resource
from atg_dataplane_sandbox.emulator.cosmos.errors import cosmos_error

SECTION = "cosmos_scripts"
KINDS = {"sprocs": "StoredProcedures", "triggers": "Triggers"}
"""Data-plane path segment -> the feed's field."""
TRIGGER_TYPES = ("Pre", "Post")
TRIGGER_OPERATIONS = ("All", "Create", "Update", "Delete", "Replace")


def _key(account: str, db: str, coll: str, kind: str) -> str:
    return json.dumps([account, db, coll, kind])


def scripts(emu: Any, account: str, db: str, coll: str, kind: str) -> dict[str, dict[str, Any]]:
    """The container's scripts of ``kind`` (``sprocs``/``triggers``) by id (a live view)."""
    return emu.store.section(SECTION).setdefault(_key(account, db, coll, kind), {})


def forget(emu: Any, account: str, db: str, coll: str | None = None) -> None:
    """Drop the scripts of a deleted container (or of every container of a deleted database)."""
    section = emu.store.section(SECTION)
    for key in list(section):
        acc, d, c, _ = json.loads(key)
        if acc == account and d == db and (coll is None or c == coll):
            del section[key]
    emu.store.touch()


def invalid(kind: str, body: Any) -> str | None:
    """Why a script body cannot be stored, or None."""
    for field in ("id", "body"):
        if not isinstance(body, dict) or not isinstance(body.get(field), str) or not body[field]:
            return (
                "The input content is invalid because the required properties - "
                f"'{field}; ' - are missing"
            )
    if kind == "triggers":
        if body.get("triggerType") not in TRIGGER_TYPES:
            return f"The trigger type must be one of {', '.join(TRIGGER_TYPES)}."
        if body.get("triggerOperation") not in TRIGGER_OPERATIONS:
            return f"The trigger operation must be one of {', '.join(TRIGGER_OPERATIONS)}."
    return None


def store(emu: Any, account: str, db: str, coll: str, kind: str, body: dict[str, Any]) -> dict:
    """Create or replace one script; return it as Cosmos DB shows it."""
    known = scripts(emu, account, db, coll, kind)
    previous = known.get(body["id"])
    rid = previous["_rid"] if previous else secrets.token_urlsafe(9)
    fields = ("id", "body") + (("triggerType", "triggerOperation") if kind == "triggers" else ())
    saved = {field: body[field] for field in fields}
    saved.update(
        _rid=rid,
        _self=f"dbs/{db}/colls/{coll}/{kind}/{rid}/",
        _etag=f'"{uuid.uuid4()}"',
        _ts=int(time.time()),
    )
    known[body["id"]] = saved
    emu.store.touch()
    return saved


async def handle(emu: Any, account: str, request: web.Request, resource: Resource) -> web.Response:
    """A data-plane request for stored procedures or triggers (``resource.type`` in KINDS)."""
    segments = resource.segments
    if len(segments) < 5 or segments[0] != "dbs" or segments[2] != "colls":
        return cosmos_error(404, "NotFound", "Resource Not Found")
    db, coll, kind = segments[1], segments[3], resource.type
    status, _ = await cosmos_upstream.call(
        emu, account, "GET", cosmos_upstream.link("dbs", db, "colls", coll)
    )
    if status != 200:
        return cosmos_error(404, "NotFound", "Resource Not Found")
    known = scripts(emu, account, db, coll, kind)
    method = request.method
    if resource.is_feed:
        if method == "GET" or request.headers.get("x-ms-documentdb-isquery", "") == "True":
            listed = list(known.values())
            return _json({"_rid": "", KINDS[kind]: listed, "_count": len(listed)},
                         headers={"x-ms-item-count": str(len(listed))})
        if method == "POST":
            body = await _body(request)
            reason = invalid(kind, body)
            if reason:
                return cosmos_error(400, "BadRequest", reason)
            upsert = request.headers.get("x-ms-documentdb-is-upsert", "").lower() == "true"
            if body["id"] in known and not upsert:
                return cosmos_error(
                    409, "Conflict", "Resource with specified id, name, or unique index "
                    "already exists."
                )
            created = body["id"] not in known
            return _json(store(emu, account, db, coll, kind, body), 201 if created else 200)
        return cosmos_error(405, "MethodNotAllowed", "The requested verb is not supported.")
    name = segments[5] if len(segments) > 5 else ""
    found = known.get(name)
    if found is None:
        return cosmos_error(404, "NotFound", "Resource Not Found")
    if method == "GET":
        return _json(found)
    if method == "PUT":
        body = await _body(request)
        reason = invalid(kind, body)
        if reason or body.get("id") != name:
            return cosmos_error(400, "BadRequest", reason or "The id of a script cannot change.")
        return _json(store(emu, account, db, coll, kind, body))
    if method == "DELETE":
        del known[name]
        emu.store.touch()
        return web.Response(status=204)
    if method == "POST" and kind == "sprocs":
        return cosmos_error(
            400, "BadRequest", "Executing stored procedures is not emulated by this sandbox."
        )
    return cosmos_error(405, "MethodNotAllowed", "The requested verb is not supported.")


async def _body(request: web.Request) -> Any:
    try:
        return json.loads(await request.read())
    except ValueError:
        return None


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    etag = body.get("_etag") if isinstance(body, dict) else None
    extra = {"etag": etag} if etag else {}
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            "x-ms-activity-id": str(uuid.uuid4()),
            "x-ms-request-charge": "1",
            **extra,
            **(headers or {}),
        },
    )
