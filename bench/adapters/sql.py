"""SQL databases: schema and rows through Azure's BACPAC export and import.

The baseline is what users run today, database by database: ``az sql db export`` to a
storage container, wait, ``az sql db import`` into the (empty) target, wait, delete the
blob. The ceiling runs every export at once, then every import (the least any tool must
ask of Azure: one of each per database). Both use the sandbox's staging container and SQL
logins, as the tool does; no row passes through this process in any of them.
"""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from azure.mgmt.sql import SqlManagementClient
from azure.storage.blob import BlobClient

from adapters import Task, arm_client, where

RESOURCE_TYPE = "Microsoft.Sql/servers"
POLL = 0.2


class _Server:
    def __init__(self, resource: Any, side: Any, pool: int | None = None) -> None:
        self.side = side
        self.pool = pool
        self.sql: SqlManagementClient = arm_client(SqlManagementClient, resource, side, pool)
        self.group, self.name = where(resource)

    def databases(self) -> list[str]:
        return sorted(str(d.name) for d in self.sql.databases.list_by_server(
            self.group, self.name) if d.name != "master")

    def body(self, staging: tuple[str, str], blob: str, login: dict[str, str]) -> dict[str, Any]:
        return {
            "storageKeyType": "SharedAccessKey", "storageKey": "?" + staging[1],
            "storageUri": f"{staging[0]}/{blob}", "administratorLogin": login["login"],
            "administratorLoginPassword": login["password"],
        }


def _staging(side: Any) -> tuple[tuple[str, str], dict[str, dict[str, str]]]:
    """The seed's staging container ``(url, sas)`` and the servers' logins (what a user
    of ``az sql db export`` has at hand), from the sandbox the side's CA bundle is in."""
    from atg_dataplane_sandbox.seed import context
    from atg_dataplane_sandbox.seeders import sql

    ctx = context(Path(str(side.ca_bundle)).parent)
    return sql.staging(ctx), sql.logins(ctx.directory)


def _export(src: _Server, database: str, staging: tuple[str, str], blob: str,
            logins: dict[str, dict[str, str]]) -> int:
    src.sql.databases.begin_export(
        src.group, src.name, database, src.body(staging, blob, logins[src.name]),
        polling_interval=POLL,
    ).result()
    return 0


def _import(tgt: _Server, database: str, staging: tuple[str, str], blob: str,
            logins: dict[str, dict[str, str]]) -> int:
    tgt.sql.databases.begin_import_method(
        tgt.group, tgt.name, database, tgt.body(staging, blob, logins[tgt.name]),
        polling_interval=POLL,
    ).result()
    BlobClient.from_blob_url(f"{staging[0]}/{blob}?{staging[1]}",
                             **tgt.side.kwargs(tgt.pool)).delete_blob()
    return 0  # Azure moved the rows


class SqlAdapter:
    resource_type = RESOURCE_TYPE
    kinds = ("database",)
    server_side_kinds = ("database",)

    def baseline(self, pair: Any, source: Any, target: Any, tally: Any) -> None:
        src, tgt = _Server(pair.source, source), _Server(pair.target, target)
        staging, logins = _staging(source)
        for database in src.databases():
            blob = f"baseline-{database}-{secrets.token_hex(4)}.bacpac"
            _export(src, database, staging, blob, logins)
            tally.add("database", _import(tgt, database, staging, blob, logins))

    def plan(self, pair: Any, source: Any, target: Any, pool: int) -> list[Task]:
        src, tgt = _Server(pair.source, source, pool), _Server(pair.target, target, pool)
        staging, logins = _staging(source)
        tasks = []
        for database in src.databases():
            blob = f"ceiling-{database}-{secrets.token_hex(4)}.bacpac"
            tasks.append(Task("database", f"{database}@export",
                              lambda d=database, b=blob: _export(src, d, staging, b, logins),
                              counted=False))
            tasks.append(Task("database", database,
                              lambda d=database, b=blob: _import(tgt, d, staging, b, logins),
                              phase=1))
        return tasks

    # -- sandbox targets ------------------------------------------------------
    def fresh_targets(self, sandbox_dir: str, names: list[str], tag: str) -> dict[str, str]:
        """Each target server's twin: the same databases, empty (as Terraform leaves them)."""
        from atg_dataplane_sandbox.seed import context
        from atg_dataplane_sandbox.seeders import sql

        ctx = context(sandbox_dir)
        client = ctx.mgmt(SqlManagementClient, "target")
        group = ctx.resource_groups["target"]
        fresh = {name: f"{name}-{tag}"[:60].lower().rstrip("-") for name in names}

        def make(name: str) -> None:
            databases = [str(d.name) for d in client.databases.list_by_server(group, name)
                         if d.name != "master"]
            sql.create_server(ctx, "target", fresh[name])
            for database in databases:
                sql.create_database(ctx, "target", fresh[name], database)

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(make, names))
        return fresh

    def drop_targets(self, sandbox_dir: str, names: list[str]) -> None:
        from atg_dataplane_sandbox.seed import context

        ctx = context(sandbox_dir)
        client = ctx.mgmt(SqlManagementClient, "target")
        for name in names:
            client.servers.begin_delete(ctx.resource_groups["target"], name).result()


ADAPTER = SqlAdapter()
