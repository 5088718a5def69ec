"""ARM side of a Cosmos DB account's NoSQL resources, applied to its Cosmos DB server:

``sqlDatabases/{db}``, ``.../containers/{c}``, the ``throughputSettings/default`` of each,
and a container's ``storedProcedures``, ``triggers`` and ``userDefinedFunctions``.

Databases, containers and user-defined functions live in the server; stored procedures and
triggers in the emulator's store (:mod:`.scripts`, the server has none);
throughput (manual or autoscale) in the store too, as the server has no offers. A
container's partition key cannot change: a PUT that changes it fails as Azure's does. PUT
and DELETE are long-running (``Azure-AsyncOperation``), lists are one page.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from atg_dataplane_sandbox.emulator.common.arm import ArmContext, read_json_body, start_operation
from atg_dataplane_sandbox.emulator.common.errors import AzureError, json_response
from atg_dataplane_sandbox.emulator.cosmos import scripts as cosmos_scripts
from atg_dataplane_sandbox.emulator.cosmos.upstream import call, link, read_all

ACCOUNT_TYPE = "Microsoft.DocumentDB/databaseAccounts"
THROUGHPUT = "cosmos_throughput"
"""Store section: resource id (lower case) -> ``{"throughput"}`` or ``{"autoscaleSettings"}``."""
SCRIPTS = {
    "storedprocedures": ("storedProcedures", "sprocs"),
    "triggers": ("triggers", "triggers"),
    "userdefinedfunctions": ("userDefinedFunctions", "udfs"),
}
"""ARM collection (lower case) -> its ARM name and data-plane path segment."""
_SERVER_FIELDS = ("_rid", "_ts", "_etag", "_self", "_colls", "_users", "_docs", "_sprocs",
                  "_triggers", "_udfs", "_conflicts")


def handles(rest: list[str]) -> bool:
    return bool(rest) and rest[0].lower() == "sqldatabases"


async def child(ctx: ArmContext, account: dict[str, Any], rest: list[str]) -> web.StreamResponse:
    """Everything below ``{account id}/sqlDatabases``."""
    lower = [part.lower() for part in rest]
    name = account["name"]
    if len(rest) == 1:
        ctx.require(f"{ACCOUNT_TYPE}/sqlDatabases/read", account["id"])
        found = await read_all(ctx.emu, name, "/dbs", "Databases")
        return _list([_database(ctx, account, db) for db in found])
    db = rest[1]
    db_id = f"{account['id']}/sqlDatabases/{db}"
    if len(rest) == 2:
        return await _database_item(ctx, account, db, db_id)
    if lower[2:] == ["throughputsettings", "default"]:
        return await _throughput(ctx, account, db_id, "sqlDatabases", ("dbs", db))
    if lower[2] != "containers":
        raise _not_found(rest[2])
    if len(rest) == 3:
        ctx.require(f"{ACCOUNT_TYPE}/sqlDatabases/containers/read", db_id)
        found = await read_all(ctx.emu, name, link("dbs", db, "colls"), "DocumentCollections")
        return _list([_container(ctx, account, db, coll) for coll in found])
    coll = rest[3]
    coll_id = f"{db_id}/containers/{coll}"
    if len(rest) == 4:
        return await _container_item(ctx, account, db, coll, coll_id)
    if lower[4:] == ["throughputsettings", "default"]:
        kind = "sqlDatabases/containers"
        return await _throughput(ctx, account, coll_id, kind, ("dbs", db, "colls", coll))
    if lower[4] in SCRIPTS and len(rest) in (5, 6):
        return await _script(ctx, account, db, coll, coll_id, rest[4:])
    raise _not_found(rest[-1])


# -- databases ----------------------------------------------------------------------------
async def _database_item(
    ctx: ArmContext, account: dict[str, Any], db: str, db_id: str
) -> web.StreamResponse:
    name, method, action = account["name"], ctx.request.method, f"{ACCOUNT_TYPE}/sqlDatabases"
    path = link("dbs", db)
    if method == "GET":
        ctx.require(f"{action}/read", db_id)
        status, found = await call(ctx.emu, name, "GET", path)
        if status != 200:
            raise _not_found(db)
        return json_response(_database(ctx, account, found))
    if method == "PUT":
        ctx.require(f"{action}/write", db_id)
        props = read_json_body(ctx.body).get("properties") or {}
        resource = props.get("resource") or {}
        if resource.get("id") != db:
            raise _bad(f"The resource id '{resource.get('id')}' does not match the name '{db}'.")
        status, _ = await call(ctx.emu, name, "GET", path)
        if status == 404:
            status, answer = await call(ctx.emu, name, "POST", "/dbs", {"id": db})
            if status != 409:  # made meanwhile by another PUT: ARM's PUT creates or updates
                _check(status, answer)
                _set_throughput(ctx, db_id, props.get("options") or {})
        return _operation(ctx, account, db_id, "PUT")
    if method == "DELETE":
        ctx.require(f"{action}/delete", db_id)
        await call(ctx.emu, name, "DELETE", path)
        cosmos_scripts.forget(ctx.emu, name, db)
        for key in [k for k in ctx.section(THROUGHPUT) if k.startswith(db_id.lower())]:
            del ctx.section(THROUGHPUT)[key]
        ctx.touch()
        return _operation(ctx, account, db_id, "DELETE")
    raise _method(method)


def _database(ctx: ArmContext, account: dict[str, Any], found: dict[str, Any]) -> dict[str, Any]:
    db_id = f"{account['id']}/sqlDatabases/{found['id']}"
    return _arm(account, db_id, found["id"], "sqlDatabases", _resource(found), ctx, db_id)


# -- containers ---------------------------------------------------------------------------
async def _container_item(
    ctx: ArmContext, account: dict[str, Any], db: str, coll: str, coll_id: str
) -> web.StreamResponse:
    name, method = account["name"], ctx.request.method
    action = f"{ACCOUNT_TYPE}/sqlDatabases/containers"
    path = link("dbs", db, "colls", coll)
    if method == "GET":
        ctx.require(f"{action}/read", coll_id)
        status, found = await call(ctx.emu, name, "GET", path)
        if status != 200:
            raise _not_found(coll)
        return json_response(_container(ctx, account, db, found))
    if method == "PUT":
        ctx.require(f"{action}/write", coll_id)
        props = read_json_body(ctx.body).get("properties") or {}
        resource = dict(props.get("resource") or {})
        if resource.get("id") != coll:
            raise _bad(f"The resource id '{resource.get('id')}' does not match the name '{coll}'.")
        for _attempt in range(2):
            status, existing = await call(ctx.emu, name, "GET", path)
            if status == 200:
                if existing.get("partitionKey", {}).get("paths") != (
                    resource.get("partitionKey") or {}
                ).get("paths"):
                    raise _bad("Document collection partition key cannot be changed.")
                status, answer = await call(ctx.emu, name, "PUT", path, resource)
                break
            if status == 404 and (await call(ctx.emu, name, "GET", link("dbs", db)))[0] != 200:
                raise _not_found(db)
            colls = link("dbs", db, "colls")
            status, answer = await call(ctx.emu, name, "POST", colls, resource)
            if status != 409:
                _set_throughput(ctx, coll_id, props.get("options") or {})
                break
            # Made meanwhile by another PUT: ARM's PUT creates or updates, so update it.
        _check(status, answer)
        return _operation(ctx, account, coll_id, "PUT")
    if method == "DELETE":
        ctx.require(f"{action}/delete", coll_id)
        await call(ctx.emu, name, "DELETE", path)
        cosmos_scripts.forget(ctx.emu, name, db, coll)
        ctx.section(THROUGHPUT).pop(coll_id.lower(), None)
        ctx.touch()
        return _operation(ctx, account, coll_id, "DELETE")
    raise _method(method)


def _container(
    ctx: ArmContext, account: dict[str, Any], db: str, found: dict[str, Any]
) -> dict[str, Any]:
    coll_id = f"{account['id']}/sqlDatabases/{db}/containers/{found['id']}"
    kind = "sqlDatabases/containers"
    return _arm(account, coll_id, found["id"], kind, _resource(found), ctx, coll_id)


# -- throughput ---------------------------------------------------------------------------
def _set_throughput(ctx: ArmContext, owner_id: str, options: dict[str, Any]) -> None:
    autoscale = options.get("autoscaleSettings") or {}
    if autoscale.get("maxThroughput"):
        value: dict[str, Any] = {"autoscaleSettings": {"maxThroughput": autoscale["maxThroughput"]}}
    elif options.get("throughput"):
        value = {"throughput": int(options["throughput"])}
    else:
        return
    ctx.section(THROUGHPUT)[owner_id.lower()] = value
    ctx.touch()


async def _throughput(
    ctx: ArmContext, account: dict[str, Any], owner_id: str, kind: str, names: tuple[str, ...]
) -> web.StreamResponse:
    settings_id = f"{owner_id}/throughputSettings/default"
    action = f"{ACCOUNT_TYPE}/{kind}/throughputSettings"
    status, _ = await call(ctx.emu, account["name"], "GET", link(*names))
    if status != 200:
        raise _not_found(names[-1])
    current = ctx.section(THROUGHPUT).get(owner_id.lower())
    method = ctx.request.method
    if method == "GET":
        ctx.require(f"{action}/read", settings_id)
        if current is None:
            raise _not_found("default")
        return json_response(_throughput_body(account, settings_id, kind, current))
    if method == "PUT":
        ctx.require(f"{action}/write", settings_id)
        if current is None:
            # Azure cannot give throughput to a database or container made without it.
            raise _bad(
                "Throughput cannot be set on a resource that was created without provisioned "
                "throughput."
            )
        resource = (read_json_body(ctx.body).get("properties") or {}).get("resource") or {}
        _set_throughput(ctx, owner_id, resource)
        return _operation(ctx, account, settings_id, "PUT")
    raise _method(method)


def _throughput_body(
    account: dict[str, Any], settings_id: str, kind: str, current: dict[str, Any]
) -> dict[str, Any]:
    resource: dict[str, Any] = {"minimumThroughput": "400", "offerReplacePending": "false"}
    if "autoscaleSettings" in current:
        maximum = current["autoscaleSettings"]["maxThroughput"]
        resource.update(throughput=maximum // 10, autoscaleSettings={"maxThroughput": maximum})
    else:
        resource["throughput"] = current["throughput"]
    return {
        "id": settings_id,
        "name": "default",
        "type": f"{ACCOUNT_TYPE}/{kind}/throughputSettings",
        "location": account.get("location"),
        "properties": {"resource": resource},
    }


# -- scripts ------------------------------------------------------------------------------
async def _script(
    ctx: ArmContext,
    account: dict[str, Any],
    db: str,
    coll: str,
    coll_id: str,
    rest: list[str],
) -> web.StreamResponse:
    collection, segment = SCRIPTS[rest[0].lower()]
    action = f"{ACCOUNT_TYPE}/sqlDatabases/containers/{collection}"
    name, method = account["name"], ctx.request.method
    status, _ = await call(ctx.emu, name, "GET", link("dbs", db, "colls", coll))
    if status != 200:
        raise _not_found(coll)
    kind = f"sqlDatabases/containers/{collection}"
    if len(rest) == 1:
        ctx.require(f"{action}/read", coll_id)
        found = await _scripts(ctx, name, db, coll, segment)
        return _list([
            _arm(account, f"{coll_id}/{collection}/{s['id']}", s["id"], kind, _resource(s))
            for s in found
        ])
    script, script_id = rest[1], f"{coll_id}/{collection}/{rest[1]}"
    if method == "GET":
        ctx.require(f"{action}/read", script_id)
        found = {s["id"]: s for s in await _scripts(ctx, name, db, coll, segment)}.get(script)
        if found is None:
            raise _not_found(script)
        return json_response(_arm(account, script_id, script, kind, _resource(found)))
    if method == "PUT":
        ctx.require(f"{action}/write", script_id)
        resource = (read_json_body(ctx.body).get("properties") or {}).get("resource") or {}
        if resource.get("id") != script:
            raise _bad(f"The resource id '{resource.get('id')}' does not match '{script}'.")
        if segment == "udfs":
            body = {"id": script, "body": resource.get("body")}
            udfs = link("dbs", db, "colls", coll, "udfs")
            status, answer = await call(
                ctx.emu, name, "POST", udfs, body, {"x-ms-documentdb-is-upsert": "true"}
            )
            _check(status, answer)
        else:
            reason = cosmos_scripts.invalid(segment, resource)
            if reason:
                raise _bad(reason)
            cosmos_scripts.store(ctx.emu, name, db, coll, segment, resource)
        return _operation(ctx, account, script_id, "PUT")
    if method == "DELETE":
        ctx.require(f"{action}/delete", script_id)
        if segment == "udfs":
            await call(ctx.emu, name, "DELETE", link("dbs", db, "colls", coll, "udfs", script))
        else:
            cosmos_scripts.scripts(ctx.emu, name, db, coll, segment).pop(script, None)
            ctx.touch()
        return _operation(ctx, account, script_id, "DELETE")
    raise _method(method)


async def _scripts(
    ctx: ArmContext, account: str, db: str, coll: str, segment: str
) -> list[dict[str, Any]]:
    if segment == "udfs":
        path = link("dbs", db, "colls", coll, "udfs")
        return await read_all(ctx.emu, account, path, "UserDefinedFunctions")
    return list(cosmos_scripts.scripts(ctx.emu, account, db, coll, segment).values())


# -- shapes -------------------------------------------------------------------------------
def _resource(found: dict[str, Any]) -> dict[str, Any]:
    """The server's document as ARM's ``properties.resource`` (system fields kept as Azure
    keeps them: ``_rid``, ``_ts``, ``_etag``)."""
    keep = ("_rid", "_ts", "_etag")
    return {k: v for k, v in found.items() if k not in _SERVER_FIELDS or k in keep}


def _arm(
    account: dict[str, Any],
    resource_id: str,
    name: str,
    kind: str,
    resource: dict[str, Any],
    ctx: ArmContext | None = None,
    throughput_of: str | None = None,
) -> dict[str, Any]:
    props: dict[str, Any] = {"resource": resource}
    if ctx is not None and throughput_of is not None:
        current = ctx.section(THROUGHPUT).get(throughput_of.lower())
        if current is not None:
            props["options"] = dict(current)
    return {
        "id": resource_id,
        "name": name,
        "type": f"{ACCOUNT_TYPE}/{kind}",
        "location": account.get("location"),
        "properties": props,
    }


def _list(items: list[dict[str, Any]]) -> web.Response:
    return json_response({"value": sorted(items, key=lambda item: item["id"])})


def _operation(ctx: ArmContext, account: dict[str, Any], item_id: str, method: str) -> web.Response:
    location = account.get("location") or "eastus"
    return start_operation(ctx, "Microsoft.DocumentDB", location, item_id, None, 202, method)


def _check(status: int, answer: Any) -> None:
    if status < 400:
        return
    message = (answer or {}).get("message") if isinstance(answer, dict) else None
    if status == 409:
        raise AzureError(409, "Conflict", message or "The resource already exists.")
    raise _bad(message or f"The Cosmos DB server refused the request ({status}).")


def _not_found(name: str) -> AzureError:
    return AzureError(404, "NotFound", f"The resource '{name}' was not found.")


def _bad(message: str) -> AzureError:
    return AzureError(400, "BadRequest", message)


def _method(method: str) -> AzureError:
    return AzureError(405, "MethodNotAllowed", f"The method '{method}' is not allowed.")
