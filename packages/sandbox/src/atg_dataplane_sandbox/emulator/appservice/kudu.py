"""Kudu, the SCM site of every App Service site and slot: the deployed code as a zip
(``GET /api/zip/site/wwwroot/``) and zip deploy (``POST /api/zipdeploy``, or OneDeploy's
``POST /api/publish?type=zip``; ``async=true`` answers 202 with ``Location`` the
deployment's status, ``GET /api/deployments/latest``), which replaces ``site/wwwroot`` (as
OneDeploy's ``clean=true`` does) and which a function app follows with a trigger sync.

One listener serves every site: the first path segment is the site's SCM name (see
``arm.py``). Callers authenticate as Azure's Kudu expects from automation: an Entra bearer
token for ARM, of the site's tenant, whose principal may publish to the site
(``Microsoft.Web/sites/publish/action``); basic publishing credentials are not offered.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from atg_dataplane_sandbox.emulator.appservice import arm, code
from atg_dataplane_sandbox.emulator.common.arm import ArmContext
from atg_dataplane_sandbox.emulator.common.auth import arm_wrong_tenant, authenticate_arm
from atg_dataplane_sandbox.emulator.common.context import EMU
from atg_dataplane_sandbox.emulator.common.errors import AzureError

SERVICE = "kudu"
DEPLOYMENTS = "kudu_deployments"
"""Store section: scope id -> the last deployment's status."""


def routes(app: web.Application) -> None:
    app.router.add_route("GET", "/{scm}/api/zip/site/wwwroot/", _download)
    app.router.add_route("GET", "/{scm}/api/zip/site/wwwroot", _download)
    app.router.add_route("POST", "/{scm}/api/zipdeploy", _deploy)
    app.router.add_route("POST", "/{scm}/api/publish", _deploy)
    app.router.add_route("GET", "/{scm}/api/deployments/latest", _latest)


def _authorize(request: web.Request) -> tuple[str, bool]:
    """The scope id (site or slot) the request may publish to, and whether it belongs to a
    function app."""
    emu = request.app[EMU]
    scope_id = emu.store.section(code.SCM_SECTION).get(request.match_info["scm"].lower())
    if scope_id is None:
        raise AzureError(404, "NotFound", f"No site '{request.match_info['scm']}' here.")
    claims = authenticate_arm(request)
    subscription = scope_id.split("/")[2].lower()
    tenant = next(
        (t for t in emu.topology.tenants.values() if t.subscription_id.lower() == subscription),
        None,
    )
    if tenant is None or claims.tenant_id != tenant.tenant_id:
        raise arm_wrong_tenant(request, claims, tenant.tenant_id if tenant else "")
    site_id = "/".join(scope_id.split("/")[:9])
    slot = scope_id != site_id
    ctx = ArmContext(request=request, emu=emu, claims=claims, tenant=tenant)
    ctx.require(f"{arm.SLOT_TYPE if slot else arm.SITE_TYPE}/publish/action", scope_id)
    site = emu.store.section("resources").get(site_id.lower()) or {}
    return scope_id, "functionapp" in str(site.get("kind") or "").lower()


async def _download(request: web.Request) -> web.Response:
    scope_id, _ = _authorize(request)
    body = code.archive(request.app[EMU].store, scope_id)
    return web.Response(body=body, content_type="application/zip")


async def _deploy(request: web.Request) -> web.Response:
    if request.path.endswith("/api/publish") and request.query.get("type") != "zip":
        raise AzureError(400, "BadRequest", "Only type=zip is supported by this Kudu.")
    scope_id, function_app = _authorize(request)
    store = request.app[EMU].store
    try:
        count = code.deploy(store, scope_id, await request.read())
    except ValueError as exc:
        raise AzureError(400, "BadRequest", str(exc)) from None
    if function_app:
        arm.sync(store, scope_id)
    done = {"status": 4, "complete": True, "files": count}  # 4: success
    if request.query.get("async", request.query.get("isAsync", "")).lower() == "true":
        latest = f"{request.url.origin()}/{request.match_info['scm']}/api/deployments/latest"
        store.section(DEPLOYMENTS)[scope_id.lower()] = done
        return web.json_response(done, status=202, headers={"Location": latest})
    return web.json_response(done)


async def _latest(request: web.Request) -> web.Response:
    """The last deployment's status (polled after an async deploy)."""
    scope_id, _ = _authorize(request)
    found = request.app[EMU].store.section(DEPLOYMENTS).get(scope_id.lower())
    if found is None:
        raise AzureError(404, "NotFound", "No deployment yet.")
    return web.json_response(found)


async def open_kudu(emu: Any, app: web.Application) -> None:
    """Listen for Kudu on the port the store remembers (any free one when it is taken) and
    re-point the sites' SCM host names when it moved."""
    url = await emu.listen_remembered("kudu_port", SERVICE, app)
    emu.urls[SERVICE] = url
    host = url.removeprefix("https://")
    scopes = [*emu.resources_of_type(arm.SITE_TYPE)]
    scopes += [i for i in emu.store.section(arm.CHILDREN).values() if i["type"] == arm.SLOT_TYPE]
    for scope in scopes:
        props = scope.get("properties") or {}
        for state in props.get("hostNameSslStates") or []:
            if state.get("hostType") == "Repository":
                name = state["name"].split("/", 1)[-1]
                old, state["name"] = state["name"], f"{host}/{name}"
                names = props.get("enabledHostNames") or []
                props["enabledHostNames"] = [state["name"] if n == old else n for n in names]
    emu.store.touch()
