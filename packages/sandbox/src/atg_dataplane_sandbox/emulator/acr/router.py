"""The ACR front: ``/oauth2/*``, the ACR-only ``/acr/v1/*`` listings, and ``/v2/*`` proxied to
the upstream registry under ``<registry name>/``."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from aiohttp import web

from atg_dataplane_sandbox.emulator.acr import auth
from atg_dataplane_sandbox.emulator.context import EMU
from atg_dataplane_sandbox.emulator.errors import AzureError, json_response
from atg_dataplane_sandbox.emulator.tokens import TokenError

HOP_HEADERS = {
    "host",
    # The client's ACR token is for the front; the upstream session adds its own Basic auth.
    "authorization",
    "www-authenticate",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
}
ATTRIBUTES = {"deleteEnabled": True, "writeEnabled": True, "listEnabled": True, "readEnabled": True}


def _stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def dispatch(request: web.Request) -> web.StreamResponse:
    emu = request.app[EMU]
    port = request.transport.get_extra_info("sockname")[1] if request.transport else 0
    name = emu.registry_by_port.get(port)
    data = emu.store.section("registries").get(name or "") or {}
    registry = emu.store.section("resources").get(str(data.get("resource_id", "")).lower())
    if name is None or registry is None:
        raise AzureError(404, "RegistryNotFound", "The registry behind this address was deleted.")
    login = registry["properties"]["loginServer"]
    sub = registry["id"].split("/")[2].lower()
    tenant_id = next(
        t.tenant_id for t in emu.topology.tenants.values() if t.subscription_id.lower() == sub
    )
    path = request.path
    if path == "/oauth2/exchange" and request.method == "POST":
        return await auth.exchange(request, emu, registry, login, tenant_id)
    if path == "/oauth2/token" and request.method == "POST":
        return await auth.token(request, emu, registry, login)
    kind, repo, action, rest = _scope_of(request)
    claims = _authorize(request, emu, login, kind, repo, action)
    del claims
    if path.startswith("/acr/v1/"):
        return await _acr(request, emu, registry["name"], login, repo, rest)
    return await _proxy(request, emu, registry["name"], repo, rest)


def _scope_of(request: web.Request) -> tuple[str, str, str, list[str]]:
    """(registry|repository, name, pull|push|delete|*, path after the repository)."""
    seg = [s for s in request.path.split("/") if s]
    method = request.method
    action = {"GET": "pull", "HEAD": "pull", "DELETE": "delete"}.get(method, "push")
    if seg[:1] == ["v2"]:
        if len(seg) == 1:
            return "registry", "catalog", "*", []
        if seg[1] == "_catalog":
            return "registry", "catalog", "*", []
        for marker in ("manifests", "blobs", "tags"):
            if marker in seg[2:]:
                i = seg.index(marker, 2)
                return "repository", "/".join(seg[1:i]), action, seg[i:]
    if seg[:2] == ["acr", "v1"] and len(seg) >= 3:
        if seg[2] == "_catalog":
            return "registry", "catalog", "*", []
        for marker in ("_tags", "_manifests"):
            if marker in seg[3:]:
                i = seg.index(marker, 3)
                if method == "PATCH":
                    action = "metadata_write"
                return "repository", "/".join(seg[2:i]), action, seg[i:]
        if method == "PATCH":
            action = "metadata_write"
        return "repository", "/".join(seg[2:]), action, []
    raise AzureError(404, "NotFound", f"No route for {request.path}.")


def _challenge(request: web.Request, login: str, kind: str, repo: str, action: str) -> AzureError:
    actions = {"push": "pull,push", "metadata_write": "metadata_read,metadata_write"}.get(
        action, action
    )
    scope = f"{kind}:{repo}:{actions}"
    header = f'Bearer realm="https://{login}/oauth2/token",service="{login}",scope="{scope}"'
    return AzureError(
        401,
        "UNAUTHORIZED",
        "authentication required",
        headers={"WWW-Authenticate": header, "Docker-Distribution-Api-Version": "registry/2.0"},
    )


def _authorize(
    request: web.Request, emu: Any, login: str, kind: str, repo: str, action: str
) -> dict[str, Any]:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        raise _challenge(request, login, kind, repo, action)
    try:
        claims = emu.issuer.decode(header[7:].strip())
    except TokenError:
        raise _challenge(request, login, kind, repo, action) from None
    if claims.get("aud") != login or claims.get("grant_type") != "access_token":
        raise _challenge(request, login, kind, repo, action)
    needed = {"metadata_write": "push", "*": "*"}.get(action, action)
    if not auth.allowed(claims, kind, repo, needed):
        raise _challenge(request, login, kind, repo, action)
    return claims


# -- /acr/v1 --------------------------------------------------------------------------------
def _page(request: web.Request, items: list[str], path: str) -> tuple[list[str], dict[str, str]]:
    n = int(request.query.get("n", "100"))
    last = request.query.get("last")
    start = (
        0 if last is None else next((i + 1 for i, v in enumerate(items) if v == last), len(items))
    )
    page = items[start : start + n]
    headers = {}
    if start + n < len(items):
        headers["Link"] = f'<{path}?last={quote(page[-1])}&n={n}>; rel="next"'
    return page, headers


async def _acr(
    request: web.Request, emu: Any, registry: str, login: str, repo: str, rest: list[str]
) -> web.StreamResponse:
    upstream = emu.upstream
    meta = emu.store.section("acr_meta")
    if request.path == "/acr/v1/_catalog":
        repos, headers = _page(request, await upstream.repositories(registry), "/acr/v1/_catalog")
        return json_response({"repositories": repos}, headers=headers)
    tags = await upstream.tags(registry, repo)
    if not tags and repo not in await upstream.repositories(registry):
        raise AzureError(404, "NAME_UNKNOWN", f"repository {repo} is not found")
    details = []
    for tag in tags:
        found = await upstream.manifest(registry, repo, tag)
        if found is None:
            continue
        key = f"{registry}/{repo}@{found[2]}"
        created = meta.setdefault(key, _stamp())
        details.append(
            {
                "name": tag,
                "digest": found[2],
                "createdTime": created,
                "lastUpdateTime": created,
                "signed": False,
                "changeableAttributes": ATTRIBUTES,
                "mediaType": found[1],
                "imageSize": len(found[0]),
            }
        )
    emu.store.touch()
    base = {"registry": login, "imageName": repo}
    if not rest:
        if request.method == "DELETE":
            for digest in {d["digest"] for d in details}:
                await upstream.delete_manifest(registry, repo, digest)
            return json_response(
                {"manifestsDeleted": sorted({d["digest"] for d in details}), "tagsDeleted": tags},
                status=202,
            )
        created = min((d["createdTime"] for d in details), default=_stamp())
        return json_response(
            {
                **base,
                "createdTime": created,
                "lastUpdateTime": created,
                "manifestCount": len({d["digest"] for d in details}),
                "tagCount": len(tags),
                "changeableAttributes": ATTRIBUTES,
            }
        )
    if rest[0] == "_tags":
        items = [
            {
                k: d[k]
                for k in (
                    "name",
                    "digest",
                    "createdTime",
                    "lastUpdateTime",
                    "signed",
                    "changeableAttributes",
                )
            }
            for d in details
        ]
        if len(rest) == 2:
            match = next((t for t in items if t["name"] == rest[1]), None)
            if match is None:
                raise AzureError(404, "TAG_UNKNOWN", f"tag {rest[1]} is not found")
            return json_response({**base, "tag": match})
        names, headers = _page(request, [t["name"] for t in items], f"/acr/v1/{repo}/_tags")
        return json_response(
            {**base, "tags": [t for t in items if t["name"] in names]}, headers=headers
        )
    manifests: dict[str, dict[str, Any]] = {}
    for d in details:
        entry = manifests.setdefault(
            d["digest"],
            {
                "digest": d["digest"],
                "imageSize": d["imageSize"],
                "createdTime": d["createdTime"],
                "lastUpdateTime": d["lastUpdateTime"],
                "mediaType": d["mediaType"],
                "tags": [],
                "changeableAttributes": ATTRIBUTES,
            },
        )
        entry["tags"].append(d["name"])
    if len(rest) == 2:
        if rest[1] not in manifests:
            raise AzureError(404, "MANIFEST_UNKNOWN", f"manifest {rest[1]} is not found")
        return json_response({**base, "manifest": manifests[rest[1]]})
    digests, headers = _page(request, sorted(manifests), f"/acr/v1/{repo}/_manifests")
    return json_response({**base, "manifests": [manifests[d] for d in digests]}, headers=headers)


# -- /v2 proxy ------------------------------------------------------------------------------
async def _proxy(
    request: web.Request, emu: Any, registry: str, repo: str, rest: list[str]
) -> web.StreamResponse:
    upstream = emu.upstream
    prefix = registry.lower()
    if request.path in ("/v2", "/v2/"):
        return json_response({}, headers={"Docker-Distribution-Api-Version": "registry/2.0"})
    if request.path == "/v2/_catalog":
        repos, headers = _page(request, await upstream.repositories(registry), "/v2/_catalog")
        return json_response({"repositories": repos}, headers=headers)
    target = f"{upstream.base}/v2/{prefix}/{repo}/{'/'.join(rest)}"
    if request.path.endswith("/"):
        target += "/"
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
    body = await request.read() if request.can_read_body else None
    async with upstream.session().request(
        request.method,
        target,
        params=request.query,
        headers=headers,
        data=body,
        allow_redirects=False,
    ) as response:
        out = {k: v for k, v in response.headers.items() if k.lower() not in HOP_HEADERS}
        if "Location" in out:
            out["Location"] = out["Location"].replace(f"/v2/{prefix}/", "/v2/", 1)
        payload = await response.read()
        if request.method == "HEAD":
            answer = web.Response(status=response.status, headers=out)
            if response.headers.get("Content-Length"):
                answer.content_length = int(response.headers["Content-Length"])
            return answer
        return web.Response(status=response.status, body=payload, headers=out)
