"""Container Registry: every tag of every repository, imported server-side.

The baseline is what users run today: ``az acr import`` once per tag, one after another
(for every repository, every tag: ARM ``importImage`` of ``repository:tag``), the source
read with a refresh token its own principal obtains. The ceiling imports each image once
by digest with all its tags, on many threads. Both use the same SDK and credentials as
``atg-dataplane-containerregistry``; no image byte passes through this process.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from atg_dataplane import read_ahead
from azure.containerregistry import ContainerRegistryClient
from azure.core import PipelineClient
from azure.core.rest import HttpRequest
from azure.mgmt.containerregistry import ContainerRegistryManagementClient

from adapters import Task

RESOURCE_TYPE = "Microsoft.ContainerRegistry/registries"
AUDIENCE = "https://containerregistry.azure.net"
IMPORT_USER = "00000000-0000-0000-0000-000000000000"  # ACR's user name for refresh tokens


def _login(resource: Any) -> str:
    return str(resource.properties["loginServer"])


def _data_plane(resource: Any, side: Any, pool: int | None = None) -> ContainerRegistryClient:
    return ContainerRegistryClient(
        f"https://{_login(resource)}", side.credential, audience=AUDIENCE, **side.kwargs(pool)
    )


def _refresh_token(resource: Any, side: Any) -> str:
    """The ACR token exchange: the source principal's Entra token for a registry token."""
    server = _login(resource)
    access = side.credential.get_token(f"{AUDIENCE}/.default").token
    client = PipelineClient(f"https://{server}", **side.kwargs())
    answer = client.send_request(
        HttpRequest(
            "POST",
            f"https://{server}/oauth2/exchange",
            data={"grant_type": "access_token", "service": server, "access_token": access},
        )
    )
    answer.raise_for_status()
    return str(answer.json()["refresh_token"])


def _images(
    resource: Any, side: Any, each: Callable[..., Iterable[Any]] = map, pool: int | None = None
) -> dict[str, dict[str, list[str]]]:
    """repository -> digest -> tags (tagged images only, as ``az acr import`` sees them);
    ``each`` maps over the repositories (the builtin: one at a time, as the baseline reads)."""
    client = _data_plane(resource, side, pool)

    def of(repository: str) -> tuple[str, dict[str, list[str]]]:
        by_digest: dict[str, list[str]] = defaultdict(list)
        for tag in client.list_tag_properties(repository):
            by_digest[str(tag.digest)].append(str(tag.name))
        return repository, dict(by_digest)

    return dict(each(of, client.list_repository_names()))


class _Importer:
    """ARM ``importImage`` into the target registry, reading the source with its token."""

    def __init__(self, pair: Any, source: Any, target: Any, pool: int | None = None) -> None:
        parts = str(pair.target.id).split("/")
        self.group, self.name = parts[4], parts[-1]
        self.client = ContainerRegistryManagementClient(
            target.credential,
            parts[2],
            base_url=target.arm["url"],
            credential_scopes=[target.arm["scope"]],
            **target.kwargs(pool),
        )
        password = _refresh_token(pair.source, source)
        self.source = {
            "registryUri": _login(pair.source),
            "credentials": {"username": IMPORT_USER, "password": password},
        }

    def run(self, image: str, tags: list[str]) -> int:
        repository = image.split("@")[0].split(":")[0]
        self.client.registries.begin_import_image(
            self.group,
            self.name,
            {
                "source": {**self.source, "sourceImage": image},
                "targetTags": [f"{repository}:{t}" for t in tags],
                "mode": "NoForce",
            },
            polling_interval=0.5,
        ).result()
        return 0


class ContainerRegistryAdapter:
    resource_type = RESOURCE_TYPE
    kinds = ("manifest",)
    server_side_kinds: tuple[str, ...] = ("manifest",)

    def baseline(self, pair: Any, source: Any, target: Any, tally: Any) -> None:
        importer = _Importer(pair, source, target)
        for repository, digests in _images(pair.source, source).items():
            for tags in digests.values():
                for tag in tags:  # one az acr import per tag
                    importer.run(f"{repository}:{tag}", [tag])
                tally.add("manifest", 0)

    def plan(self, pair: Any, source: Any, target: Any, pool: int) -> list[Task]:
        importer = _Importer(pair, source, target, pool)
        # Not timed, but read one repository at a time it was the longest of the ceiling's
        # plans: the repositories are read on the pool's threads.
        images = _images(pair.source, source, lambda fn, xs: read_ahead(fn, xs, pool), pool)
        return [
            Task(
                "manifest",
                f"{repository}@{digest}",
                lambda r=repository, d=digest, t=tags: importer.run(f"{r}@{d}", t),
            )
            for repository, digests in images.items()
            for digest, tags in digests.items()
        ]

    # -- sandbox targets ------------------------------------------------------
    def fresh_targets(self, sandbox_dir: str, names: list[str], tag: str) -> dict[str, str]:
        from atg_dataplane_sandbox.seed import context
        from atg_dataplane_sandbox.seeders.registry import create_registry

        ctx = context(sandbox_dir)
        # Registry names are alphanumeric only.
        fresh = {name: f"{name}{tag}"[:50] for name in names}
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda n: create_registry(ctx, "target", n), fresh.values()))
        return fresh

    def drop_targets(self, sandbox_dir: str, names: list[str]) -> None:
        from atg_dataplane_sandbox.seed import context

        ctx = context(sandbox_dir)
        client = ctx.mgmt(ContainerRegistryManagementClient, "target")
        for name in names:
            client.registries.begin_delete(
                ctx.resource_groups["target"], name, polling_interval=0.1
            ).result()


ADAPTER = ContainerRegistryAdapter()
