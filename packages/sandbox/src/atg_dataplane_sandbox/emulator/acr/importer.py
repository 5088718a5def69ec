"""``importImage``: copy an image between emulated registries inside the upstream registry
(blob mounts + raw manifest bytes, so digests never change)."""

from __future__ import annotations

import json
from typing import Any

from atg_dataplane_sandbox.emulator.acr.router import check_lock
from atg_dataplane_sandbox.emulator.acr.upstream import Upstream, upstream_of
from atg_dataplane_sandbox.emulator.common import rbac
from atg_dataplane_sandbox.emulator.common.errors import AzureError

PULL = "Microsoft.ContainerRegistry/registries/pull/read"


def split_image(image: str) -> tuple[str, str]:
    if "@" in image:
        repo, digest = image.split("@", 1)
        return repo, digest
    repo, _, tag = image.rpartition(":")
    if not repo or "/" in tag:
        return image, "latest"
    return repo, tag


def _source_registry(emu: Any, source: dict[str, Any]) -> dict[str, Any]:
    resources = emu.store.section("resources")
    if source.get("resourceId"):
        found = resources.get(str(source["resourceId"]).lower())
        if found is None:
            raise AzureError(404, "ResourceNotFound", "The source registry was not found.")
        return dict(found)
    uri = str(source.get("registryUri", "")).removeprefix("https://").rstrip("/").lower()
    for resource in resources.values():
        if (
            resource["type"] == "Microsoft.ContainerRegistry/registries"
            and resource["properties"].get("loginServer", "").lower() == uri
        ):
            return dict(resource)
    raise AzureError(
        400,
        "InvalidParameters",
        f"The source registry '{uri}' is not reachable "
        "from the sandbox (only its own registries are).",
    )


def _check_source_access(
    emu: Any, claims: Any, registry: dict[str, Any], credentials: dict[str, Any] | None
) -> None:
    sub = registry["id"].split("/")[2].lower()
    tenant = next(t for t in emu.topology.tenants.values() if t.subscription_id.lower() == sub)
    assignments = list(emu.store.section("role_assignments").values())
    if tenant.tenant_id == claims.tenant_id:
        blocks = rbac.permissions_at(assignments, claims.object_id, registry["id"])
        if rbac.is_allowed(blocks, PULL):
            return
        raise AzureError(
            403,
            "AuthorizationFailed",
            f"The client '{claims.app_id}' with object "
            f"id '{claims.object_id}' does not have authorization to perform action "
            f"'{PULL}' over scope '{registry['id']}'.",
        )
    # Another tenant: only with credentials of the source registry (an ACR refresh token).
    password = (credentials or {}).get("password")
    if not password:
        raise AzureError(
            403,
            "AuthorizationFailed",
            "The source registry is in another tenant: "
            "import needs source.credentials (username and password of the source "
            "registry).",
        )
    try:
        token = emu.issuer.decode(str(password))
    except Exception:
        raise AzureError(401, "InvalidCredentials", "The source credentials are invalid.") from None
    login = registry["properties"].get("loginServer", "")
    if token.get("aud") != login:
        raise AzureError(
            401, "InvalidCredentials", "The source credentials are for another registry."
        )
    blocks = rbac.permissions_at(assignments, str(token.get("oid", "")), registry["id"])
    if not rbac.is_allowed(blocks, PULL):
        raise AzureError(403, "AuthorizationFailed", "The source credentials cannot pull.")


async def import_image(emu: Any, claims: Any, target: dict[str, Any], body: dict[str, Any]) -> None:
    source = body.get("source") or {}
    src_registry = _source_registry(emu, source)
    _check_source_access(emu, claims, src_registry, source.get("credentials"))
    repo, reference = split_image(str(source["sourceImage"]))
    upstream: Upstream = upstream_of(emu)
    tags = body.get("targetTags")
    if not tags and not body.get("untaggedTargetRepositories"):
        tags = [f"{repo}:{reference}"] if not reference.startswith("sha256:") else []
    src_name, dst_name = src_registry["name"].lower(), target["name"].lower()
    destinations = [split_image(t) for t in tags or []]
    destinations += [(r, "") for r in body.get("untaggedTargetRepositories") or []]
    if body.get("mode", "NoForce") == "NoForce":
        for dst_repo, tag in destinations:
            if tag and await upstream.manifest(dst_name, dst_repo, tag) is not None:
                raise AzureError(
                    409,
                    "TagAlreadyExists",
                    f"Tag {dst_repo}:{tag} already exists "
                    "in the target registry; use mode Force to overwrite.",
                )
    for dst_repo, tag in destinations:
        if tag and await upstream.manifest(dst_name, dst_repo, tag) is not None:
            try:  # a locked tag is not moved, even with Force
                check_lock(emu, dst_name, dst_repo, tag, "PUT")
            except AzureError:
                raise AzureError(
                    409, "Conflict", f"Tag {dst_repo}:{tag} is locked in the target registry."
                ) from None
    for dst_repo, tag in destinations:
        digest = await _copy(upstream, src_name, repo, reference, dst_name, dst_repo)
        found = await upstream.manifest(src_name, repo, digest)
        assert found is not None
        if tag:
            await upstream.put_manifest(dst_name, dst_repo, tag, found[0], found[1])


async def _copy(
    upstream: Upstream, src: str, repo: str, reference: str, dst: str, dst_repo: str
) -> str:
    found = await upstream.manifest(src, repo, reference)
    if found is None:
        raise AzureError(
            404, "ImageNotFound", f"Image {repo}:{reference} was not found in the source registry."
        )
    data, media_type, digest = found
    manifest = json.loads(data)
    for child in manifest.get("manifests") or []:
        await _copy(upstream, src, repo, child["digest"], dst, dst_repo)
    blobs = [manifest.get("config"), *(manifest.get("layers") or [])]
    for blob in blobs:
        if blob and blob.get("digest"):
            await upstream.mount_blob(dst, dst_repo, blob["digest"], f"{src}/{repo}")
    await upstream.put_manifest(dst, dst_repo, digest, data, media_type)
    return digest
