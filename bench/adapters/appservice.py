"""App Service: settings, connection strings, storage mounts, host and function keys and
code of each site and slot, through ARM (azure-mgmt-web) and Kudu.

The baseline is what users run today, site by site and slot by slot: ``az webapp config
appsettings list|set`` (one read and one write of the set), the same for connection strings
and mounts, ``az functionapp keys set`` key by key, the Kudu zip downloaded and ``az webapp
deploy``-ed, then the triggers synced. It copies values as they are (references are not
re-pointed: nobody's script does). The ceiling writes each set once, each key once and
each package once, on many threads; an entry of a set costs nothing beyond its set's one
write, so its task is empty but counted, as the tool counts it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from atg_dataplane_appservice.settings import SETS
from atg_dataplane_appservice.values import PLATFORM_SETTINGS
from azure.core.rest import HttpRequest
from azure.mgmt.web import WebSiteManagementClient

from adapters import Task, arm_client, where

RESOURCE_TYPE = "Microsoft.Web/sites"
PLATFORM = frozenset(name.lower() for name in PLATFORM_SETTINGS)


def _client(resource: Any, side: Any, pool: int | None = None) -> WebSiteManagementClient:
    client: WebSiteManagementClient = arm_client(WebSiteManagementClient, resource, side, pool)
    return client


class _Site:
    """One side's site: calls on the site or one of its slots."""

    def __init__(self, resource: Any, side: Any, pool: int | None = None) -> None:
        self.web = _client(resource, side, pool)
        self.group, self.name = where(resource)

    def call(self, method: str, slot: str | None, *args: Any, **kw: Any) -> Any:
        apps = self.web.web_apps
        if slot:
            return getattr(apps, method + "_slot")(self.group, self.name, *args, slot=slot, **kw)
        return getattr(apps, method)(self.group, self.name, *args, **kw)

    def slots(self) -> list[str | None]:
        listed = self.web.web_apps.list_slots(self.group, self.name)
        return [None, *sorted(str(s.name).split("/")[-1] for s in listed)]

    def function_app(self) -> bool:
        return "functionapp" in str(self.web.web_apps.get(self.group, self.name).kind).lower()

    def scm(self, slot: str | None) -> str:
        site = self.call("get", slot)
        for state in site.host_name_ssl_states or []:
            if str(getattr(state.host_type, "value", state.host_type)).lower() == "repository":
                return f"https://{state.name}"
        raise RuntimeError(f"{self.name}: no SCM host")

    def download(self, slot: str | None) -> bytes:
        url = self.scm(slot) + "/api/zip/site/wwwroot/"
        response = self.web.send_request(HttpRequest("GET", url), stream=True)
        response.raise_for_status()
        return bytes(response.read())

    def deploy(self, slot: str | None, archive: bytes) -> int:
        request = HttpRequest("POST", self.scm(slot) + "/api/zipdeploy", content=archive)
        self.web.send_request(request).raise_for_status()
        return len(archive)


def _entries(site: _Site, kind: str, slot: str | None) -> dict[str, Any]:
    found = dict(site.call(SETS[kind][1], slot).properties or {})
    if kind == "app_setting":
        return {k: v for k, v in found.items() if k.lower() not in PLATFORM}
    return {k: (v if isinstance(v, dict) else v.as_dict()) for k, v in found.items()}


def _write_set(source: _Site, target: _Site, kind: str, slot: str | None) -> list[str]:
    """``list`` then ``set`` as the CLI does it (merged into the target's); the names."""
    ours = _entries(source, kind, slot)
    if not ours:
        return []
    theirs = dict(target.call(SETS[kind][1], slot).properties or {})
    if kind != "app_setting":
        theirs = {k: (v if isinstance(v, dict) else v.as_dict()) for k, v in theirs.items()}
    for entry in theirs.values():
        if isinstance(entry, dict):
            entry.pop("state", None)
    target.call(SETS[kind][2], slot, **{SETS[kind][3]: {"properties": {**theirs, **ours}}})
    return sorted(ours)


def _put_set(target: _Site, kind: str, slot: str | None, body: dict[str, Any]) -> int:
    target.call(SETS[kind][2], slot, **{SETS[kind][3]: {"properties": body}})
    return 0


def _keys(site: _Site, slot: str | None) -> list[tuple[str, str, str]]:
    """``(scope, owner, name)`` of each key: host keys, then each function's."""
    host = site.call("list_host_keys", slot).as_dict()
    found = [("host", "masterKey", "_master")]
    for key_type in ("functionKeys", "systemKeys"):
        found += [("host", key_type, name) for name in sorted(host.get(key_type) or {})]
    for function in site.call("list_functions", slot):
        fn = str(function.name).split("/")[-1]
        found += [("function", fn, name) for name in sorted(_function_keys(site, slot, fn))]
    return found


def _function_keys(site: _Site, slot: str | None, function: str) -> dict[str, str]:
    found = dict(site.call("list_function_keys", slot, function).as_dict())  # flat
    return {k: str(v) for k, v in found.items() if isinstance(v, str) and k not in ("id", "name")}


def _key_value(site: _Site, slot: str | None, key: tuple[str, str, str]) -> str:
    scope, owner, name = key
    if scope == "host":
        host = site.call("list_host_keys", slot).as_dict()
        return str(host["masterKey"] if owner == "masterKey" else host[owner][name])
    return _function_keys(site, slot, owner)[name]


def _set_key(target: _Site, slot: str | None, key: tuple[str, str, str], value: str) -> int:
    scope, owner, name = key
    body = {"properties": {"name": name, "value": value}}  # the service reads only these
    if scope == "host":
        target.call("create_or_update_host_secret", slot, owner, name, key=body)
    else:
        target.call("create_or_update_function_secret", slot, owner, name, key=body)
    return 0


class AppServiceAdapter:
    resource_type = RESOURCE_TYPE
    kinds = ("app_setting", "connection_string", "storage_mount", "host_key", "function_key",
             "code")
    server_side_kinds: tuple[str, ...] = ()

    def baseline(self, pair: Any, source: Any, target: Any, tally: Any) -> None:
        src, tgt = _Site(pair.source, source), _Site(pair.target, target)
        function_app = src.function_app()
        for slot in src.slots():
            for kind in SETS:
                for _ in _write_set(src, tgt, kind, slot):
                    tally.add(kind, 0)
            archive = src.download(slot)
            tally.add("code", tgt.deploy(slot, archive))
            if function_app:
                tgt.call("sync_function_triggers", slot)
                for key in _keys(src, slot):
                    kind = "host_key" if key[0] == "host" else "function_key"
                    tally.add(kind, _set_key(tgt, slot, key, _key_value(src, slot, key)))

    def plan(self, pair: Any, source: Any, target: Any, pool: int) -> list[Task]:
        src, tgt = _Site(pair.source, source), _Site(pair.target, target, pool)
        function_app = src.function_app()
        tasks: list[Task] = []
        for slot in src.slots():
            prefix = f"slots/{slot}/" if slot else ""
            for kind in SETS:
                ours = _entries(src, kind, slot)
                theirs = tgt.call(SETS[kind][1], slot).properties or {}
                if not ours:
                    continue
                body = {**theirs, **ours}
                names = sorted(ours)
                put = lambda k=kind, s=slot, b=body: _put_set(tgt, k, s, b)  # noqa: E731
                tasks.append(Task(kind, prefix + names[0], put))
                tasks += [Task(kind, prefix + n, lambda: 0) for n in names[1:]]
            archive = src.download(slot)
            tasks.append(Task("code", prefix + "code", lambda s=slot, a=archive: tgt.deploy(s, a)))
            if function_app:
                for key in _keys(src, slot):
                    value = _key_value(src, slot, key)
                    kind = "host_key" if key[0] == "host" else "function_key"
                    tasks.append(Task(
                        kind, prefix + "/".join(key),
                        lambda s=slot, k=key, v=value: _set_key(tgt, s, k, v),
                        phase=1 if kind == "function_key" else 0,  # after the code
                    ))
        return tasks

    # -- sandbox targets ------------------------------------------------------
    def fresh_targets(self, sandbox_dir: str, names: list[str], tag: str) -> dict[str, str]:
        """Each target site's twin (same kind, same slots), as Terraform would make it."""
        from atg_dataplane_sandbox.scenarios import SiteContents
        from atg_dataplane_sandbox.seed import context
        from atg_dataplane_sandbox.seeders.appservice import create_site

        ctx = context(sandbox_dir)
        web = ctx.mgmt(WebSiteManagementClient, "target").web_apps
        group = ctx.resource_groups["target"]
        fresh = {name: f"{name}-{tag}"[:60] for name in names}

        def make(name: str) -> None:
            contents = SiteContents(
                function_app="functionapp" in str(web.get(group, name).kind).lower(),
                slots=tuple(str(s.name).split("/")[-1] for s in web.list_slots(group, name)),
            )
            create_site(ctx, "target", fresh[name], contents)

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(make, names))
        return fresh

    def drop_targets(self, sandbox_dir: str, names: list[str]) -> None:
        from atg_dataplane_sandbox.seed import context

        ctx = context(sandbox_dir)
        web = ctx.mgmt(WebSiteManagementClient, "target").web_apps
        for name in names:
            web.delete(ctx.resource_groups["target"], name)


ADAPTER = AppServiceAdapter()
