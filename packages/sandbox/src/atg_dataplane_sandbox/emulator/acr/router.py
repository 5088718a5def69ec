"""The ACR front: ``/oauth2/*``, the ACR-only ``/acr/v1/*`` listings, and ``/v2/*`` proxied to
the upstream registry under ``<registry name>/``."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import quote

from aiohttp import web

from atg_dataplane_sandbox.emulator.acr import auth
from atg_dataplane_sandbox.emulator.acr.upstream import upstream_of
from atg_dataplane_sandbox.emulator.common.context import EMU
from atg_dataplane_sandbox.emulator.common.errors import AzureError, json_response
from atg_dataplane_sandbox.emulator.common.tokens import TokenError

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
    if rest[:1] == ["referrers"] and len(rest) == 2 and request.method == "GET":
        return await _referrers(request, emu, registry["name"], repo, rest[1])
    if rest[:1] == ["manifests"] and len(rest) == 2 and request.method in ("PUT", "DELETE"):
        check_lock(emu, registry["name"], repo, rest[1], request.method)
    return await _proxy(request, emu, registry["name"], repo, rest)


def check_lock(emu: Any, registry: str, repo: str, reference: str, method: str) -> None:
    """A locked tag or manifest (writeEnabled / deleteEnabled false) refuses the write."""
    prefix = f"{registry.lower()}/{repo}"
    key = f"{prefix}@{reference}" if reference.startswith("sha256:") else f"{prefix}:{reference}"
    field = "writeEnabled" if method == "PUT" else "deleteEnabled"
    if not _attributes(emu, key)[field] or not _attributes(emu, prefix)[field]:
        raise _locked()


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
        for marker in ("manifests", "blobs", "tags", "referrers"):
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
    needed = {"*": "*"}.get(action, action)
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


ATTRIBUTE_FIELDS = tuple(ATTRIBUTES)


def _attributes(emu: Any, key: str) -> dict[str, bool]:
    """The changeable attributes of a repository, tag (``repo:tag``) or manifest
    (``repo@digest``) of a registry, as ``PATCH`` left them."""
    stored = emu.store.section("acr_attributes").get(key) or {}
    return {**ATTRIBUTES, **stored}


def _patch_attributes(emu: Any, key: str, body: dict[str, Any]) -> dict[str, bool]:
    unknown = set(body) - set(ATTRIBUTE_FIELDS)
    if unknown or not all(isinstance(v, bool) for v in body.values()):
        raise AzureError(400, "BAD_REQUEST", f"unknown or malformed attributes: {sorted(unknown)}")
    current = _attributes(emu, key)
    current.update(body)
    emu.store.section("acr_attributes")[key] = current
    emu.store.touch()
    return current


async def _describe(emu: Any, registry: str, repo: str, digest: str) -> dict[str, Any] | None:
    """What ACR tells of a manifest: size, media type, subject, artifact type, created time.
    Manifests are content-addressed: described once, kept."""
    cache = emu.caches.setdefault("acr_manifests", {})
    key = f"{registry}/{repo}@{digest}"
    if key not in cache:
        found = await upstream_of(emu).manifest(registry, repo, digest)
        if found is None:
            return None
        data, media_type, _ = found
        try:
            document = json.loads(data)
        except ValueError:
            document = {}
        config = document.get("config") or {}
        cache[key] = {
            "digest": digest,
            "imageSize": len(data),
            "mediaType": media_type or document.get("mediaType", ""),
            "subject": (document.get("subject") or {}).get("digest"),
            "artifactType": document.get("artifactType") or config.get("mediaType"),
            "annotations": document.get("annotations") or {},
        }
    meta = emu.store.section("acr_meta")
    created = meta.setdefault(key, _stamp())
    return {**cache[key], "createdTime": created, "lastUpdateTime": created}


async def _acr(
    request: web.Request, emu: Any, registry: str, login: str, repo: str, rest: list[str]
) -> web.StreamResponse:
    upstream = upstream_of(emu)
    if request.path == "/acr/v1/_catalog":
        repos, headers = _page(request, await upstream.repositories(registry), "/acr/v1/_catalog")
        return json_response({"repositories": repos}, headers=headers)
    if not upstream.has_repository(registry, repo):
        raise AzureError(404, "NAME_UNKNOWN", f"repository {repo} is not found")
    prefix = f"{registry.lower()}/{repo}"
    tags = await upstream.tags(registry, repo)
    tagged: dict[str, list[str]] = {}
    tag_digest: dict[str, str] = {}
    for tag in tags:
        found = await upstream.manifest(registry, repo, tag)
        if found is not None:
            tag_digest[tag] = found[2]
            tagged.setdefault(found[2], []).append(tag)
    manifests: dict[str, dict[str, Any]] = {}
    for digest in sorted(set(upstream.manifest_digests(registry, repo)) | set(tagged)):
        described = await _describe(emu, registry, repo, digest)
        if described is not None:
            manifests[digest] = {
                **described,
                "tags": sorted(tagged.get(digest, [])),
                "changeableAttributes": _attributes(emu, f"{prefix}@{digest}"),
            }
    emu.store.touch()
    base = {"registry": login, "imageName": repo}
    if not rest:
        return await _repository(request, emu, registry, repo, prefix, base, manifests, tags)
    if rest[0] == "_tags":
        return await _tags(request, emu, registry, repo, prefix, base, manifests, tag_digest, rest)
    if len(rest) == 2:
        digest = rest[1]
        if digest not in manifests:
            raise AzureError(404, "MANIFEST_UNKNOWN", f"manifest {digest} is not found")
        if request.method == "PATCH":
            body = await request.json()
            manifests[digest]["changeableAttributes"] = _patch_attributes(
                emu, f"{prefix}@{digest}", body
            )
        return json_response({**base, "manifest": _public(manifests[digest])})
    digests, headers = _page(request, sorted(manifests), f"/acr/v1/{repo}/_manifests")
    listed = [_public(manifests[d]) for d in digests]
    return json_response({**base, "manifests": listed}, headers=headers)


def _public(manifest: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v for k, v in manifest.items() if k not in ("subject", "artifactType", "annotations")
    }


async def _repository(
    request: web.Request,
    emu: Any,
    registry: str,
    repo: str,
    prefix: str,
    base: dict[str, Any],
    manifests: dict[str, dict[str, Any]],
    tags: list[str],
) -> web.Response:
    if request.method == "DELETE":
        if not _attributes(emu, prefix)["deleteEnabled"]:
            raise _locked()
        for digest in manifests:
            await upstream_of(emu).delete_manifest(registry, repo, digest)
        return json_response(
            {"manifestsDeleted": sorted(manifests), "tagsDeleted": tags}, status=202
        )
    attributes = _attributes(emu, prefix)
    if request.method == "PATCH":
        attributes = _patch_attributes(emu, prefix, await request.json())
    created = min((m["createdTime"] for m in manifests.values()), default=_stamp())
    return json_response(
        {
            **base,
            "createdTime": created,
            "lastUpdateTime": created,
            "manifestCount": len(manifests),
            "tagCount": len(tags),
            "changeableAttributes": attributes,
        }
    )


async def _tags(
    request: web.Request,
    emu: Any,
    registry: str,
    repo: str,
    prefix: str,
    base: dict[str, Any],
    manifests: dict[str, dict[str, Any]],
    tag_digest: dict[str, str],
    rest: list[str],
) -> web.Response:
    def entry(tag: str) -> dict[str, Any]:
        manifest = manifests[tag_digest[tag]]
        return {
            "name": tag,
            "digest": tag_digest[tag],
            "createdTime": manifest["createdTime"],
            "lastUpdateTime": manifest["lastUpdateTime"],
            "signed": False,
            "changeableAttributes": _attributes(emu, f"{prefix}:{tag}"),
        }

    if len(rest) == 2:
        tag = rest[1]
        if tag not in tag_digest:
            raise AzureError(404, "TAG_UNKNOWN", f"tag {tag} is not found")
        if request.method == "DELETE":
            if not _attributes(emu, f"{prefix}:{tag}")["deleteEnabled"]:
                raise _locked()
            upstream_of(emu).delete_tag(registry, repo, tag)
            return web.Response(status=202)
        if request.method == "PATCH":
            _patch_attributes(emu, f"{prefix}:{tag}", await request.json())
        return json_response({**base, "tag": entry(tag)})
    names, headers = _page(request, sorted(tag_digest), f"/acr/v1/{repo}/_tags")
    return json_response({**base, "tags": [entry(t) for t in names]}, headers=headers)


def _locked() -> AzureError:
    return AzureError(
        405, "DENIED", "The operation is disallowed on this registry, repository or image."
    )


# -- /v2/<repo>/referrers (OCI 1.1) ---------------------------------------------------------
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


async def _referrers(
    request: web.Request, emu: Any, registry: str, repo: str, subject: str
) -> web.Response:
    """The OCI referrers API: an image index of the manifests whose ``subject`` is
    ``subject``, filtered by ``artifactType`` when asked."""
    wanted = request.query.get("artifactType")
    found = []
    for digest in upstream_of(emu).manifest_digests(registry, repo):
        described = await _describe(emu, registry, repo, digest)
        if described is None or described["subject"] != subject:
            continue
        if wanted and described["artifactType"] != wanted:
            continue
        descriptor = {
            "mediaType": described["mediaType"],
            "digest": digest,
            "size": described["imageSize"],
            "artifactType": described["artifactType"],
        }
        if described["annotations"]:
            descriptor["annotations"] = described["annotations"]
        found.append(descriptor)
    headers = {"OCI-Filters-Applied": "artifactType"} if wanted else {}
    body = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": found}
    return web.Response(body=json.dumps(body).encode(), content_type=OCI_INDEX, headers=headers)


# -- /v2 proxy ------------------------------------------------------------------------------
async def _proxy(
    request: web.Request, emu: Any, registry: str, repo: str, rest: list[str]
) -> web.StreamResponse:
    upstream = upstream_of(emu)
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
            # The length of what a GET would answer, and no body (a web.Response would set
            # its own length, 0).
            head = web.StreamResponse(status=response.status, headers=out)
            if response.headers.get("Content-Length"):
                head.content_length = int(response.headers["Content-Length"])
            return head
        return web.Response(status=response.status, body=payload, headers=out)
