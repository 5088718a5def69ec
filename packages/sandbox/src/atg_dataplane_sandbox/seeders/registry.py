"""Container registries: ACR resources through ARM, images pushed to the OCI registry.

Images go straight to the upstream registry (raw OCI distribution API over verified TLS,
with the sandbox's upstream credentials, as the ACR front sends them) under
``<registry name>/<repository>``: the front serves registry ``R``'s repository ``X`` from
upstream ``R/X``. Manifests are pushed as exact bytes, so their digests are what a copy
must preserve.
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

import requests
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from azure.mgmt.containerregistry.models import Registry, Sku

from atg_dataplane_sandbox.scenarios import ImageSpec, RegistryContents, ResourceSpec
from atg_dataplane_sandbox.seeders.context import SeedContext
from atg_dataplane_sandbox.services.upstream_auth import registry_credentials

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
ACR_AUDIENCE = "https://containerregistry.azure.net"


def create_registry(ctx: SeedContext, side: str, name: str) -> None:
    client = ctx.mgmt(ContainerRegistryManagementClient, side)
    client.registries.begin_create(
        ctx.resource_groups[side], name,
        Registry(location=ctx.location(side), sku=Sku(name="Standard")),
        polling_interval=0.1,
    ).result()


def seed(ctx: SeedContext, spec: ResourceSpec) -> dict[str, int]:
    contents: RegistryContents = spec.contents
    create_registry(ctx, "target", spec.target_name)
    create_registry(ctx, "source", spec.source_name)
    upstream = ctx.services["registry"]["upstream"]
    session = requests.Session()
    session.verify = ctx.ca_bundle
    session.trust_env = False  # REQUESTS_CA_BUNDLE would silently replace session.verify
    session.auth = registry_credentials(ctx.directory)
    counts = {"repositories": 0, "images": 0, "manifests": 0, "referrers": 0, "locked": 0}
    locks: list[tuple[str, str]] = []
    for image in contents.images:
        pusher = _Pusher(session, upstream, f"{spec.source_name}/{image.repository}")
        if pusher.has_tags(image.tags):
            continue
        counts["repositories"] += 1
        counts["manifests"] += pusher.push(image)
        counts["images"] += len(image.tags)
        counts["referrers"] += len(image.referrers)
        locks += [(image.repository, tag) for tag in image.locked]
    if locks:
        counts["locked"] = _lock(ctx, spec.source_name, locks)
    return counts


def _lock(ctx: SeedContext, registry: str, locks: list[tuple[str, str]]) -> int:
    """Lock tags through the ACR front (its data-plane API holds the attributes)."""
    from azure.containerregistry import ContainerRegistryClient

    login = ctx.mgmt(ContainerRegistryManagementClient, "source").registries.get(
        ctx.resource_groups["source"], registry
    ).login_server
    client = ContainerRegistryClient(
        f"https://{login}",
        ctx.credential("source"),
        audience=ACR_AUDIENCE,
        connection_verify=ctx.ca_bundle,
    )
    for repository, tag in locks:
        client.update_tag_properties(repository, tag, can_write=False, can_delete=False)
    return len(locks)


class _Pusher:
    def __init__(self, session: requests.Session, base: str, repository: str) -> None:
        self.session, self.base, self.repository = session, base, repository

    def has_tags(self, tags: list[str]) -> bool:
        answer = self.session.get(f"{self.base}/v2/{self.repository}/tags/list", timeout=30)
        return answer.status_code == 200 and set(tags) <= set(answer.json().get("tags") or [])

    def push(self, image: ImageSpec) -> int:
        """Push the image under each tag, its earlier untagged builds and the artifacts that
        refer to it; return how many manifests were stored."""
        stored = self._push_image(image)
        for build in range(image.untagged):
            data, digest = self._platform_manifest(image, "linux/amd64", build=build + 1)
            self._put_manifest(digest, data, OCI_MANIFEST)
            stored += 1
        if image.referrers:
            body, media_type = self._image_manifest(image)
            for artifact_type in image.referrers:
                self._refer(artifact_type, body, media_type)
                stored += 1
        return stored

    def _image_manifest(self, image: ImageSpec) -> tuple[bytes, str]:
        answer = self.session.get(
            f"{self.base}/v2/{self.repository}/manifests/{image.tags[0]}",
            headers={"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"},
            timeout=30,
        )
        _check(answer, 200)
        return answer.content, answer.headers["Content-Type"]

    def _refer(self, artifact_type: str, subject: bytes, subject_type: str) -> None:
        """An OCI 1.1 artifact (a signature, an SBOM) whose subject is the image."""
        empty = b"{}"
        payload = _canonical({"artifactType": artifact_type, "subject": _digest(subject)})
        for blob in (empty, payload):
            self._put_blob(blob)
        manifest = _canonical({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
            "config": {"mediaType": OCI_EMPTY, "digest": _digest(empty), "size": len(empty)},
            "layers": [{"mediaType": artifact_type, "digest": _digest(payload),
                        "size": len(payload)}],
            "subject": {"mediaType": subject_type, "digest": _digest(subject),
                        "size": len(subject)},
            "annotations": {"org.opencontainers.image.created": "2026-01-01T00:00:00Z"},
        })
        self._put_manifest(_digest(manifest), manifest, OCI_MANIFEST)

    def _push_image(self, image: ImageSpec) -> int:
        platforms = image.platforms or ["linux/amd64"]
        manifests = [self._platform_manifest(image, platform) for platform in platforms]
        if len(manifests) == 1:
            body, media_type = manifests[0][0], OCI_MANIFEST
        else:
            for data, _ in manifests:
                self._put_manifest(_digest(data), data, OCI_MANIFEST)
            body = _canonical({
                "schemaVersion": 2, "mediaType": OCI_INDEX,
                "manifests": [{"mediaType": OCI_MANIFEST, "digest": _digest(data),
                               "size": len(data), "platform": _platform(platform)}
                              for (data, _), platform in zip(manifests, platforms, strict=True)],
            })
            media_type = OCI_INDEX
        for tag in image.tags:
            self._put_manifest(tag, body, media_type)
        return len(manifests) + (1 if len(manifests) > 1 else 0)

    def _platform_manifest(
        self, image: ImageSpec, platform: str, build: int = 0
    ) -> tuple[bytes, str]:
        seed = f"{self.repository}:{platform}" + (f":build{build}" if build else "")
        owner = self.repository.split("/", 1)[0] + "/" + image.layers_from
        rng = random.Random(f"{owner}:{platform}" if image.layers_from else seed)
        layers = [rng.randbytes(image.layer_size) for _ in range(image.layers)]
        os_name, arch = platform.split("/", 1)
        config = _canonical({
            "architecture": arch, "os": os_name,
            "config": {"Labels": {"org.opencontainers.image.title": image.repository}},
            "rootfs": {"type": "layers", "diff_ids": [_digest(layer) for layer in layers]},
        })
        for blob in (config, *layers):
            self._put_blob(blob)
        manifest = _canonical({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": _digest(config), "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": _digest(layer), "size": len(layer)}
                       for layer in layers],
            "annotations": {"org.opencontainers.image.ref.name": seed},
        })
        return manifest, _digest(manifest)

    def _put_blob(self, data: bytes) -> None:
        digest = _digest(data)
        url = f"{self.base}/v2/{self.repository}/blobs"
        if self.session.head(f"{url}/{digest}", timeout=30).status_code == 200:
            return
        started = self.session.post(f"{url}/uploads/", timeout=30)
        _check(started, 202)
        location = started.headers["Location"]
        target = location if location.startswith("http") else self.base + location
        done = self.session.put(target, params={"digest": digest}, data=data, timeout=60,
                                headers={"Content-Type": "application/octet-stream"})
        _check(done, 201)

    def _put_manifest(self, reference: str, body: bytes, media_type: str) -> None:
        answer = self.session.put(f"{self.base}/v2/{self.repository}/manifests/{reference}",
                                  data=body, headers={"Content-Type": media_type}, timeout=30)
        _check(answer, 201)


def _check(response: requests.Response, status: int) -> None:
    if response.status_code != status:
        raise RuntimeError(f"registry answered {response.status_code} to "
                           f"{response.request.method} {response.request.path_url.split('?')[0]}")


def _canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, indent=2, sort_keys=False).encode()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _platform(platform: str) -> dict[str, str]:
    os_name, arch = platform.split("/", 1)
    return {"os": os_name, "architecture": arch}
