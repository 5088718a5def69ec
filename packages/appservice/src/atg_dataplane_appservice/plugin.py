"""atg-dataplane hooks for ``Microsoft.Web/sites`` (web apps and function apps) and their
deployment slots.

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
from typing import Any

from atg_dataplane import (
    DataPlaneItem,
    Fingerprinter,
    ItemError,
    ItemOutcome,
    Permission,
    PluginOption,
    ReplicationMode,
    ResourceBinding,
    ResourceTypeSpec,
    hookimpl,
)
from atg_dataplane.counterparts import STORAGE_ACCOUNTS, Endpoint, counterpart, owner
from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.web import WebSiteManagementClient

from atg_dataplane_appservice import code, packages, values

RESOURCE_TYPE = "Microsoft.Web/sites"
ARM_API_VERSION = "2025-05-01"
"""What azure-mgmt-web 11 speaks (its default), for the inventory's read of each site."""
MAX_ITEMS_PER_SITE = 8
KINDS = ("app_setting", "connection_string", "storage_mount", "host_key", "function_key", "code")
SETS = {
    # kind: (collection in the item name, list method, update method, body keyword)
    "app_setting": ("appsettings", "list_application_settings", "update_application_settings",
                    "app_settings"),
    "connection_string": ("connectionstrings", "list_connection_strings",
                          "update_connection_strings", "connection_strings"),
    "storage_mount": ("azurestorageaccounts", "list_azure_storage_accounts",
                      "update_azure_storage_accounts", "azure_storage_accounts"),
}
STICKY = {
    "app_setting": "appSettingNames",
    "connection_string": "connectionStringNames",
    "storage_mount": "azureStorageConfigNames",
}
HOST_KEY_TYPES = ("functionKeys", "systemKeys")
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


# -- clients and scopes --------------------------------------------------------------------
def client(binding: ResourceBinding) -> WebSiteManagementClient:
    context = binding.context
    subscription = binding.resource.subscription_id
    found: WebSiteManagementClient = context.cached_client(
        f"appservice.mgmt:{subscription}",
        lambda: WebSiteManagementClient(
            context.credential, subscription, **context.arm_kwargs()
        ),
    )
    return found


def _call(binding: ResourceBinding, method: str, slot: str | None, *args: Any, **kw: Any) -> Any:
    """``web_apps.method`` on the site, or ``method_slot`` on one of its slots."""
    apps = client(binding).web_apps
    rg, name = binding.resource.resource_group, binding.resource.name
    if slot:
        return getattr(apps, method + "_slot")(rg, name, *args, slot=slot, **kw)
    return getattr(apps, method)(rg, name, *args, **kw)


def _slot_of(name: str) -> tuple[str | None, str]:
    """``slots/staging/appsettings/X`` -> (``staging``, ``appsettings/X``)."""
    parts = name.split("/")
    return (parts[1], "/".join(parts[2:])) if parts[0] == "slots" else (None, name)


def _prefix(slot: str | None) -> str:
    return f"slots/{slot}/" if slot else ""


def _site(binding: ResourceBinding, slot: str | None) -> Any:
    return binding.cached(f"site:{slot}", lambda: _call(binding, "get", slot))


def _is_function_app(binding: ResourceBinding) -> bool:
    return "functionapp" in str(_site(binding, None).kind or "").lower()


def _listed(binding: ResourceBinding, kind: str, slot: str | None) -> dict[str, Any]:
    """The site's or slot's settings of ``kind`` (values included: never logged)."""
    _, method, _, _ = SETS[kind]
    try:
        found = _call(binding, method, slot).properties or {}
    except ResourceNotFoundError:
        if slot:
            raise ItemError(
                f"the {binding.side} has no slot {slot!r}", remedy="create it (Terraform)"
            ) from None
        raise
    return dict(found)


def _sticky(binding: ResourceBinding) -> dict[str, list[str]]:
    def read() -> dict[str, list[str]]:
        found = client(binding).web_apps.list_slot_configuration_names(
            binding.resource.resource_group, binding.resource.name
        )
        props = found.as_dict().get("properties") or {}
        return {key: list(props.get(key) or []) for key in STICKY.values()}

    cached: dict[str, list[str]] = binding.cached("sticky", read)
    return cached


def _text(kind: str, value: Any) -> str:
    """The part of a set's entry that may point at a resource: a setting's value, a
    connection string's value, a mount's account name."""
    if kind == "app_setting":
        return str(value or "")
    if kind == "connection_string":
        return str(value.get("value") or "") if isinstance(value, Mapping) else str(value.value)
    return ""


def _entry(kind: str, value: Any) -> dict[str, Any]:
    """An entry as REST sends it, without what the service reports (a mount's state)."""
    if isinstance(value, Mapping):
        found = dict(value)
    else:
        found = dict(value.as_dict()) if hasattr(value, "as_dict") else {"value": value}
    found.pop("state", None)
    return found


# -- discovery ----------------------------------------------------------------------------
@hookimpl
def dataplane_discover(
    resource: ResourceBinding, mode: ReplicationMode, options: Mapping[str, Any]
) -> Iterator[DataPlaneItem]:
    replication = ReplicationMode(mode) is ReplicationMode.REPLICATION
    platform = values.platform_settings(options)
    slots = [None, *sorted(str(s.name).split("/")[-1] for s in _call(resource, "list_slots", None))]
    for slot in slots:
        settings = list(_settings_items(resource, slot, platform))
        yield from settings
        # what a settings write would restart under them waits for the settings
        first = tuple(item.key for item in settings)
        if _is_function_app(resource):
            yield from _host_key_items(resource, slot, first)
        if replication:
            yield from _code_items(resource, slot, first)


def _item(binding: ResourceBinding, name: str, kind: str, **kw: Any) -> DataPlaneItem:
    return DataPlaneItem(name=name, kind=kind, source_resource_id=binding.resource.id, **kw)


def _settings_items(
    binding: ResourceBinding, slot: str | None, platform: frozenset[str]
) -> Iterator[DataPlaneItem]:
    sticky = _sticky(binding)
    for kind, (collection, *_) in SETS.items():
        for key, value in sorted(_listed(binding, kind, slot).items()):
            if kind == "app_setting" and key.lower() in platform:
                continue
            props: dict[str, Any] = {
                "form": values.form(_text(kind, value), binding),
                "sticky": key in sticky[STICKY[kind]],
            }
            entry = _entry(kind, value)
            if kind == "connection_string":
                props["type"] = str(entry.get("type") or "")
            if kind == "storage_mount":
                account = str(entry.get("accountName") or "")
                if binding.side == "source":
                    account = binding.context.target_name(account)
                props.update(
                    account=account.lower(),
                    type=str(entry.get("type") or ""),
                    share=str(entry.get("shareName") or ""),
                    path=str(entry.get("mountPath") or ""),
                )
            yield _item(binding, f"{_prefix(slot)}{collection}/{key}", kind, properties=props)


def _host_keys(binding: ResourceBinding, slot: str | None) -> dict[str, dict[str, str]]:
    found = _call(binding, "list_host_keys", slot).as_dict()
    return {
        "masterKey": {"_master": str(found.get("masterKey") or "")},
        **{kind: dict(found.get(kind) or {}) for kind in HOST_KEY_TYPES},
    }


def _host_key_items(
    binding: ResourceBinding, slot: str | None, after: tuple[str, ...]
) -> Iterator[DataPlaneItem]:
    for key_type, keys in _host_keys(binding, slot).items():
        for key in sorted(keys):
            yield _item(binding, f"{_prefix(slot)}host/{key_type}/{key}", "host_key", after=after)


def _code_items(
    binding: ResourceBinding, slot: str | None, after: tuple[str, ...]
) -> Iterator[DataPlaneItem]:
    """The code (unless a package setting carries it), then each function's keys, which
    wait for whatever brings the function to the target."""
    prefix = _prefix(slot)
    settings = _listed(binding, "app_setting", slot)
    package = str(settings.get(code.PACKAGE_SETTING) or "")
    if packages.is_blob_sas(package) and owner(binding.context, STORAGE_ACCOUNTS, package):
        brought = f"app_setting:{prefix}appsettings/{code.PACKAGE_SETTING}"
    else:
        brought = f"code:{prefix}code"
        reason = code.not_copyable(_call(binding, "get_configuration", slot), settings)
        if not reason:
            try:
                code.scm_url(_site(binding, slot), binding.context)
            except ItemError as exc:
                reason = f"{exc.reason} ({exc.remedy})"
        yield _item(
            binding,
            f"{prefix}code",
            "code",
            after=after,
            copyable=not reason,
            not_copyable_reason=reason,
        )
        if reason:
            return
    if not _is_function_app(binding):
        return
    for function in sorted(_functions(binding, slot)):
        for key in sorted(_function_keys(binding, slot, function)):
            yield _item(
                binding,
                f"{prefix}functions/{function}/keys/{key}",
                "function_key",
                after=(*after, brought),
            )


def _functions(binding: ResourceBinding, slot: str | None) -> list[str]:
    return [str(f.name).split("/")[-1] for f in _call(binding, "list_functions", slot)]


def _function_keys(binding: ResourceBinding, slot: str | None, function: str) -> dict[str, str]:
    """A function's keys: the service answers a flat ``{"name": "value"}`` (not the
    ``StringDictionary`` its specification names), so read both shapes."""
    found = dict(_call(binding, "list_function_keys", slot, function).as_dict())
    inner = found.get("properties")
    if isinstance(inner, Mapping):
        return {str(k): str(v) for k, v in inner.items()}
    return {
        str(k): str(v)
        for k, v in found.items()
        if k not in ("id", "name", "type", "kind", "location") and isinstance(v, str)
    }


def _archive(binding: ResourceBinding, slot: str | None) -> bytes:
    """The site's or slot's code as Kudu zips it (never kept: a site may be large)."""
    return code.download(client(binding), code.scm_url(_site(binding, slot), binding.context))


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
    slot, rest = _slot_of(item.name)
    if item.kind in SETS:
        key = rest.split("/", 1)[1]
        settle = target.once(
            f"{item.kind}:{slot}",
            lambda: _write_set(item.kind, slot, source, target, replication, options),
        )
        sticky = target.once("sticky", lambda: _write_sticky(source, target))
        outcome = settle.get(key)
        if isinstance(outcome, ItemError):
            raise outcome
        changed = outcome == "replicated" or key in sticky.get(STICKY[item.kind], ())
        warnings: tuple[str, ...] = ()
        placeholder = item.kind != "storage_mount" and item.properties.get("form") == "value"
        if not replication and placeholder and outcome == "replicated":
            warnings = (f"{item.name}: written as a template placeholder",)
        return ItemOutcome(status="replicated" if changed else "unchanged", warnings=warnings)
    if item.kind == "host_key":
        key_type, name = rest.split("/")[1:3]
        return _write_key(item, source, target, replication, slot, ("host", key_type, name))
    if item.kind == "function_key":
        function, name = rest.split("/")[1], rest.split("/")[3]
        return _write_key(item, source, target, replication, slot, ("function", function, name))
    if not item.copyable:
        return ItemOutcome(status="skipped", reason=item.not_copyable_reason)
    return _write_code(source, target, slot, fingerprinter)


def _write_set(
    kind: str,
    slot: str | None,
    source: ResourceBinding,
    target: ResourceBinding,
    replication: bool,
    options: Mapping[str, Any],
) -> dict[str, Any]:
    """Merge the source's entries of ``kind`` into the target's and write them once; the
    outcome of each entry (``replicated``, ``unchanged`` or its :class:`ItemError`)."""
    platform = values.platform_settings(options)
    theirs = {k: _entry(kind, v) for k, v in _listed(target, kind, slot).items()}
    wanted = dict(theirs)
    outcomes: dict[str, Any] = {}
    keys: dict[str, str] = {}

    def account_key(endpoint: Endpoint) -> str:
        if endpoint.name not in keys:
            keys[endpoint.name] = _account_key(target, endpoint)
        return keys[endpoint.name]

    for key, value in _listed(source, kind, slot).items():
        if kind == "app_setting" and key.lower() in platform:
            continue
        try:
            entry = _target_entry(
                kind, key, value, theirs, source, target, replication, account_key
            )
        except ItemError as exc:
            outcomes[key] = exc
            continue
        outcomes[key] = "unchanged" if theirs.get(key) == entry else "replicated"
        wanted[key] = entry
    if any(outcome == "replicated" for outcome in outcomes.values()):
        _, _, update, body = SETS[kind]
        shaped = {k: (v["value"] if kind == "app_setting" else v) for k, v in wanted.items()}
        _call(target, update, slot, **{body: {"properties": shaped}})
    return outcomes


def _target_entry(
    kind: str,
    key: str,
    value: Any,
    theirs: dict[str, dict[str, Any]],
    source: ResourceBinding,
    target: ResourceBinding,
    replication: bool,
    account_key: Any,
) -> dict[str, Any]:
    entry = _entry(kind, value)
    if kind == "storage_mount":
        account = str(entry.get("accountName") or "")
        there = counterpart(source, target, STORAGE_ACCOUNTS, account, "blob")
        return {**entry, "accountName": there.name, "accessKey": account_key(there)}
    text = _text(kind, value)
    if not replication and values.form(text, source) == "value" and key in theirs:
        return theirs[key]  # template mode never overwrites a value the target has
    current = str(theirs.get(key, {}).get("value") or "")

    def copy_blob(source_url: str, moved: str, there: Endpoint) -> str:
        here = packages.is_blob_sas(current) and current.split("?", 1)[0] == moved
        if here and packages.same(source_url, current, source.context, target.context):
            return current  # the same blob behind the same path: nothing to do
        return packages.copy(
            source_url, moved, there.url, there.name, account_key(there), target.context
        )

    rewritten = values.written(text, source, target, replication, account_key, copy_blob)
    if not replication and current.split("?", 1)[0] == rewritten:
        return theirs[key]  # the same blob path with the target's own SAS: keep it
    return {**entry, "value": rewritten}


def _write_sticky(source: ResourceBinding, target: ResourceBinding) -> dict[str, set[str]]:
    """Add the source's slot-sticky names to the target's; the names added, per list."""
    theirs, ours = _sticky(target), _sticky(source)
    added = {k: set(ours[k]) - set(theirs[k]) for k in STICKY.values()}
    if any(added.values()):
        merged = {k: sorted(set(theirs[k]) | set(ours[k])) for k in STICKY.values()}
        client(target).web_apps.update_slot_configuration_names(
            target.resource.resource_group, target.resource.name, {"properties": merged}
        )
    return added


def _account_key(target: ResourceBinding, endpoint: Endpoint) -> str:
    from azure.mgmt.storage import StorageManagementClient

    context = target.context
    storage = context.cached_client(
        "appservice.storage",
        lambda: StorageManagementClient(
            context.credential, context.subscription_id, **context.arm_kwargs()
        ),
    )
    group = endpoint.resource_id.split("/")[4]
    listed = storage.storage_accounts.list_keys(group, endpoint.name).as_dict()
    return str(listed["keys"][0]["value"])


def _key_value(
    binding: ResourceBinding, slot: str | None, where: tuple[str, str, str]
) -> str | None:
    scope, owner_name, name = where
    if scope == "host":
        return _host_keys(binding, slot).get(owner_name, {}).get(name)
    try:
        keys = _function_keys(binding, slot, owner_name)
    except ResourceNotFoundError:
        raise ItemError(
            f"the function {owner_name!r} is not in the {binding.side}'s code",
            remedy="deploy the code (replication mode copies it) and re-run",
        ) from None
    return keys.get(name)


def _write_key(
    item: DataPlaneItem,
    source: ResourceBinding,
    target: ResourceBinding,
    replication: bool,
    slot: str | None,
    where: tuple[str, str, str],
) -> ItemOutcome:
    """A host or function key: in template mode made by the service, in replication mode
    set to the source's value (the service reads it only inside ``properties``)."""
    theirs = _key_value(target, slot, where)
    wanted = _key_value(source, slot, where) if replication else None
    if theirs is not None and (not replication or theirs == wanted):
        return ItemOutcome(status="unchanged")
    info = {"name": where[2], **({"value": wanted} if wanted else {})}
    body = {"properties": info}
    if where[0] == "host":
        _call(target, "create_or_update_host_secret", slot, where[1], where[2], key=body)
    else:
        _call(target, "create_or_update_function_secret", slot, where[1], where[2], key=body)
    return ItemOutcome(status="replicated")


def _write_code(
    source: ResourceBinding,
    target: ResourceBinding,
    slot: str | None,
    fingerprinter: Fingerprinter,
) -> ItemOutcome:
    archive = _archive(source, slot)
    scm = code.scm_url(_site(target, slot), target.context)
    if code.fingerprint(code.download(client(target), scm), fingerprinter) == code.fingerprint(
        archive, fingerprinter
    ):
        return ItemOutcome(status="unchanged")
    code.deploy(client(target), scm, archive, target.context)
    if _is_function_app(target):
        _call(target, "sync_function_triggers", slot)
    return ItemOutcome(status="replicated", bytes_copied=len(archive), client_bytes=len(archive))


# -- verification -------------------------------------------------------------------------
@hookimpl
def dataplane_fingerprint(
    item: DataPlaneItem, resource: ResourceBinding, fingerprinter: Fingerprinter
) -> str | None:
    """Values, keys and code by keyed hash; references are compared in the properties."""
    slot, rest = _slot_of(item.name)
    if item.kind in SETS:
        key = rest.split("/", 1)[1]
        entries = resource.cached(
            f"verify:{item.kind}:{slot}", lambda: _listed(resource, item.kind, slot)
        )
        text = _text(item.kind, entries.get(key))
        if packages.is_blob_sas(text):  # the blob it hands the app: size and source ETag
            return fingerprinter.of(list(packages.identity(text, resource.context)))
        if item.properties.get("form") != "value":
            return None
        return fingerprinter.of(text)
    if item.kind == "host_key":
        key_type, name = rest.split("/")[1:3]
        return fingerprinter.of(_key_value(resource, slot, ("host", key_type, name)) or "")
    if item.kind == "function_key":
        function, name = rest.split("/")[1], rest.split("/")[3]
        return fingerprinter.of(_key_value(resource, slot, ("function", function, name)) or "")
    if item.kind == "code" and item.copyable:
        return code.fingerprint(_archive(resource, slot), fingerprinter)
    return None
