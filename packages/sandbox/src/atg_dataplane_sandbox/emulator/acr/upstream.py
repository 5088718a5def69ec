"""The OCI registry behind every emulated ACR; each registry owns the repositories under
``<registry name>/`` there, so one upstream serves any number of registries.

The registry takes only the sandbox's upstream credentials (HTTP Basic, read from the
sandbox directory): every request of this session carries them, whatever a client sent.

Distribution 2.8 cannot list a repository's manifests (only its tags) and has no referrers
API; ACR has both. The front reads which manifests a repository holds from the registry's
own storage (the sandbox runs it with a filesystem store under ``<sandbox>/registry``):
every manifest ever put into a repository has a revision link there, tagged or not.
"""

from __future__ import annotations

import shutil
import ssl
from pathlib import Path
from typing import Any

import aiohttp

from atg_dataplane_sandbox.emulator.common.errors import AzureError
from atg_dataplane_sandbox.services.upstream_auth import registry_authorization

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


class Upstream:
    def __init__(self, emu: Any) -> None:
        self.emu = emu
        self._session: aiohttp.ClientSession | None = None

    @property
    def base(self) -> str:
        url = (self.emu.read_services().get("registry") or {}).get("upstream")
        if not url:
            raise AzureError(503, "RegistryUnavailable", "No upstream registry in services.json.")
        return str(url).rstrip("/")

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            context = ssl.create_default_context(cafile=str(self.emu.certs.ca))
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=context, limit=64),
                auto_decompress=False,
                headers={"Authorization": registry_authorization(self.emu.directory)},
                raise_for_status=_refused,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def json(self, path: str) -> Any:
        async with self.session().get(self.base + path) as response:
            if response.status == 404:
                return None
            response.raise_for_status()
            return await response.json(content_type=None)

    async def repositories(self, registry: str) -> list[str]:
        prefix = registry.lower() + "/"
        names: list[str] = []
        path: str | None = f"/v2/_catalog?n=1000&last={prefix[:-1]}"  # sorted: skip ahead
        while path:
            async with self.session().get(self.base + path) as response:
                response.raise_for_status()
                body = await response.json(content_type=None)
                link = response.headers.get("Link", "")
            batch = body.get("repositories") or []
            names += [r[len(prefix) :] for r in batch if r.startswith(prefix)]
            past = batch and batch[-1][: len(prefix)] > prefix
            path = link[link.find("<") + 1 : link.find(">")] if link and not past else None
        return sorted(names)

    async def tags(self, registry: str, repo: str) -> list[str]:
        body = await self.json(f"/v2/{registry.lower()}/{repo}/tags/list") or {}
        return sorted(body.get("tags") or [])

    async def manifest(
        self, registry: str, repo: str, reference: str
    ) -> tuple[bytes, str, str] | None:
        """Raw bytes, media type and digest of a manifest (None if absent)."""
        url = f"{self.base}/v2/{registry.lower()}/{repo}/manifests/{reference}"
        async with self.session().get(url, headers={"Accept": MANIFEST_TYPES}) as response:
            if response.status == 404:
                return None
            response.raise_for_status()
            return (
                await response.read(),
                response.headers.get("Content-Type", ""),
                response.headers.get("Docker-Content-Digest", ""),
            )

    async def put_manifest(
        self, registry: str, repo: str, reference: str, data: bytes, media_type: str
    ) -> None:
        url = f"{self.base}/v2/{registry.lower()}/{repo}/manifests/{reference}"
        async with self.session().put(
            url, data=data, headers={"Content-Type": media_type}
        ) as response:
            if response.status not in (200, 201):
                raise AzureError(502, "UpstreamError", f"manifest push failed: {response.status}")

    async def mount_blob(self, registry: str, repo: str, digest: str, source: str) -> None:
        """Cross-repository blob mount (no bytes through the emulator)."""
        url = (
            f"{self.base}/v2/{registry.lower()}/{repo}/blobs/uploads/?mount={digest}&from={source}"
        )
        async with self.session().post(url) as response:
            if response.status == 202:  # the registry started an upload instead: no such blob
                raise AzureError(
                    404, "BlobNotFound", f"blob {digest} was not found in the source image"
                )
            if response.status != 201:
                raise AzureError(
                    502, "UpstreamError", f"blob mount of {digest} failed: {response.status}"
                )

    def has_repository(self, registry: str, repo: str) -> bool:
        """Whether the registry's catalog lists ``repo``, from its storage as
        :meth:`manifest_digests` reads it: the catalog walks every repository of every
        registry in the sandbox, which made each repository request cost the whole storage.
        The catalog counts a directory holding ``_layers`` (a blob was pushed to it, even
        if no manifest ever was) as a repository; so does this."""
        parts = repo.split("/")
        if any(part in ("", ".", "..") or part.startswith("_") for part in parts):
            return False  # not a repository name: never a path out of this registry
        found = self._repositories() / registry.lower() / repo
        return (found / "_layers").is_dir() or (found / "_manifests").is_dir()

    def _repositories(self) -> Path:
        return Path(self.emu.directory) / "registry" / "docker" / "registry" / "v2" / "repositories"

    def manifest_digests(self, registry: str, repo: str) -> list[str]:
        """Every manifest the repository holds, tagged or not (from the registry's storage:
        ``_manifests/revisions/<algorithm>/<hex>/link``), sorted."""
        revisions = self._repositories() / registry.lower() / repo / "_manifests" / "revisions"
        if not revisions.is_dir():
            return []
        return sorted(
            f"{algorithm.name}:{entry.name}"
            for algorithm in revisions.iterdir()
            for entry in algorithm.iterdir()
            if (entry / "link").exists()
        )

    def delete_tag(self, registry: str, repo: str, tag: str) -> bool:
        """Remove a tag, leaving its manifest (distribution's API deletes manifests only)."""
        tag_dir = self._repositories() / registry.lower() / repo / "_manifests" / "tags" / tag
        if not tag_dir.is_dir():
            return False
        shutil.rmtree(tag_dir)
        return True

    async def delete_manifest(self, registry: str, repo: str, digest: str) -> None:
        url = f"{self.base}/v2/{registry.lower()}/{repo}/manifests/{digest}"
        async with self.session().delete(url) as response:
            if response.status not in (202, 404):
                raise AzureError(502, "UpstreamError", f"delete failed: {response.status}")


async def _refused(response: aiohttp.ClientResponse) -> None:
    """The registry's own 401 (our credentials, not the client's, failed) must not reach a
    client as a Basic challenge: it is the emulator's fault, so a 502."""
    if response.status == 401:
        response.release()
        raise AzureError(
            502, "UpstreamError", "The registry behind this ACR refused the emulator's credentials."
        )


def upstream_of(emu: Any) -> Upstream:
    """The emulator's one session to the registries' upstream (closed when it stops)."""
    return emu.part("acr.upstream", Upstream)
