"""Microsoft.Sql: logical servers, their firewall rules and databases, and the import and
export operations (shapes per the 2025-01-01 specification, ``specification/sql``).

* A server's ``administratorLoginPassword`` is stored and never shown.
* Databases are SQLite files (``emulator-state/sql/<databaseId>.db``); ``master`` exists on
  every server and cannot be changed; ``createMode: Copy`` copies ``sourceDatabaseId``.
* ``databases/{db}/export`` writes a BACPAC-shaped package (:mod:`atg_dataplane_sandbox.
  bacpac`) to ``storageUri`` through the SAS the caller gives (``storageKeyType:
  SharedAccessKey``) or the account key (``StorageAccessKey``); ``import`` reads one into
  an empty database, statement by statement (a package that fails part way leaves what it
  created, as DacFx does). Both answer as long-running operations whose result is an
  ``ImportExportOperationResult``; both need the server's SQL login, and a firewall that
  lets Azure services in (the ``0.0.0.0`` rule, ``AllowAllWindowsAzureIps``), or they fail
  as Azure's do.
"""

from __future__ import annotations

import asyncio
import sqlite3
import ssl
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from atg_dataplane_sandbox import bacpac
from atg_dataplane_sandbox.emulator.common.arm import (
    ArmContext,
    now_iso,
    read_json_body,
    start_operation,
)
from atg_dataplane_sandbox.emulator.common.errors import AzureError, json_response
from atg_dataplane_sandbox.emulator.common.providers import ChildType, Provider, declare, register

NAMESPACE = "Microsoft.Sql"
SERVER_TYPE = f"{NAMESPACE}/servers"
LOGINS = "sql_logins"
"""Store section: lower-case server id -> ``{login, password}`` (never shown)."""
COLLATION = "SQL_Latin1_General_CP1_CI_AS"
AZURE_SERVICES = "0.0.0.0"


def database_file(emu: Any, database_id: str) -> Path:
    folder = Path(emu.directory) / "emulator-state" / "sql"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{database_id}.db"


class Servers(Provider):
    namespace = NAMESPACE
    resource_type = "servers"
    lro_put = True

    async def on_put(
        self, ctx: ArmContext, resource: dict[str, Any], existing: dict[str, Any] | None
    ) -> dict[str, Any]:
        props = resource["properties"]
        password = props.pop("administratorLoginPassword", None)
        logins = ctx.section(LOGINS)
        key = resource["id"].lower()
        if existing is None:
            if not props.get("administratorLogin") or not password:
                raise AzureError(
                    400,
                    "InvalidParameterValue",
                    "administratorLogin and administratorLoginPassword are required.",
                )
            logins[key] = {"login": props["administratorLogin"], "password": password}
        else:
            props["administratorLogin"] = existing["properties"]["administratorLogin"]
            if password:
                logins[key]["password"] = password
        props.setdefault("version", "12.0")
        props.setdefault("publicNetworkAccess", "Enabled")
        props["fullyQualifiedDomainName"] = f"{resource['name']}.database.windows.net"
        props["state"] = "Ready"
        props["provisioningState"] = "Succeeded"
        ctx.touch()
        return resource

    async def on_delete(self, ctx: ArmContext, resource: dict[str, Any]) -> None:
        prefix = resource["id"].lower() + "/databases/"
        for key, item in ctx.section("arm_children").items():
            if key.startswith(prefix) and "databaseId" in item["properties"]:
                database_file(ctx.emu, item["properties"]["databaseId"]).unlink(missing_ok=True)
        ctx.section(LOGINS).pop(resource["id"].lower(), None)

    async def child(
        self, ctx: ArmContext, resource: dict[str, Any], rest: list[str]
    ) -> web.StreamResponse | None:
        if len(rest) != 3 or rest[0].lower() != "databases":
            return None
        operation = rest[2].lower()
        db_id = f"{resource['id']}/databases/{rest[1]}"
        if operation == "usages" and ctx.request.method == "GET":
            return _usages(ctx, db_id)
        if operation not in ("export", "import") or ctx.request.method != "POST":
            return None
        ctx.require(f"{SERVER_TYPE}/databases/{operation}/action", db_id)
        database = ctx.section("arm_children").get(db_id.lower())
        if database is None:
            raise AzureError(
                404, "ResourceNotFound", f"The database '{rest[1]}' was not found."
            )
        body = read_json_body(ctx.body)
        _check_access(ctx, resource, body)
        path = database_file(ctx.emu, database["properties"]["databaseId"])
        uri = str(body.get("storageUri") or "")
        if operation == "export":
            package = await asyncio.to_thread(_export, path)
            await _put_blob(ctx, uri, body, package)
        else:
            package = await _get_blob(ctx, uri, body)
            await asyncio.to_thread(_import, path, package)
        result = {
            "id": f"{db_id}/importExportOperationResults/{uuid.uuid4()}",
            "name": str(uuid.uuid4()),
            "type": f"{SERVER_TYPE}/databases/importExportOperationResults",
            "properties": {
                "requestId": str(uuid.uuid4()),
                "requestType": operation.capitalize(),
                "queuedTime": now_iso(),
                "lastModifiedTime": now_iso(),
                "blobUri": uri,
                "serverName": resource["name"],
                "databaseName": database["name"],
                "status": "Completed",
                "errorMessage": None,
            },
        }
        return start_operation(
            ctx, NAMESPACE, resource.get("location", "eastus"), db_id, None, 202, "POST",
            result=result,
        )


def _usages(ctx: ArmContext, db_id: str) -> web.Response:
    """The database's size in use: its SQLite file's."""
    ctx.require(f"{SERVER_TYPE}/databases/usages/read", db_id)
    database = ctx.section("arm_children").get(db_id.lower())
    if database is None:
        raise AzureError(404, "ResourceNotFound", "The database was not found.")
    path = database_file(ctx.emu, database["properties"]["databaseId"])
    usage = {
        "id": f"{db_id}/usages/database_size",
        "name": "database_size",
        "type": f"{SERVER_TYPE}/databases/usages",
        "properties": {
            "displayName": "Database Size",
            "currentValue": path.stat().st_size if path.exists() else 0,
            "limit": database["properties"].get("maxSizeBytes"),
            "unit": "Bytes",
        },
    }
    return json_response({"value": [usage]})


def _refused(why: str) -> AzureError:
    return AzureError(400, "ImportExportJobError", f"The ImportExport operation failed: {why}")


def _check_access(ctx: ArmContext, server: dict[str, Any], body: dict[str, Any]) -> None:
    """What Azure's import/export service meets when it connects to the server: the
    firewall, then the SQL login."""
    rules = [
        item["properties"]
        for key, item in ctx.section("arm_children").items()
        if key.startswith(server["id"].lower() + "/firewallrules/")
    ]
    open_to_azure = any(
        r.get("startIpAddress") == AZURE_SERVICES and r.get("endIpAddress") == AZURE_SERVICES
        for r in rules
    )
    if server["properties"].get("publicNetworkAccess") == "Disabled" or not open_to_azure:
        raise _refused(
            f"Cannot open server '{server['name']}' requested by the login. Client with IP "
            "address '20.42.0.1' is not allowed to access the server. To enable access, allow "
            "Azure services and resources to access this server (firewall rule 0.0.0.0), or "
            "use a private link (networkIsolation).",
        )
    login = ctx.section(LOGINS).get(server["id"].lower()) or {}
    if (
        body.get("administratorLogin") != login.get("login")
        or body.get("administratorLoginPassword") != login.get("password")
    ):
        raise _refused(f"Login failed for user '{body.get('administratorLogin')}'.")


def _ssl(ctx: ArmContext) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ctx.emu.certs.ca))


def _signed(body: dict[str, Any]) -> str:
    uri = str(body.get("storageUri") or "")
    kind = body.get("storageKeyType")
    if not uri.startswith("https://"):
        raise AzureError(400, "InvalidParameterValue", "storageUri must be an https blob URI.")
    if kind != "SharedAccessKey":
        raise AzureError(
            400,
            "InvalidParameterValue",
            "The sandbox takes storageKeyType SharedAccessKey (a SAS in storageKey).",
        )
    return uri + "?" + str(body.get("storageKey") or "").lstrip("?")


STORAGE_TRIES = 5
"""Tries of each staging read or write: Azure's import/export service rides out a busy or
broken answer from storage (the fault proxy's), it does not fail the operation on one."""
BUSY = (429, 500, 503)


async def _storage(ctx: ArmContext, method: str, url: str, headers: dict[str, str],
                   data: bytes | None = None) -> tuple[int, bytes]:
    """``(status, body)`` of the first answer that is not busy (or the last busy one)."""
    status, body = 503, b""
    for attempt in range(STORAGE_TRIES):
        try:
            async with aiohttp.ClientSession() as session, session.request(
                method, url, data=data, headers=headers, ssl=_ssl(ctx)
            ) as answer:
                status, body = answer.status, await answer.read()
                if status not in BUSY:
                    return status, body
                wait = float(answer.headers.get("Retry-After") or 0)
        except (TimeoutError, aiohttp.ClientError):
            wait = 0.0  # broken off: a write may have landed (see _put_blob)
        await asyncio.sleep(min(5.0, max(wait, 0.1 * 2**attempt)))
    return status, body


async def _put_blob(ctx: ArmContext, uri: str, body: dict[str, Any], data: bytes) -> None:
    headers = {"x-ms-blob-type": "BlockBlob", "x-ms-version": "2021-08-06",
               "If-None-Match": "*"}  # an export never overwrites a blob
    status, _ = await _storage(ctx, "PUT", _signed(body), headers, data)
    if status == 409:
        # A try whose answer was lost (or the HTTP client's own retry of it) may have
        # written this very package: only another blob is refused.
        found, there = await _storage(ctx, "GET", _signed(body), {"x-ms-version": "2021-08-06"})
        if found == 200 and there == data:
            return
        raise _refused(f"The blob '{uri}' already exists.")
    if status >= 300:
        raise _refused(f"Writing '{uri}' was refused ({status}): check the SAS.")


async def _get_blob(ctx: ArmContext, uri: str, body: dict[str, Any]) -> bytes:
    status, data = await _storage(ctx, "GET", _signed(body), {"x-ms-version": "2021-08-06"})
    if status >= 300:
        raise _refused(f"Reading '{uri}' was refused ({status}): check the SAS.")
    return data


def _export(path: Path) -> bytes:
    with sqlite3.connect(path) as conn:
        return bacpac.export(conn)


def _import(path: Path, package: bytes) -> None:
    conn = sqlite3.connect(path)
    try:
        bacpac.restore(conn, package)
    except bacpac.BacpacError as exc:
        raise _refused(str(exc)) from None
    finally:
        conn.close()


def _firewall_rule(
    ctx: ArmContext, server: dict[str, Any], found: dict[str, Any] | None, props: dict[str, Any]
) -> dict[str, Any]:
    for field in ("startIpAddress", "endIpAddress"):
        parts = str(props.get(field) or "").split(".")
        if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts):
            raise AzureError(400, "InvalidParameterValue", f"{field} must be an IPv4 address.")
    return props


def _database(
    ctx: ArmContext, server: dict[str, Any], found: dict[str, Any] | None, props: dict[str, Any]
) -> dict[str, Any]:
    if found is not None:  # an update: what the database is stays
        kept = found["properties"]
        for field in ("databaseId", "creationDate", "collation"):
            props[field] = kept[field]
        return props
    sku = read_json_body(ctx.body).get("sku") or {"name": "GP_S_Gen5", "tier":
                                                   "GeneralPurpose", "capacity": 1}
    database_id = str(uuid.uuid4())
    made = database_file(ctx.emu, database_id)
    if props.get("createMode") == "Copy":  # a transactionally consistent copy, at once
        source = ctx.section("arm_children").get(str(props.get("sourceDatabaseId")).lower())
        if source is None or "databaseId" not in source["properties"]:
            raise AzureError(404, "ResourceNotFound", "The source database was not found.")
        old = sqlite3.connect(database_file(ctx.emu, source["properties"]["databaseId"]))
        new = sqlite3.connect(made)
        try:
            old.backup(new)
        finally:
            old.close()
            new.close()
    else:
        sqlite3.connect(made).close()
    props.setdefault("collation", COLLATION)
    props.setdefault("maxSizeBytes", 32 * 1024**3)
    props.update(
        databaseId=database_id,
        creationDate=now_iso(),
        status="Online",
        currentSku=sku,
        currentServiceObjectiveName=sku.get("name"),
        provisioningState="Succeeded",
    )
    return props


def _drop(ctx: ArmContext, database: dict[str, Any]) -> None:
    database_file(ctx.emu, database["properties"]["databaseId"]).unlink(missing_ok=True)


def _master(ctx: ArmContext, server: dict[str, Any]) -> list[dict[str, Any]]:
    """Every server has ``master`` (a system database: never copied, never changed)."""
    return [
        {
            "id": f"{server['id']}/databases/master",
            "name": "master",
            "type": f"{SERVER_TYPE}/databases",
            "properties": {
                "collation": COLLATION,
                "status": "Online",
                "currentSku": {"name": "System", "tier": "System"},
                "currentServiceObjectiveName": "System0",
                "maxSizeBytes": 32 * 1024**3,
                "creationDate": server["properties"].get("creationDate") or now_iso(),
            },
        }
    ]


register(Servers())
FIREWALL_RULES = declare(
    ChildType(parent=SERVER_TYPE, name="firewallRules", shape=_firewall_rule)
)
DATABASES = declare(
    ChildType(
        parent=SERVER_TYPE,
        name="databases",
        lro="async",
        shape=_database,
        builtins=_master,
        read_only=frozenset({"master"}),
        on_delete=_drop,
    )
)
