"""atg-dataplane hooks for ``Microsoft.Sql/servers``: each server's databases (``master``
aside), schema and rows, exported to a BACPAC and imported on the other side by Azure
(``databases.py``), through a staging container (``staging.py``). Terraform recreates the
server and its empty databases; this fills them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from atg_dataplane import (
    Checkpoint,
    DataPlaneItem,
    Fingerprinter,
    ItemOutcome,
    Permission,
    PluginOption,
    ReplicationMode,
    ResourceBinding,
    ResourceTypeSpec,
    deferred,
    hookimpl,
)

if TYPE_CHECKING:
    from atg_dataplane_sql import databases
else:  # imported when a resource of this type is first worked on
    databases = deferred("atg_dataplane_sql.databases")

RESOURCE_TYPE = "Microsoft.Sql/servers"
ARM_API_VERSION = "2025-01-01"
MAX_DATABASES_PER_SERVER = 4
"""Exports and imports of one server at once (Azure queues more; they gain nothing)."""
OPTIONS = (
    PluginOption(
        "sql.logins_file",
        help='JSON file {"<server>": {"login": ..., "password": ...}}: the SQL admin login '
        "Azure's export and import sign in with, for source and target servers (never "
        "logged)",
    ),
    PluginOption(
        "sql.staging_account",
        help="ARM id of the storage account packages pass through (a SAS from its key, "
        "for this run only)",
    ),
    PluginOption(
        "sql.staging_side",
        default="target",
        help="the tenant (source or target) whose credential lists the staging account's keys",
    ),
    PluginOption(
        "sql.staging_container",
        default="atg-dataplane-sql",
        help="container of the staging account (made if missing)",
    ),
    PluginOption(
        "sql.replace_non_empty",
        kind="bool",
        default=False,
        help="drop and replace a target database that is not empty and differs from the "
        "source (default: fail it, untouched)",
    ),
    PluginOption(
        "sql.export_from_copy",
        kind="bool",
        default=False,
        help="export each source database from a transactionally consistent copy made for "
        "it in the source server (and dropped after), not from the live database",
    ),
    PluginOption(
        "sql.keep_staging",
        kind="bool",
        default=False,
        help="keep the exported packages in the staging container (for debugging)",
    ),
)
_S = "Microsoft.Sql/servers"
SOURCE = (
    f"{_S}/read",
    f"{_S}/firewallRules/read",
    f"{_S}/databases/read",
    f"{_S}/databases/usages/read",
    f"{_S}/databases/export/action",
)
TARGET = (
    f"{_S}/read",
    f"{_S}/firewallRules/read",
    f"{_S}/databases/read",
    f"{_S}/databases/write",
    f"{_S}/databases/delete",
    f"{_S}/databases/export/action",
    f"{_S}/databases/import/action",
    "Microsoft.Storage/storageAccounts/read",
    "Microsoft.Storage/storageAccounts/listKeys/action",
)


@hookimpl
def dataplane_resource_types() -> list[ResourceTypeSpec]:
    return [
        ResourceTypeSpec(
            resource_type=RESOURCE_TYPE,
            item_kinds=("database",),
            max_concurrency_per_resource=MAX_DATABASES_PER_SERVER,
            arm_api_version=ARM_API_VERSION,
            description="SQL databases: schema (template) or schema and rows (replication), "
            "through Azure's BACPAC export and import",
            options=OPTIONS,
        )
    ]


@hookimpl
def dataplane_permissions(resource_type: str, mode: ReplicationMode) -> list[Permission]:
    return [
        Permission(
            "subscription",
            SOURCE,
            side="source",
            description="read servers and databases; export databases",
            suggested_role="SQL DB Contributor",
        ),
        Permission(
            "subscription",
            (f"{_S}/databases/write", f"{_S}/databases/delete"),
            side="source",
            description="with sql.export_from_copy: make and drop the copy exported from",
            suggested_role="SQL DB Contributor",
            optional=True,
        ),
        Permission(
            "subscription",
            TARGET,
            side="target",
            description="import into databases (and make them again when asked); list the "
            "staging account's keys",
            suggested_role="SQL DB Contributor and Storage Account Contributor",
        ),
    ]


@hookimpl
def dataplane_discover(
    resource: ResourceBinding, mode: ReplicationMode, options: Mapping[str, Any]
) -> Iterator[DataPlaneItem]:
    yield from databases.items(resource, options)


@hookimpl
def dataplane_replicate_item(
    item: DataPlaneItem,
    source: ResourceBinding,
    target: ResourceBinding,
    mode: ReplicationMode,
    options: Mapping[str, Any],
    checkpoint: Checkpoint,
) -> ItemOutcome:
    if not item.copyable:
        return ItemOutcome(status="skipped", reason=item.not_copyable_reason)
    replication = ReplicationMode(mode) is ReplicationMode.REPLICATION
    return databases.replicate(item, source, target, checkpoint, options, replication)


@hookimpl
def dataplane_fingerprint(
    item: DataPlaneItem,
    resource: ResourceBinding,
    fingerprinter: Fingerprinter,
    options: Mapping[str, Any],
) -> str | None:
    """A keyed hash over a fresh export's model and data parts (``verify --shallow``: the
    model and row counts)."""
    return databases.fingerprint(item, resource, fingerprinter, options)
