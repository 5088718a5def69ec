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
    counts = {"repositories": 0, "images": 0, "manifests": 0}
    for image in contents.images:
        pusher = _Pusher(session, upstream, f"{spec.source_name}/{image.repository}")
        if pusher.has_tags(image.tags):
            continue
        counts["repositories"] += 1
        counts["manifests"] += pusher.push(image)
        counts["images"] += len(image.tags)
    return counts


class _Pusher:
    def __init__(self, session: requests.Session, base: str, repository: str) -> None:
        self.session, self.base, self.repository = session, base, repository

    def has_tags(self, tags: list[str]) -> bool:
        answer = self.session.get(f"{self.base}/v2/{self.repository}/tags/list", timeout=30)
        return answer.status_code == 200 and set(tags) <= set(answer.json().get("tags") or [])

    def push(self, image: ImageSpec) -> int:
        """Push the image under each tag; return how many manifests were stored."""
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

    def _platform_manifest(self, image: ImageSpec, platform: str) -> tuple[bytes, str]:
        seed = f"{self.repository}:{platform}"
        rng = random.Random(seed)
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
