"""One registry on one side: the data-plane client, the raw OCI calls the SDK lacks, and the
refresh token ``importImage`` needs to read a registry of another tenant.

Clients share the side's transport and retry policy (``SideContext.client_kwargs``). The
SDK has no call for a manifest's exact bytes, the OCI referrers API, a blob's existence or a
cross-repository mount: those go through the SDK's own pipeline (its ACR token exchange and
challenge handling included), as the azure-containerregistry samples do for raw requests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from atg_dataplane import ResourceBinding
from azure.containerregistry import ContainerRegistryClient
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.rest import HttpRequest

AUDIENCES = {
    "azureusgovernment": "https://containerregistry.azure.us",
    "azurechinacloud": "https://containerregistry.azure.cn",
}
DEFAULT_AUDIENCE = "https://containerregistry.azure.net"
MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
INDEX_TYPES = frozenset(MANIFEST_TYPES[0::2])
IMPORT_USER = "00000000-0000-0000-0000-000000000000"
"""The user name ACR takes with a refresh token as password (``az acr login --expose``)."""


def audience(binding: ResourceBinding) -> str:
    return AUDIENCES.get(binding.context.cloud.name.lower(), DEFAULT_AUDIENCE)


def login_server(binding: ResourceBinding) -> str:
    server = binding.resource.properties.get("loginServer")
    if not server:
        from atg_dataplane import ItemError

        raise ItemError(
            f"registry {binding.resource.name} has no loginServer in its ARM properties",
            remedy="export the registry with its properties (az acr show)",
        )
    return str(server)


@dataclass(frozen=True)
class Manifest:
    """A manifest as stored: its exact bytes, media type and digest."""

    data: bytes
    media_type: str
    digest: str

    @property
    def document(self) -> dict[str, Any]:
        import json

        loaded = json.loads(self.data)
        return loaded if isinstance(loaded, dict) else {}

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES or "manifests" in self.document


class Registry:
    """The registry of ``binding`` through its data plane (one per registry and run)."""

    def __init__(self, binding: ResourceBinding) -> None:
        self.binding = binding
        self.login = login_server(binding)
        self.endpoint = f"https://{self.login}"
        self.client = ContainerRegistryClient(
            self.endpoint,
            binding.context.credential,
            audience=audience(binding),
            **binding.context.client_kwargs(),
        )

    @classmethod
    def of(cls, binding: ResourceBinding) -> Registry:
        found: Registry = binding.cached("containerregistry.registry", lambda: cls(binding))
        return found

    # -- the SDK's own pipeline, for what it has no call for ---------------------------------
    def _send(self, method: str, path: str, **headers: str) -> Any:
        request = HttpRequest(method, self.endpoint + path, headers=headers or None)
        return self.client._client._client.send_request(request)

    def manifest(self, repository: str, reference: str) -> Manifest | None:
        """The manifest's exact bytes (digests must not change), or None when absent."""
        answer = self._send(
            "GET",
            f"/v2/{repository}/manifests/{reference}",
            Accept=", ".join(MANIFEST_TYPES),
        )
        if answer.status_code == 404:
            return None
        answer.raise_for_status()
        data = answer.read()
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if reference.startswith("sha256:") and digest != reference:
            raise HttpResponseError(
                message=f"manifest {repository}@{reference} came back with digest {digest}"
            )
        return Manifest(data, answer.headers.get("Content-Type", ""), digest)

    def referrers(self, repository: str, digest: str) -> list[dict[str, Any]]:
        """The OCI 1.1 referrers of a manifest: descriptors of the manifests whose
        ``subject`` it is (signatures, SBOMs, attestations)."""
        answer = self._send("GET", f"/v2/{repository}/referrers/{quote(digest, safe=':')}")
        if answer.status_code == 404:
            return []
        answer.raise_for_status()
        return list(answer.json().get("manifests") or [])

    def has_blob(self, repository: str, digest: str) -> bool:
        answer = self._send("HEAD", f"/v2/{repository}/blobs/{digest}")
        if answer.status_code == 404:
            return False
        answer.raise_for_status()
        return True

    def mount(self, repository: str, digest: str, source_repository: str) -> bool:
        """Mount a blob the registry holds in another repository (no bytes move); False
        when the registry started an upload instead (which is then cancelled)."""
        answer = self._send(
            "POST",
            f"/v2/{repository}/blobs/uploads/?mount={quote(digest, safe=':')}"
            f"&from={quote(source_repository, safe='/')}",
        )
        if answer.status_code == 201:
            return True
        location = answer.headers.get("Location")
        if answer.status_code == 202 and location:
            path = location if location.startswith("/") else "/" + location.split("/", 3)[-1]
            self._send("DELETE", path)
        return False

    def put_manifest(self, repository: str, manifest: Manifest, reference: str) -> None:
        import io

        self.client.set_manifest(
            repository,
            io.BytesIO(manifest.data),
            tag=reference if not reference.startswith("sha256:") else None,
            media_type=manifest.media_type,
        )

    # -- listings -----------------------------------------------------------------------------
    def repositories(self) -> Iterator[str]:
        yield from self.client.list_repository_names()

    def manifests(self, repository: str) -> list[Any]:
        try:
            return list(self.client.list_manifest_properties(repository))
        except ResourceNotFoundError:
            return []

    def tags(self, repository: str) -> dict[str, Any]:
        """``{tag: ArtifactTagProperties}`` of a repository (empty when it does not exist)."""
        try:
            return {t.name: t for t in self.client.list_tag_properties(repository)}
        except ResourceNotFoundError:
            return {}


def refresh_token(binding: ResourceBinding) -> str:
    """An ACR refresh token for the source registry, obtained with the source principal's
    own Entra token (the ACR token exchange). ``importImage`` in the target tenant reads
    the source with it: the target's principal has no access there. Kept in memory only."""

    def exchange() -> str:
        from azure.core import PipelineClient

        context = binding.context
        server = login_server(binding)
        token = context.credential.get_token(f"{audience(binding)}/.default").token
        client = PipelineClient(f"https://{server}", **context.client_kwargs())
        request = HttpRequest(
            "POST",
            f"https://{server}/oauth2/exchange",
            data={
                "grant_type": "access_token",
                "service": server,
                "tenant": context.tenant_id,
                "access_token": token,
            },
        )
        answer = client.send_request(request)
        answer.raise_for_status()
        return str(answer.json()["refresh_token"])

    value: str = binding.cached("containerregistry.refresh_token", exchange)
    return value
