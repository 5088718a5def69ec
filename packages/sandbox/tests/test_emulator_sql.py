"""SQL in the sandbox (``emulator/sql/``), through azure-mgmt-sql and azure-storage-blob:
servers whose password is never shown, ``master`` on every server, export and import of
BACPAC-shaped packages through a SAS into Azurite, and the ways Azure's import/export
refuses: a firewall closed to Azure services, a wrong login, a database that is not empty,
a changed model, a blob that exists; a package that breaks a key fails part way."""

from __future__ import annotations

import dataclasses
import io
import secrets
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from atg_dataplane_sandbox import bacpac
from atg_dataplane_sandbox import seed as seed_module
from atg_dataplane_sandbox.pytest_plugin import SandboxHandle
from atg_dataplane_sandbox.seeders import sql
from atg_dataplane_sandbox.seeders.context import SeedContext
from azure.core.exceptions import HttpResponseError
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.sql import SqlManagementClient
from azure.storage.blob import BlobClient

SERVER = "sql-emulator-test"
SIDE = "source"
GROUP = "rg-sql-emulator"
"""Not the seed's source group: a run over the session's sandbox would take this server
(which has no target) for one to copy."""


@pytest.fixture(scope="module")
def ctx(sandbox: SandboxHandle) -> SeedContext:
    seeded = seed_module.context(sandbox.dir)
    context = dataclasses.replace(seeded, resource_groups={**seeded.resource_groups,
                                                           SIDE: GROUP})
    for side, group in context.resource_groups.items():  # the staging account is the target's
        context.mgmt(ResourceManagementClient, side).resource_groups.create_or_update(
            group, {"location": context.location(side)}
        )
    sql.create_server(context, SIDE, SERVER)
    return context


@pytest.fixture(scope="module")
def client(ctx: SeedContext) -> SqlManagementClient:
    found: SqlManagementClient = ctx.mgmt(SqlManagementClient, SIDE)
    return found


@pytest.fixture
def database(ctx: SeedContext) -> Callable[[], str]:
    def make() -> str:
        name = f"db-{secrets.token_hex(3)}"
        sql.create_database(ctx, SIDE, SERVER, name)
        return name

    return make


def _export(ctx: SeedContext, client: SqlManagementClient, name: str, **change: Any) -> bytes:
    return sql.export_package(ctx, SIDE, SERVER, name, **change)


def _parts(package: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        return {n: archive.read(n) for n in archive.namelist() if n != bacpac.ORIGIN}


def test_servers_hide_their_password_and_list_master(
    ctx: SeedContext, client: SqlManagementClient
) -> None:
    group = ctx.resource_groups[SIDE]
    server = client.servers.get(group, SERVER).as_dict()
    assert server["properties"]["administratorLogin"] == sql.ADMIN
    assert "administratorLoginPassword" not in server["properties"]
    assert sql.logins(ctx.directory)[SERVER]["password"] not in str(server)
    assert "master" in [d.name for d in client.databases.list_by_server(group, SERVER)]
    with pytest.raises(HttpResponseError) as refused:
        client.databases.begin_delete(group, SERVER, "master").result()
    assert refused.value.status_code == 400


def test_export_of_an_imported_package_gives_back_its_model_and_rows(
    ctx: SeedContext, client: SqlManagementClient, database: Callable[[], str]
) -> None:
    package = sql.build("inventory", 1200)  # more rows than one data part holds
    name = database()
    sql.import_package(ctx, SIDE, SERVER, name, package)
    again = _export(ctx, client, name)
    assert _parts(again) == _parts(package)
    assert bacpac.tables(again) == bacpac.tables(package)
    assert sum(1 for n in _parts(again) if n.startswith("Data/dbo.Products/")) == 2
    schema_only = {n: d for n, d in _parts(package).items() if not n.startswith(bacpac.DATA)}
    empty = database()
    sql.import_package(ctx, SIDE, SERVER, empty, _zip(schema_only, package))
    assert bacpac.tables(_export(ctx, client, empty)) == {"Products": 0, "Stock": 0}


def _zip(parts: dict[str, bytes], origin_from: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
        with zipfile.ZipFile(io.BytesIO(origin_from)) as source:
            archive.writestr(bacpac.ORIGIN, source.read(bacpac.ORIGIN))
    return buffer.getvalue()


def test_import_refuses_a_database_with_user_objects_and_leaves_it(
    ctx: SeedContext, client: SqlManagementClient, database: Callable[[], str]
) -> None:
    name = database()
    sql.import_package(ctx, SIDE, SERVER, name, sql.build("sales", 30))
    before = _export(ctx, client, name)
    with pytest.raises(HttpResponseError, match="contains one or more user objects"):
        sql.import_package(ctx, SIDE, SERVER, name, sql.build("inventory", 30))
    assert _parts(_export(ctx, client, name)) == _parts(before)


def test_a_changed_model_is_refused(
    ctx: SeedContext, client: SqlManagementClient, database: Callable[[], str]
) -> None:
    package = sql.build("sales", 10)
    parts = _parts(package)
    parts[bacpac.MODEL] = parts[bacpac.MODEL].replace(b"Customers", b"Clients")
    name = database()
    with pytest.raises(HttpResponseError, match=r"checksum for model\.xml"):
        sql.import_package(ctx, SIDE, SERVER, name, _zip(parts, package))
    assert bacpac.tables(_export(ctx, client, name)) == {}


def test_a_package_that_breaks_a_key_fails_part_way(
    ctx: SeedContext, client: SqlManagementClient, database: Callable[[], str]
) -> None:
    """As DacFx: the tables made before the failure stay (so a retry needs a clean one)."""
    package = sql.build("sales", 10)
    parts = _parts(package)
    orders = "Data/dbo.Orders/TableData-000-00000.BCP"
    first = parts[orders].splitlines()[0]
    parts[orders] = first + b"\n" + parts[orders]  # the same key twice
    name = database()
    with pytest.raises(HttpResponseError, match="failed part way"):
        sql.import_package(ctx, SIDE, SERVER, name, _zip(parts, package))
    assert bacpac.tables(_export(ctx, client, name)) == {"Customers": 10, "Orders": 0}


def test_wrong_login_closed_firewall_and_existing_blob_are_refused(
    ctx: SeedContext, client: SqlManagementClient, database: Callable[[], str]
) -> None:
    group = ctx.resource_groups[SIDE]
    name = database()
    with pytest.raises(HttpResponseError, match="Login failed"):
        _export(ctx, client, name, administratorLoginPassword="wrong")
    client.firewall_rules.delete(group, SERVER, "AllowAllWindowsAzureIps")
    try:
        with pytest.raises(HttpResponseError, match="not allowed to access the server"):
            _export(ctx, client, name)
    finally:
        sql.create_server(ctx, SIDE, SERVER)  # the rule again
    url, sas = sql.staging(ctx)
    taken = f"{url}/taken-{secrets.token_hex(3)}.bacpac"
    BlobClient.from_blob_url(f"{taken}?{sas}", connection_verify=ctx.ca_bundle).upload_blob(
        b"x"
    )
    with pytest.raises(HttpResponseError, match="already exists"):
        _export(ctx, client, name, storageUri=taken)
