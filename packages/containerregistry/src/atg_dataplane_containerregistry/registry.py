"""One registry on one side: the data-plane client, the raw OCI calls the SDK lacks, and the
refresh token ``importImage`` needs to read a registry of another tenant.

Clients share the side's transport and retry policy (``SideContext.client_kwargs``). The
SDK has no call for a manifest's exact bytes, the OCI referrers API, a blob's existence or a
cross-repository mount: those go through the SDK's own pipeline (its ACR token exchange and
challenge handling included), as the azure-containerregistry samples do for raw requests.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from atg_dataplane import ResourceBinding, idempotent
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
        self.tokens = Tokens(self.client, self._exchange_client(binding), self.login, binding.side)

    def _exchange_client(self, binding: ResourceBinding) -> Any:
        """The SDK's ACR token client, on a pipeline of its own: the one inside the client
        was built from the same keyword arguments, so it shares the run's retry policy
        object with the client's pipeline, whose later build re-links that policy to the
        client's own chain (the token requests then went through the challenge policy)."""
        from azure.containerregistry._exchange_client import ACRExchangeClient

        return ACRExchangeClient(
            self.endpoint,
            binding.context.credential,
            credential_scopes=[f"{audience(binding)}/.default"],
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

        with idempotent():  # the same bytes under the same reference: safe to repeat
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
    return Registry.of(binding).tokens.refresh()


TARGET_ACTIONS = ("pull", "push", "metadata_read", "metadata_write")


class Tokens:
    """The registry's ACR tokens, kept for the run and sent before they are asked for.

    The SDK's challenge policy answers every 401 with a new refresh token and a new access
    token for that one request's scope: three to four extra round trips per repository
    and per action. Here one refresh token serves the run, and one access token per
    repository carries every action this side needs; it goes with the first request, so a
    repository costs one token exchange. A request the token does not cover is still
    challenged, and answered for its own scope.
    """

    ACTIONS = {"source": ("pull", "metadata_read"), "target": TARGET_ACTIONS}
    MARGIN = 60  # seconds: a token this close to its expiry is renewed

    def __init__(
        self, client: ContainerRegistryClient, exchange: Any, service: str, side: str
    ) -> None:
        policy = client._auth_policy  # the SDK's ContainerRegistryChallengePolicy
        self._exchange = exchange
        self._service = service
        self._actions = self.ACTIONS.get(side, TARGET_ACTIONS)
        self._lock = threading.Lock()
        self._refresh: tuple[str, float] | None = None
        self._access: dict[str, tuple[str, float]] = {}
        policy.on_request = self._authorize
        policy._exchange_client = self

    def refresh(self) -> str:
        with self._lock:
            if self._refresh is None or self._refresh[1] - time.time() < self.MARGIN:
                with idempotent():  # a token exchange writes nothing: repeat it freely
                    token = self._exchange.exchange_aad_token_for_refresh_token(self._service)
                self._refresh = (token, _expiry(token))
            return self._refresh[0]

    def _authorize(self, request: Any) -> None:
        """Before a request goes: this repository's token, obtained now if there is none."""
        key = _scope_key(request.http_request.url)
        if not key:
            return
        with self._lock:
            found = self._access.get(key)
        if not found or found[1] - time.time() < self.MARGIN:
            actions = "*" if key.startswith("registry:") else ",".join(self._actions)
            try:
                found = self._obtain(f"{key}:{actions}")
            except HttpResponseError:
                return  # the request goes without; its challenge says what is wrong
        if found:
            request.http_request.headers["Authorization"] = f"Bearer {found[0]}"

    def get_acr_access_token(self, challenge: str, **kwargs: Any) -> str | None:
        """The challenge policy's call (a request the kept token did not cover): a token for
        the challenged scope, for a repository with every action of this side too."""
        scope = _challenged_scope(challenge)
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        if kind == "repository":
            wanted = [*self._actions, *(a for a in actions.split(",") if a not in self._actions)]
            scope = f"repository:{name}:{','.join(wanted)}"
        found = self._obtain(scope, **kwargs)
        return found[0] if found else None

    def _obtain(self, scope: str, **kwargs: Any) -> tuple[str, float] | None:
        operations = self._exchange._client.authentication
        refresh = self.refresh()
        with idempotent():
            answer = operations.exchange_acr_refresh_token_for_acr_access_token(
                service=self._service, scope=scope, refresh_token=refresh, **kwargs
            )
        if not answer.access_token:
            return None
        found = (str(answer.access_token), _expiry(answer.access_token))
        with self._lock:
            self._access[scope.rpartition(":")[0]] = found
        return found


def _challenged_scope(challenge: str) -> str:
    found = re.search(r'scope="([^"]*)"', challenge)
    return found.group(1) if found else ""


def _scope_key(url: str) -> str:
    """``repository:<name>`` or ``registry:catalog`` for a registry URL, as challenges name
    them; "" for anything else (token endpoints)."""
    path = unquote(urlsplit(url).path)
    parts = [p for p in path.split("/") if p]
    rest = parts[2:] if parts[:2] == ["acr", "v1"] else parts[1:] if parts[:1] == ["v2"] else None
    if rest is not None:
        if rest[:1] == ["_catalog"]:
            return "registry:catalog"
        for marker in ("manifests", "blobs", "tags", "referrers", "_tags", "_manifests"):
            if marker in rest:
                return "repository:" + "/".join(rest[: rest.index(marker)])
        if parts[0] == "acr" and rest:
            return "repository:" + "/".join(rest)
    return ""


def _expiry(token: str) -> float:
    """A JWT's ``exp`` (not verified: only to know when to renew); now when unreadable."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, KeyError, TypeError, ValueError):
        return time.time()
