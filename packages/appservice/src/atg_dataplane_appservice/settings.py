"""App settings, connection strings and storage mounts of a site or slot, and the site's
slot-sticky names.

Each entry is an item, so verify says which one differs; but a set is written once per run
(every write restarts the app), merged into what the target has: an entry only the target
has stays, and the platform's own settings (``values.PLATFORM_SETTINGS``) are the
target's. Values go through ``values.py`` (references re-pointed, placeholders in template
mode) and, for a blob URL with a SAS, ``packages.py``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from atg_dataplane import (
    DataPlaneItem,
    Fingerprinter,
    ItemError,
    ItemOutcome,
    ResourceBinding,
)
from atg_dataplane.counterparts import STORAGE_ACCOUNTS, Endpoint, counterpart
from azure.core.exceptions import ResourceNotFoundError

from atg_dataplane_appservice import packages, sites, values

SETS = {
    # kind: (collection in the item name, list method, update method, body keyword)
    "app_setting": (
        "appsettings",
        "list_application_settings",
        "update_application_settings",
        "app_settings",
    ),
    "connection_string": (
        "connectionstrings",
        "list_connection_strings",
        "update_connection_strings",
        "connection_strings",
    ),
    "storage_mount": (
        "azurestorageaccounts",
        "list_azure_storage_accounts",
        "update_azure_storage_accounts",
        "azure_storage_accounts",
    ),
}
STICKY = {
    "app_setting": "appSettingNames",
    "connection_string": "connectionStringNames",
    "storage_mount": "azureStorageConfigNames",
}


def listed(binding: ResourceBinding, kind: str, slot: str | None) -> dict[str, Any]:
    """The site's or slot's entries of ``kind`` (values included: never logged)."""
    _, method, _, _ = SETS[kind]
    try:
        found = sites.call(binding, method, slot).properties or {}
    except ResourceNotFoundError:
        if slot:
            raise ItemError(
                f"the {binding.side} has no slot {slot!r}", remedy="create it (Terraform)"
            ) from None
        raise
    return dict(found)


def sticky_names(binding: ResourceBinding) -> dict[str, list[str]]:
    def read() -> dict[str, list[str]]:
        found = sites.client(binding).web_apps.list_slot_configuration_names(
            binding.resource.resource_group, binding.resource.name
        )
        props = found.as_dict().get("properties") or {}
        return {key: list(props.get(key) or []) for key in STICKY.values()}

    cached: dict[str, list[str]] = binding.cached("sticky", read)
    return cached


def text(kind: str, value: Any) -> str:
    """The part of an entry that may point at a resource: a setting's value, a connection
    string's value (a mount's account is handled on its own)."""
    if kind == "app_setting":
        return str(value or "")
    if kind == "connection_string":
        return str(value.get("value") or "") if isinstance(value, Mapping) else str(value.value)
    return ""


def entry(value: Any) -> dict[str, Any]:
    """An entry as REST sends it, without what the service reports (a mount's state)."""
    if isinstance(value, Mapping):
        found = dict(value)
    else:
        found = dict(value.as_dict()) if hasattr(value, "as_dict") else {"value": value}
    found.pop("state", None)
    return found


def items(
    binding: ResourceBinding,
    slot: str | None,
    platform: frozenset[str],
    known: Mapping[str, Mapping[str, Any]] | None = None,
) -> Iterator[DataPlaneItem]:
    """The entries of every set (``known``: sets the caller has just listed, by kind)."""
    sticky = sticky_names(binding)
    for kind, (collection, *_) in SETS.items():
        entries = (known or {}).get(kind)
        if entries is None:
            entries = listed(binding, kind, slot)
        for key, value in sorted(entries.items()):
            if kind == "app_setting" and key.lower() in platform:
                continue
            props: dict[str, Any] = {
                "form": values.form(text(kind, value), binding),
                "sticky": key in sticky[STICKY[kind]],
            }
            found = entry(value)
            if kind == "connection_string":
                props["type"] = str(found.get("type") or "")
            if kind == "storage_mount":
                account = str(found.get("accountName") or "")
                if binding.side == "source":
                    account = binding.context.target_name(account)
                props.update(
                    account=account.lower(),
                    type=str(found.get("type") or ""),
                    share=str(found.get("shareName") or ""),
                    path=str(found.get("mountPath") or ""),
                )
            name = f"{sites.prefix(slot)}{collection}/{key}"
            yield sites.item(binding, name, kind, properties=props)


def replicate(
    item: DataPlaneItem,
    source: ResourceBinding,
    target: ResourceBinding,
    replication: bool,
    options: Mapping[str, Any],
) -> ItemOutcome:
    """This entry's outcome of its set's one write (and of the sticky names' merge)."""
    slot, rest = sites.slot_of(item.name)
    key = rest.split("/", 1)[1]
    settle = target.once(
        f"{item.kind}:{slot}",
        lambda: _write_set(item.kind, slot, source, target, replication, options),
    )
    added = target.once("sticky", lambda: _write_sticky(source, target))
    outcome = settle.get(key)
    if isinstance(outcome, ItemError):
        raise outcome
    changed = outcome == "replicated" or key in added.get(STICKY[item.kind], ())
    warnings: tuple[str, ...] = ()
    placeholder = item.kind != "storage_mount" and item.properties.get("form") == "value"
    if not replication and placeholder and outcome == "replicated":
        warnings = (f"{item.name}: written as a template placeholder",)
    return ItemOutcome(status="replicated" if changed else "unchanged", warnings=warnings)


def fingerprint(
    item: DataPlaneItem, resource: ResourceBinding, fingerprinter: Fingerprinter
) -> str | None:
    """A plain value by keyed hash; a blob URL with a SAS by the blob it hands the app;
    references are compared in the properties."""
    slot, rest = sites.slot_of(item.name)
    key = rest.split("/", 1)[1]
    entries = resource.cached(
        f"verify:{item.kind}:{slot}", lambda: listed(resource, item.kind, slot)
    )
    found = text(item.kind, entries.get(key))
    if packages.is_blob_sas(found):  # size and content hash
        return fingerprinter.of(list(packages.identity(found, resource.context)))
    if item.properties.get("form") != "value":
        return None
    return fingerprinter.of(found)


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
    theirs = {k: entry(v) for k, v in listed(target, kind, slot).items()}
    wanted = dict(theirs)
    outcomes: dict[str, Any] = {}
    keys: dict[str, str] = {}

    def account_key(endpoint: Endpoint) -> str:
        if endpoint.name not in keys:
            keys[endpoint.name] = _account_key(target, endpoint)
        return keys[endpoint.name]

    for key, value in listed(source, kind, slot).items():
        if kind == "app_setting" and key.lower() in platform:
            continue
        try:
            found = _target_entry(
                kind, key, value, theirs, source, target, replication, account_key
            )
        except ItemError as exc:
            outcomes[key] = exc
            continue
        outcomes[key] = "unchanged" if theirs.get(key) == found else "replicated"
        wanted[key] = found
    if any(outcome == "replicated" for outcome in outcomes.values()):
        _, _, update, body = SETS[kind]
        shaped = {k: (v["value"] if kind == "app_setting" else v) for k, v in wanted.items()}
        sites.call(target, update, slot, **{body: {"properties": shaped}})
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
    found = entry(value)
    if kind == "storage_mount":
        account = str(found.get("accountName") or "")
        there = counterpart(source, target, STORAGE_ACCOUNTS, account, "blob")
        return {**found, "accountName": there.name, "accessKey": account_key(there)}
    plain = text(kind, value)
    if not replication and values.form(plain, source) == "value" and key in theirs:
        return theirs[key]  # template mode never overwrites a value the target has
    current = str(theirs.get(key, {}).get("value") or "")

    def copy_blob(source_url: str, moved: str, there: Endpoint) -> str:
        here = packages.is_blob_sas(current) and current.split("?", 1)[0] == moved
        if here and packages.same(source_url, current, source.context, target.context):
            return current  # the same blob behind the same path: nothing to do
        return packages.copy(
            source_url, moved, there.url, there.name, account_key(there), target.context
        )

    rewritten = values.written(plain, source, target, replication, account_key, copy_blob)
    if not replication and current.split("?", 1)[0] == rewritten:
        return theirs[key]  # the same blob path with the target's own SAS: keep it
    return {**found, "value": rewritten}


def _write_sticky(source: ResourceBinding, target: ResourceBinding) -> dict[str, set[str]]:
    """Add the source's slot-sticky names to the target's; the names added, per list."""
    theirs, ours = sticky_names(target), sticky_names(source)
    added = {k: set(ours[k]) - set(theirs[k]) for k in STICKY.values()}
    if any(added.values()):
        merged = {k: sorted(set(theirs[k]) | set(ours[k])) for k in STICKY.values()}
        sites.client(target).web_apps.update_slot_configuration_names(
            target.resource.resource_group, target.resource.name, {"properties": merged}
        )
    return added


def _account_key(target: ResourceBinding, endpoint: Endpoint) -> str:
    """The target account's key, for a rewritten connection string or mount."""
    from azure.mgmt.storage import StorageManagementClient

    storage = target.context.mgmt(StorageManagementClient, endpoint.resource_id.split("/")[2])
    group = endpoint.resource_id.split("/")[4]
    found = storage.storage_accounts.list_keys(group, endpoint.name).as_dict()
    return str(found["keys"][0]["value"])
