"""atg-dataplane hooks for ``Microsoft.Web/sites`` (web apps and function apps) and their
deployment slots: each room of the plugin is a module (``settings.py``, ``keys.py``,
``code.py``; references in values: ``values.py`` and ``packages.py``; shared calls:
``sites.py``); this one answers the hooks and says what permissions they need.

Terraform recreates the app; this fills it, for the site and each slot: every app setting,
connection string and storage mount is an item (``appsettings/NAME``,
``slots/staging/connectionstrings/NAME``), and so are a function app's host keys and
function keys and, in replication mode, the deployed code. The settings of one site or
slot are written together (one read of the target, one write: each write restarts the
app), merged into what the target has, so a setting only the target has stays; slot-sticky
names are merged into the site's. Values that point at source resources (Key Vault
references, storage connection strings and URLs) are re-pointed at their counterparts in
both modes (``values.py``); other values are placeholders in template mode. Code goes
through Kudu (``code.py``); a function app's triggers are synced after it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from atg_dataplane import (
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

from atg_dataplane_appservice import values  # no SDK: its names are read as plugins load

if TYPE_CHECKING:
    from atg_dataplane_appservice import code, keys, settings, sites
else:  # imported when a resource of this type is first worked on
    code = deferred("atg_dataplane_appservice.code")
    keys = deferred("atg_dataplane_appservice.keys")
    settings = deferred("atg_dataplane_appservice.settings")
    sites = deferred("atg_dataplane_appservice.sites")

RESOURCE_TYPE = "Microsoft.Web/sites"
ARM_API_VERSION = "2025-05-01"
"""What azure-mgmt-web 11 speaks (its default), for the inventory's read of each site."""
MAX_ITEMS_PER_SITE = 8
KINDS = ("app_setting", "connection_string", "storage_mount", "host_key", "function_key", "code")
OPTIONS = (
    PluginOption(
        "appservice.platform_settings",
        kind="list",
        default=list(values.PLATFORM_SETTINGS),
        help="app settings the target platform owns (kept as the target has them)",
    ),
)
_W = RESOURCE_TYPE
_SCOPED = (
    "config/list/action",
    "config/read",
    "functions/read",
    "host/listkeys/action",
    "functions/listkeys/action",
    "publish/action",
)
READS = (
    f"{_W}/read",
    f"{_W}/slots/read",
    *(f"{_W}/{action}" for action in _SCOPED),
    *(f"{_W}/slots/{action}" for action in _SCOPED),
)
_WRITTEN = (
    "config/write",
    "host/functionKeys/write",
    "host/systemKeys/write",
    "host/masterKey/write",
    "functions/keys/write",
    "syncfunctiontriggers/action",
)
WRITES = (
    *(f"{_W}/{action}" for action in _WRITTEN),
    *(f"{_W}/slots/{action}" for action in _WRITTEN),
)


@hookimpl
def dataplane_resource_types() -> list[ResourceTypeSpec]:
    return [
        ResourceTypeSpec(
            resource_type=RESOURCE_TYPE,
            item_kinds=KINDS,
            max_concurrency_per_resource=MAX_ITEMS_PER_SITE,
            arm_api_version=ARM_API_VERSION,
            description="App Service and Functions: app settings, connection strings, "
            "storage mounts, slot-sticky names, host and function keys, code (per slot too)",
            options=OPTIONS,
        )
    ]


@hookimpl
def dataplane_permissions(resource_type: str, mode: ReplicationMode) -> list[Permission]:
    role = "Website Contributor"
    return [
        Permission(
            "resource",
            READS,
            side="source",
            resource_type=RESOURCE_TYPE,
            description="read settings, keys and code (config/list, listkeys, Kudu)",
            suggested_role=role,
        ),
        Permission(
            "resource",
            READS + WRITES,
            side="target",
            resource_type=RESOURCE_TYPE,
            description="write settings and keys, deploy code",
            suggested_role=role,
        ),
        Permission(  # any https:// value is looked up among the side's accounts
            "subscription",
            ("Microsoft.Storage/storageAccounts/read", "Microsoft.KeyVault/vaults/read"),
            side="source",
            description="find the vaults and storage accounts settings point at",
            suggested_role="Reader",
        ),
        Permission(
            "subscription",
            (
                "Microsoft.Storage/storageAccounts/read",
                "Microsoft.Storage/storageAccounts/listKeys/action",
                "Microsoft.KeyVault/vaults/read",
            ),
            side="target",
            description="point references at the target's vaults and accounts (its own keys)",
            suggested_role="Storage Account Contributor",
        ),
    ]


# -- discovery ----------------------------------------------------------------------------
@hookimpl
def dataplane_discover(
    resource: ResourceBinding, mode: ReplicationMode, options: Mapping[str, Any]
) -> Iterator[DataPlaneItem]:
    replication = ReplicationMode(mode) is ReplicationMode.REPLICATION
    platform = values.platform_settings(options)
    for slot in sites.slots(resource):
        # listed once: the settings' items and the code's package setting both read them
        app_settings = settings.listed(resource, "app_setting", slot)
        found = list(settings.items(resource, slot, platform, {"app_setting": app_settings}))
        yield from found
        # what a settings write would restart under them waits for the settings
        first = tuple(item.key for item in found)
        function_app = sites.is_function_app(resource)
        if function_app:
            yield from keys.host_key_items(resource, slot, first)
        if not replication:
            continue  # code, and the functions it brings, travel in replication mode
        made, brings = code.items(resource, slot, first, app_settings)
        yield from made
        if function_app and all(item.copyable for item in made):
            yield from keys.function_key_items(resource, slot, (*first, brings))


# -- replication --------------------------------------------------------------------------
@hookimpl
def dataplane_replicate_item(
    item: DataPlaneItem,
    source: ResourceBinding,
    target: ResourceBinding,
    mode: ReplicationMode,
    options: Mapping[str, Any],
    fingerprinter: Fingerprinter,
) -> ItemOutcome:
    replication = ReplicationMode(mode) is ReplicationMode.REPLICATION
    if item.kind in settings.SETS:
        return settings.replicate(item, source, target, replication, options)
    if item.kind in ("host_key", "function_key"):
        return keys.replicate(item, source, target, replication)
    return code.replicate(item, source, target, fingerprinter)


# -- verification -------------------------------------------------------------------------
@hookimpl
def dataplane_fingerprint(
    item: DataPlaneItem, resource: ResourceBinding, fingerprinter: Fingerprinter
) -> str | None:
    """Values, keys and code by keyed hash; references are compared in the properties."""
    if item.kind in settings.SETS:
        return settings.fingerprint(item, resource, fingerprinter)
    if item.kind in ("host_key", "function_key"):
        return keys.fingerprint(item, resource, fingerprinter)
    if item.kind == "code" and item.copyable:
        slot, _ = sites.slot_of(item.name)
        return code.fingerprint(code.archive(resource, slot), fingerprinter)
    return None
