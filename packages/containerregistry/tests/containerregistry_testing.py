"""Helpers for the registry tests: registries made through ARM, images pushed as docker,
oras and cosign push them, and the engine run on one pair. Everything goes through the
official SDKs to the sandbox; no client is mocked."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atg_dataplane import ReplicationMode, ResourceBinding
from atg_dataplane.testing import PairRun

TEST_GROUP = "rg-acr-tests"
AUDIENCE = "https://containerregistry.azure.net"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
REPLICATION = ReplicationMode.REPLICATION


@dataclass
class RegistryWorld:
    sandbox: Any
    """The ``sandbox`` fixture (credentials, contexts and ARM kwargs of its principals)."""

    def registry(self, side: str, name: str | None = None) -> ResourceBinding:
        """A new, empty registry made through ARM (as Terraform would), read as the engine
        reads it."""
        from atg_dataplane.inventory import _get_full
        from atg_dataplane_containerregistry.plugin import dataplane_resource_types
        from azure.mgmt.containerregistry import ContainerRegistryManagementClient
        from azure.mgmt.resource.resources import ResourceManagementClient

        sandbox = self.sandbox
        name = name or f"acr{side[:3]}{uuid.uuid4().hex[:8]}"
        admin, arm = sandbox.credential(side, "admin"), sandbox.arm_kwargs()
        subscription = sandbox.topology.tenant(side).subscription_id
        ResourceManagementClient(admin, subscription, **arm).resource_groups.create_or_update(
            TEST_GROUP, {"location": "eastus"}
        )
        client = ContainerRegistryManagementClient(admin, subscription, **arm)
        created = client.registries.begin_create(
            TEST_GROUP,
            name,
            {"location": "eastus", "sku": {"name": "Standard"}},
            polling_interval=0.1,
        ).result()
        spec = dataplane_resource_types()[0]
        resource = _get_full(sandbox.context(side, "admin"), created.id, spec)
        return ResourceBinding(resource=resource, context=sandbox.context(side))

    def admin(self, binding: ResourceBinding) -> Any:
        """The registry's data plane with the admin principal (seeding, inspecting)."""
        from azure.containerregistry import ContainerRegistryClient

        return ContainerRegistryClient(
            f"https://{binding.resource.properties['loginServer']}",
            self.sandbox.credential(binding.side, "admin"),
            audience=AUDIENCE,
            connection_verify=str(self.sandbox.ca_bundle),
        )


# -- pushing images (what docker, oras and cosign do) -------------------------------------
def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_image(
    client: Any, repository: str, tags: list[str], layers: list[bytes] | None = None
) -> str:
    """An image of ``layers`` under every tag; its digest."""
    layers = layers if layers is not None else [uuid.uuid4().bytes * 64]
    config = json.dumps({"architecture": "amd64", "os": "linux", "id": repository}).encode()
    for blob in (config, *layers):
        client.upload_blob(repository, io.BytesIO(blob))
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest_of(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": digest_of(layer),
                    "size": len(layer),
                }
                for layer in layers
            ],
        },
        indent=3,  # unusual formatting: the bytes must come through as they are
    ).encode()
    return put_manifest(client, repository, manifest, OCI_MANIFEST, tags)


def put_manifest(
    client: Any, repository: str, data: bytes, media_type: str, tags: list[str]
) -> str:
    for tag in tags or [None]:
        client.set_manifest(repository, io.BytesIO(data), tag=tag, media_type=media_type)
    return digest_of(data)


def push_referrer(client: Any, repository: str, subject: str, artifact_type: str) -> str:
    """An OCI 1.1 artifact (a signature, an SBOM) referring to ``subject``."""
    subject_bytes = client_manifest_bytes(client, repository, subject)
    empty, payload = b"{}", json.dumps({"type": artifact_type, "of": subject}).encode()
    for blob in (empty, payload):
        client.upload_blob(repository, io.BytesIO(blob))
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": digest_of(empty),
                "size": 2,
            },
            "layers": [
                {"mediaType": artifact_type, "digest": digest_of(payload), "size": len(payload)}
            ],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": len(subject_bytes)},
        }
    ).encode()
    return put_manifest(client, repository, manifest, OCI_MANIFEST, [])


def client_manifest_bytes(client: Any, repository: str, reference: str) -> bytes:
    from azure.core.rest import HttpRequest

    answer = client._client._client.send_request(
        HttpRequest(
            "GET",
            f"{client._endpoint}/v2/{repository}/manifests/{reference}",
            headers={"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"},
        )
    )
    answer.raise_for_status()
    return bytes(answer.read())


def referrers(client: Any, repository: str, digest: str) -> list[dict[str, Any]]:
    """The independent check: the registry's own referrers API."""
    from azure.core.rest import HttpRequest

    answer = client._client._client.send_request(
        HttpRequest("GET", f"{client._endpoint}/v2/{repository}/referrers/{digest}")
    )
    answer.raise_for_status()
    return list(answer.json()["manifests"])


# -- the engine on one pair ------------------------------------------------------------------
class Run(PairRun):
    def __init__(self, source: ResourceBinding, target: ResourceBinding, tmp: Path) -> None:
        super().__init__("containerregistry", source, target, tmp)
