"""SQL: a logical server in each tenant through ARM (azure-mgmt-sql), its firewall open to
Azure services, and the same databases on both. The source's are filled by importing a
package the seed builds (what ``az sql db import`` does), through a SAS on a staging
container; the target's are left empty, as Terraform leaves them.

The servers' admin logins go to ``sql-logins.json`` (0600; each password is a canary), and
``config.json`` names that file and the staging account the plugin exports through.
"""

from __future__ import annotations

import json
import random
import secrets
import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.sql import SqlManagementClient
from azure.mgmt.storage import StorageManagementClient
from azure.storage.blob import (
    BlobClient,
    ContainerClient,
    ContainerSasPermissions,
    generate_container_sas,
)

from atg_dataplane_sandbox import bacpac
from atg_dataplane_sandbox.replication_config import write_config
from atg_dataplane_sandbox.scenarios import ResourceSpec, SqlContents
from atg_dataplane_sandbox.seeders.context import SeedContext
from atg_dataplane_sandbox.seeders.storage import create_account
from atg_dataplane_sandbox.services.layout import write_private

LOGINS_FILE = "sql-logins.json"
STAGING_ACCOUNT = "tgtstore4"
"""Where the seed's imports and the plugin's exports are staged (a target-tenant account)."""
STAGING_CONTAINER = "sql-seed"
ADMIN = "sqladmin"
AZURE_SERVICES = {"startIpAddress": "0.0.0.0", "endIpAddress": "0.0.0.0"}

SCHEMAS = {
    "sales": [
        "CREATE TABLE Customers (Id INTEGER PRIMARY KEY, Name NVARCHAR(100) NOT NULL, "
        "Email VARCHAR(200) NOT NULL UNIQUE, Balance DECIMAL(18,4), JoinedOn DATE, "
        "Photo VARBINARY(8000))",
        "CREATE TABLE Orders (Id INTEGER PRIMARY KEY, CustomerId INTEGER NOT NULL "
        "REFERENCES Customers(Id), PlacedAt DATETIME2 NOT NULL, Total DECIMAL(18,2) NOT NULL, "
        "Note NVARCHAR(400))",
        "CREATE INDEX IX_Orders_CustomerId ON Orders(CustomerId, PlacedAt)",
        "CREATE VIEW CustomerTotals AS SELECT c.Id, c.Name, COUNT(o.Id) AS Orders, "
        "SUM(o.Total) AS Spent FROM Customers c LEFT JOIN Orders o ON o.CustomerId = c.Id "
        "GROUP BY c.Id, c.Name",
    ],
    "inventory": [
        "CREATE TABLE Products (Sku CHAR(12) PRIMARY KEY, Title NVARCHAR(200) NOT NULL, "
        "Price DECIMAL(10,2) NOT NULL, WeightKg FLOAT, AddedAt DATETIME2, Manual VARBINARY(8000))",
        "CREATE TABLE Stock (ProductSku CHAR(12) NOT NULL REFERENCES Products(Sku), "
        "Warehouse NVARCHAR(20) NOT NULL, Quantity INT NOT NULL, PRIMARY KEY (ProductSku, "
        "Warehouse))",
        "CREATE INDEX IX_Stock_Warehouse ON Stock(Warehouse)",
        "CREATE VIEW LowStock AS SELECT ProductSku, Warehouse, Quantity FROM Stock "
        "WHERE Quantity < 10",
    ],
}
NAMES = ("Zoë", "Łukasz", "Søren", "李雷", "Ана", "José", "Ngozi", "Aoife", "Ωmega 🚀", "O'Neil")


def build(database: str, rows: int) -> bytes:
    """The package of ``database`` with ``rows`` rows in its main table: unicode text,
    decimals, dates, binary and NULLs, the same every time."""
    rng = random.Random(f"{database}:{rows}")
    conn = sqlite3.connect(":memory:")
    for statement in SCHEMAS.get(database, SCHEMAS["sales"]):
        conn.execute(statement)
    start = datetime(2020, 1, 1, tzinfo=UTC)
    if database == "inventory":
        skus = [f"SKU-{i:08d}" for i in range(rows)]
        conn.executemany("INSERT INTO Products VALUES (?,?,?,?,?,?)", [
            (sku, f"{rng.choice(NAMES)} part {i}", str(Decimal(rng.randrange(1, 10**6)) / 100),
             None if i % 7 == 0 else rng.random() * 50,
             (start + timedelta(minutes=i * 37)).isoformat(sep=" "),
             rng.randbytes(rng.randrange(1, 64)) if i % 5 == 0 else None)
            for i, sku in enumerate(skus)
        ])
        conn.executemany("INSERT INTO Stock VALUES (?,?,?)", [
            (sku, warehouse, rng.randrange(0, 500))
            for sku in skus for warehouse in ("north", "süd") if rng.random() < 0.8
        ])
    else:
        conn.executemany("INSERT INTO Customers VALUES (?,?,?,?,?,?)", [
            (i, f"{rng.choice(NAMES)} {i}", f"user{i}@example.com",
             None if i % 11 == 0 else str(Decimal(rng.randrange(-10**8, 10**8)) / 10**4),
             (start + timedelta(days=i % 1500)).date().isoformat(),
             rng.randbytes(16) if i % 3 == 0 else None)
            for i in range(1, rows + 1)
        ])
        conn.executemany("INSERT INTO Orders VALUES (?,?,?,?,?)", [
            (i, rng.randrange(1, rows + 1), (start + timedelta(seconds=i * 4567)).isoformat(),
             str(Decimal(rng.randrange(100, 10**7)) / 100),
             None if i % 4 else f"deliver to {rng.choice(NAMES)} ☎ {i}")
            for i in range(1, rows + 1)
        ])
    conn.commit()
    return bacpac.export(conn)


def logins(directory: Path) -> dict[str, dict[str, str]]:
    path = directory / LOGINS_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def _login(ctx: SeedContext, server: str) -> dict[str, str]:
    known = logins(ctx.directory)
    if server not in known:  # a password only the server and this 0600 file hold
        known[server] = {"login": ADMIN, "password": "Pw1!" + ctx.canaries.new()}
        write_private(ctx.directory / LOGINS_FILE, json.dumps(known, indent=1))
    ctx.canaries.add(known[server]["password"])
    return known[server]


def create_server(ctx: SeedContext, side: str, name: str) -> dict[str, str]:
    """The server (kept when it exists) with its firewall open to Azure services."""
    client = ctx.mgmt(SqlManagementClient, side)
    group = ctx.resource_groups[side]
    login = _login(ctx, name)
    try:
        client.servers.get(group, name)
    except ResourceNotFoundError:
        client.servers.begin_create_or_update(group, name, {
            "location": ctx.location(side),
            "properties": {"administratorLogin": login["login"],
                           "administratorLoginPassword": login["password"]},
        }, polling_interval=0.1).result()
    client.firewall_rules.create_or_update(
        group, name, "AllowAllWindowsAzureIps", {"properties": AZURE_SERVICES}
    )
    return login


def create_database(ctx: SeedContext, side: str, server: str, name: str) -> bool:
    """The empty database; False when it existed."""
    client = ctx.mgmt(SqlManagementClient, side)
    group = ctx.resource_groups[side]
    try:
        client.databases.get(group, server, name)
        return False
    except ResourceNotFoundError:
        pass
    client.databases.begin_create_or_update(group, server, name, {
        "location": ctx.location(side),
        "sku": {"name": "GP_S_Gen5_1", "tier": "GeneralPurpose"},
    }, polling_interval=0.1).result()
    return True


def staging(ctx: SeedContext) -> tuple[str, str]:
    """The staging container's URL and a SAS on it (an hour, from the account's key)."""
    endpoints = create_account(ctx, "target", STAGING_ACCOUNT)
    storage = ctx.mgmt(StorageManagementClient, "target")
    key = storage.storage_accounts.list_keys(ctx.resource_groups["target"], STAGING_ACCOUNT)
    key = key.as_dict()["keys"][0]["value"]
    sas = generate_container_sas(
        STAGING_ACCOUNT, STAGING_CONTAINER, account_key=key,
        permission=ContainerSasPermissions(read=True, write=True, create=True, delete=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    url = endpoints["blob"].rstrip("/") + "/" + STAGING_CONTAINER
    container = ContainerClient.from_container_url(
        url, credential={"account_name": STAGING_ACCOUNT, "account_key": key},
        connection_verify=ctx.ca_bundle,
    )
    if not container.exists():
        container.create_container()
    return url, sas


def import_package(
    ctx: SeedContext, side: str, server: str, database: str, package: bytes
) -> None:
    """Import ``package`` into the (empty) database, staged as a blob deleted afterwards."""
    url, sas = staging(ctx)
    blob_url = f"{url}/{server}-{database}-{secrets.token_hex(4)}.bacpac"
    container = ContainerClient.from_container_url(url + "?" + sas,
                                                   connection_verify=ctx.ca_bundle)
    blob = container.get_blob_client(blob_url.rsplit("/", 1)[1])
    blob.upload_blob(package)
    login = _login(ctx, server)
    try:
        ctx.mgmt(SqlManagementClient, side).databases.begin_import_method(
            ctx.resource_groups[side], server, database, {
                "storageKeyType": "SharedAccessKey", "storageKey": "?" + sas,
                "storageUri": blob_url, "administratorLogin": login["login"],
                "administratorLoginPassword": login["password"],
            }, polling_interval=0.1,
        ).result()
    finally:
        blob.delete_blob()


def export_package(
    ctx: SeedContext, side: str, server: str, database: str, **change: Any
) -> bytes:
    """The database as a fresh export, read back and its blob deleted (how tests see what a
    database holds; ``change`` alters the export request, as a test of refusals does)."""
    url, sas = staging(ctx)
    blob_url = f"{url}/export-{secrets.token_hex(4)}.bacpac"
    login = _login(ctx, server)
    ctx.mgmt(SqlManagementClient, side).databases.begin_export(
        ctx.resource_groups[side], server, database, {
            "storageKeyType": "SharedAccessKey", "storageKey": "?" + sas,
            "storageUri": blob_url, "administratorLogin": login["login"],
            "administratorLoginPassword": login["password"], **change,
        }, polling_interval=0.05,
    ).result()
    reader = BlobClient.from_blob_url(f"{blob_url}?{sas}", connection_verify=ctx.ca_bundle)
    data = bytes(reader.download_blob().readall())
    reader.delete_blob()
    return data


def staged(ctx: SeedContext, container: str) -> list[str]:
    """Names of the blobs in a container of the staging account (read with its key)."""
    storage = ctx.mgmt(StorageManagementClient, "target")
    key = storage.storage_accounts.list_keys(
        ctx.resource_groups["target"], STAGING_ACCOUNT).as_dict()["keys"][0]["value"]
    url, _ = staging(ctx)
    client = ContainerClient.from_container_url(
        url.rsplit("/", 1)[0] + "/" + container,
        credential={"account_name": STAGING_ACCOUNT, "account_key": key},
        connection_verify=ctx.ca_bundle,
    )
    return [b.name for b in client.list_blobs()] if client.exists() else []


def seed(ctx: SeedContext, spec: ResourceSpec) -> dict[str, int]:
    contents: SqlContents = spec.contents
    counts = {"sql_databases": 0, "sql_tables": 0, "sql_rows": 0}
    create_server(ctx, "target", spec.target_name)
    create_server(ctx, "source", spec.source_name)
    for database in contents.databases:
        create_database(ctx, "target", spec.target_name, database)
        if create_database(ctx, "source", spec.source_name, database):
            package = build(database, contents.rows)
            import_package(ctx, "source", spec.source_name, database, package)
            counts["sql_databases"] += 1
            tables = bacpac.tables(package)
            counts["sql_tables"] += len(tables)
            counts["sql_rows"] += sum(tables.values())
    _name_in_config(ctx)
    return counts


def _name_in_config(ctx: SeedContext) -> None:
    """Point the plugin at the logins file and the staging account."""
    path = ctx.directory / "config.json"
    if not path.is_file():
        return
    config = json.loads(path.read_text())
    tenant = ctx.topology.tenant("target")
    config.setdefault("options", {}).update({
        "sql.logins_file": str((ctx.directory / LOGINS_FILE).resolve()),
        "sql.staging_account": f"/subscriptions/{tenant.subscription_id}/resourceGroups/"
        f"{ctx.resource_groups['target']}/providers/Microsoft.Storage/storageAccounts/"
        f"{STAGING_ACCOUNT}",
    })
    write_config(path, config)
