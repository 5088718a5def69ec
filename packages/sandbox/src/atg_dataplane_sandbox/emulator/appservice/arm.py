"""Microsoft.Web/sites (web apps and function apps) and their slots, for the ARM resource
tree; shapes per the 2025-05-01 specification (``specification/web/resource-manager``).

Declared on the tree: ``slots``, ``config`` (``appsettings``, ``connectionstrings`` and
``azurestorageaccounts`` are read only through their ``list`` action, as Azure serves them;
``slotConfigNames`` and ``web`` by GET) and ``functions`` (read only: what the deployed
code holds, as the Functions host found it at the last trigger sync), for sites and slots
alike. Code here does what the tree cannot: a site or slot starts with empty settings and
gets its SCM (Kudu) host; function apps get a master key, a default host key and a
default key per function; keys are listed with ``host/default/listkeys`` and
``functions/{name}/listkeys`` and set with ``host/default/{functionKeys|systemKeys}/{name}``
(the master key: ``host/default/masterKey/_master``) and ``functions/{name}/keys/{name}``;
``syncfunctiontriggers`` re-reads the code.

The sandbox has one Kudu listener (``kudu.py``): a site's SCM host is that listener with
the site's SCM name (``site``, ``site-slot``) as the first path segment, where Azure has
``{name}.scm.azurewebsites.net``; clients build ``https://{host}/api/...`` either way.
"""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

from atg_dataplane_sandbox.emulator.appservice import code
from atg_dataplane_sandbox.emulator.common.arm import ArmContext, read_json_body
from atg_dataplane_sandbox.emulator.common.errors import AzureError, json_response
from atg_dataplane_sandbox.emulator.common.providers import ChildType, Provider, declare, register

SITE_TYPE = "Microsoft.Web/sites"
SLOT_TYPE = f"{SITE_TYPE}/slots"
CHILDREN = "web_children"
KEYS = "web_keys"
"""Store section: scope id -> ``{masterKey, functionKeys, systemKeys, functions}``."""
API_VERSIONS = (
    "2022-03-01",
    "2022-09-01",
    "2023-01-01",
    "2023-12-01",
    "2024-04-01",
    "2024-11-01",
    "2025-03-01",
    "2025-05-01",
)
CONFIG_NAMES = (
    "appsettings",
    "connectionstrings",
    "slotConfigNames",
    "azurestorageaccounts",
    "web",
)
PRIVATE = frozenset({"appsettings", "connectionstrings", "azurestorageaccounts"})
_CONNECTION_TYPES = frozenset(
    {
        "mysql",
        "sqlserver",
        "sqlazure",
        "custom",
        "notificationhub",
        "servicebus",
        "eventhub",
        "apihub",
        "docdb",
        "rediscache",
        "postgresql",
    }
)
_EMPTY_CONFIG: dict[str, dict[str, Any]] = {
    "appsettings": {},
    "connectionstrings": {},
    "slotConfigNames": {"appSettingNames": [], "connectionStringNames": []},
    "azurestorageaccounts": {},
    "web": {"alwaysOn": False, "http20Enabled": True, "minTlsVersion": "1.2"},
}


def _key() -> str:
    return secrets.token_urlsafe(40)


def _hosts(ctx: ArmContext, scope_id: str, scm_name: str) -> dict[str, Any]:
    """Host names of a site or slot; its SCM name registered with Kudu."""
    ctx.section(code.SCM_SECTION)[scm_name.lower()] = scope_id
    scm = f"{ctx.emu.urls.get('kudu', 'https://127.0.0.1:0').removeprefix('https://')}/{scm_name}"
    default = f"{scm_name}.azurewebsites.net"
    return {
        "defaultHostName": default,
        "enabledHostNames": [default, scm],
        "hostNameSslStates": [
            {"name": default, "sslState": "Disabled", "hostType": "Standard"},
            {"name": scm, "sslState": "Disabled", "hostType": "Repository"},
        ],
        "state": "Running",
    }


def _start(ctx: ArmContext, scope_id: str, scope_type: str, function_app: bool) -> None:
    """A new site or slot: empty settings; a function app's host keys."""
    stored = ctx.section(CHILDREN)
    for name, props in _EMPTY_CONFIG.items():
        item_id = f"{scope_id}/config/{name}"
        stored.setdefault(
            item_id.lower(),
            {
                "id": item_id,
                "name": name,
                "type": f"{scope_type}/config",
                "properties": dict(props),
            },
        )
    if function_app:
        ctx.section(KEYS).setdefault(
            scope_id.lower(),
            {"masterKey": _key(), "functionKeys": {"default": _key()}, "systemKeys": {}},
        )
    ctx.touch()


def _is_function_app(site: dict[str, Any]) -> bool:
    return "functionapp" in str(site.get("kind") or "").lower()


class WebSites(Provider):
    namespace = "Microsoft.Web"
    resource_type = "sites"
    created_status = 200

    async def on_put(
        self, ctx: ArmContext, resource: dict[str, Any], existing: dict[str, Any] | None
    ) -> dict[str, Any]:
        resource["kind"] = resource.get("kind") or "app"
        props = resource["properties"]
        props.setdefault("siteConfig", {})
        props.update(_hosts(ctx, resource["id"], resource["name"]))
        _start(ctx, resource["id"], SITE_TYPE, _is_function_app(resource))
        return resource

    async def on_delete(self, ctx: ArmContext, resource: dict[str, Any]) -> None:
        code.drop(ctx.emu.store, resource["id"])
        keys = ctx.section(KEYS)
        prefix = resource["id"].lower()
        for scope in [s for s in keys if s == prefix or s.startswith(prefix + "/")]:
            del keys[scope]

    async def child(
        self, ctx: ArmContext, resource: dict[str, Any], rest: list[str]
    ) -> web.StreamResponse | None:
        scope, scope_type = resource, SITE_TYPE
        if len(rest) > 2 and rest[0].lower() == "slots":
            slot_id = f"{resource['id']}/slots/{rest[1]}"
            found = ctx.section(CHILDREN).get(slot_id.lower())
            if found is None:
                raise AzureError(404, "ResourceNotFound", f"The slot '{rest[1]}' was not found.")
            scope, scope_type, rest = found, SLOT_TYPE, rest[2:]
        if not _is_function_app(resource):
            return None
        return await _functions_paths(ctx, scope, scope_type, [r.lower() for r in rest])


async def _functions_paths(
    ctx: ArmContext, scope: dict[str, Any], scope_type: str, low: list[str]
) -> web.StreamResponse | None:
    method = ctx.request.method
    scope_id = scope["id"]
    keys = ctx.section(KEYS).setdefault(
        scope_id.lower(), {"masterKey": _key(), "functionKeys": {}, "systemKeys": {}}
    )
    if low == ["syncfunctiontriggers"] and method == "POST":
        ctx.require(f"{scope_type}/syncfunctiontriggers/action", scope_id)
        sync(ctx.emu.store, scope_id)
        return web.Response(status=204)
    if low == ["host", "default", "listkeys"] and method == "POST":
        ctx.require(f"{scope_type}/host/listkeys/action", scope_id)
        shown = {k: keys[k] for k in ("masterKey", "functionKeys", "systemKeys")}
        return json_response(shown)
    host_key = len(low) == 4 and low[:2] == ["host", "default"]
    if host_key and low[2] == "masterkey" and low[3] == "_master" and method == "PUT":
        master = {"_master": keys["masterKey"]}  # the one master key, set by its name
        answer = _key_item(ctx, f"{scope_type}/host/masterKey", scope_id, master, "_master")
        keys["masterKey"] = master["_master"]
        return answer
    if host_key and low[2] in ("functionkeys", "systemkeys"):
        section = "functionKeys" if low[2] == "functionkeys" else "systemKeys"
        return _key_item(ctx, f"{scope_type}/host/{section}", scope_id, keys[section], low[3])
    if len(low) >= 3 and low[0] == "functions":
        function = low[1]
        if function not in {name.lower() for name in synced(ctx.emu.store, scope_id)}:
            raise AzureError(404, "NotFound", f"Function '{function}' does not exist.")
        own = keys.setdefault("functions", {}).setdefault(function, {"default": _key()})
        if low[2:] == ["listkeys"] and method == "POST":
            ctx.require(f"{scope_type}/functions/listkeys/action", scope_id)
            return json_response(dict(own))  # flat, as the service answers (not wrapped)
        if len(low) == 4 and low[2] == "keys":
            return _key_item(ctx, f"{scope_type}/functions/keys", scope_id, own, low[3])
    return None


def _key_item(
    ctx: ArmContext, action: str, scope_id: str, keys: dict[str, str], name: str
) -> web.Response:
    """PUT (a value given, or made) or DELETE of one named key. The service reads the value
    only from ``{"properties": {"name", "value"}}``: a body without the wrapper gets a key
    it makes itself, as Azure's does."""
    method = ctx.request.method
    if method == "PUT":
        ctx.require(f"{action}/write", scope_id)
        body = read_json_body(ctx.body if ctx.body is not None else {})
        info = body.get("properties") if isinstance(body.get("properties"), dict) else {}
        value = str(info.get("value") or _key())
        if len(value) < 16:
            raise AzureError(400, "BadRequest", "A key value must be at least 16 characters.")
        existed = name in keys
        keys[name] = value
        ctx.touch()
        shown = {"properties": {"name": name, "value": value}}
        return json_response(shown, status=200 if existed else 201)
    if method == "DELETE":
        ctx.require(f"{action}/delete", scope_id)
        existed = keys.pop(name, None) is not None
        ctx.touch()
        return web.Response(status=204 if existed else 404)
    raise AzureError(405, "MethodNotAllowed", f"The method '{method}' is not allowed.")


# -- functions: what the code holds, as of the last trigger sync ---------------------------
SYNCED = "site_functions"
"""Store section: scope id -> function name -> its function.json (at the last sync)."""


def sync(store: Any, scope_id: str) -> None:
    store.section(SYNCED)[scope_id.lower()] = code.functions(store, scope_id)
    store.touch()


def synced(store: Any, scope_id: str) -> dict[str, dict[str, Any]]:
    return dict(store.section(SYNCED).get(scope_id.lower()) or {})


def _functions(ctx: ArmContext, scope: dict[str, Any]) -> list[dict[str, Any]]:
    site = scope["id"].split("/")[8]
    out = []
    for name, config in sorted(synced(ctx.emu.store, scope["id"]).items()):
        out.append(
            {
                "id": f"{scope['id']}/functions/{name}",
                "name": f"{site}/{name}",
                "type": f"{SITE_TYPE}/functions",
                "properties": {  # as the service spells them (snake case, but one)
                    "function_app_id": "/".join(scope["id"].split("/")[:9]),
                    "config": config,
                    "language": config.get("language") or "node",
                    "isDisabled": bool(config.get("disabled")),
                    "invoke_url_template": f"https://{site}.azurewebsites.net/api/{name}",
                },
            }
        )
    return out


# -- configuration -------------------------------------------------------------------------
def _config(
    ctx: ArmContext, scope: dict[str, Any], found: dict[str, Any] | None, props: dict[str, Any]
) -> dict[str, Any]:
    name = ctx.request.path.rsplit("/", 1)[-1].lower()
    if name == "appsettings":
        bad = [k for k, v in props.items() if not isinstance(v, str)]
        if bad:
            raise AzureError(400, "BadRequest", f"Setting values must be strings: {bad[0]}.")
    elif name == "connectionstrings":
        for key, value in props.items():
            kind = str((value or {}).get("type") or "").lower()
            if not isinstance(value, dict) or kind not in _CONNECTION_TYPES:
                raise AzureError(
                    400, "BadRequest", f"Connection string '{key}' needs a value and a known type."
                )
    elif name == "slotconfignames":
        if scope["type"].lower() == SLOT_TYPE.lower():
            raise AzureError(
                400, "BadRequest", "Slot-sticky names are set on the site, not on a slot."
            )
        props = {k: list(props.get(k) or []) for k in ("appSettingNames", "connectionStringNames",
                                                        "azureStorageConfigNames")}
    elif name == "azurestorageaccounts":
        for key, value in props.items():
            if not isinstance(value, dict) or value.get("type") not in ("AzureFiles", "AzureBlob"):
                raise AzureError(400, "BadRequest", f"Storage mount '{key}' needs a type.")
            for field in ("accountName", "shareName", "mountPath"):
                if not value.get(field):
                    raise AzureError(400, "BadRequest", f"Storage mount '{key}' needs {field}.")
            value["state"] = "Ok"
    return props


def _slot(
    ctx: ArmContext, site: dict[str, Any], found: dict[str, Any] | None, props: dict[str, Any]
) -> dict[str, Any]:
    slot = ctx.request.path.rsplit("/", 1)[-1]
    slot_id = f"{site['id']}/slots/{slot}"
    props = {**props, **_hosts(ctx, slot_id, f"{site['name']}-{slot}")}
    props.setdefault("siteConfig", {})
    _start(ctx, slot_id, SLOT_TYPE, _is_function_app(site))
    return props


register(WebSites())
SLOTS = declare(
    ChildType(
        parent=SITE_TYPE,
        name="slots",
        api_versions=API_VERSIONS,
        shape=_slot,
        section=CHILDREN,
        created_status=200,
    )
)
for parent in (SITE_TYPE, SLOT_TYPE):
    declare(
        ChildType(
            parent=parent,
            name="config",
            api_versions=API_VERSIONS,
            names=CONFIG_NAMES,
            private=PRIVATE,
            reveal="list",
            shape=_config,
            section=CHILDREN,
        )
    )
    declare(
        ChildType(
            parent=parent,
            name="functions",
            api_versions=API_VERSIONS,
            builtins=_functions,
            section=CHILDREN,
        )
    )

