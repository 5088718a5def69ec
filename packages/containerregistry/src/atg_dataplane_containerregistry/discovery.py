"""What a registry holds, as items: one per image (a tagged manifest or index, with all its
tags), and one per artifact that refers to it (a signature, an SBOM: its OCI referrers).

An image and its referrers share a name, ``repository@image-digest``, and are versions of
it, the image first: the engine copies a referrer only after its subject. The children of
a multi-architecture index travel with the index. Untagged manifests are copied when
``containerregistry.untagged`` is on, and otherwise reported, each with its reason.

In template mode a registry cannot hold an empty repository, so nothing is created: one
item per registry says so and counts what replication would copy.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from atg_dataplane import (
    DataPlaneItem,
    Fingerprinter,
    ReplicationMode,
    ResourceBinding,
    read_ahead,
)

from atg_dataplane_containerregistry.registry import Manifest, Registry

MANIFEST = "manifest"
REGISTRY = "registry"
WHOLE_REGISTRY = "(registry)"
WORKERS = 16
"""Repositories read side by side: each costs a few short round trips (token, listings)."""


@dataclass(frozen=True)
class Options:
    untagged: bool = False
    server_side: bool = True

    @classmethod
    def of(cls, options: Any) -> Options:
        options = options or {}
        return cls(
            untagged=bool(options.get("containerregistry.untagged", False)),
            server_side=bool(options.get("containerregistry.server_side", True)),
        )


def attributes(props: Any) -> dict[str, bool | None]:
    """The changeable attributes (locks) of a tag or manifest."""
    return {
        "can_delete": props.can_delete,
        "can_write": props.can_write,
        "can_list": props.can_list,
        "can_read": props.can_read,
    }


def discover(
    binding: ResourceBinding,
    mode: ReplicationMode,
    options: Options,
    fingerprinter: Fingerprinter,
) -> Iterator[DataPlaneItem]:
    registry = Registry.of(binding)
    if mode is ReplicationMode.TEMPLATE:
        yield _template_item(binding, registry)
        return
    repositories = registry.repositories()
    for contents in read_ahead(lambda repo: _repository(registry, repo), repositories, WORKERS):
        yield from contents.items(binding, options, fingerprinter)


@dataclass
class _Repository:
    name: str
    listed: dict[str, Any]
    """Digest -> ArtifactManifestProperties."""
    manifests: dict[str, Manifest]
    tags: dict[str, Any]
    """Tag -> ArtifactTagProperties."""

    def children(self) -> set[str]:
        return {
            child["digest"]
            for manifest in self.manifests.values()
            for child in manifest.document.get("manifests") or []
        }

    def image_bytes(self, digest: str) -> int:
        """What the manifest and its blobs hold (an index: with its platform images')."""
        manifest = self.manifests.get(digest)
        if manifest is None:
            return 0
        document = manifest.document
        blobs = [document.get("config") or {}, *(document.get("layers") or [])]
        total = len(manifest.data) + sum(int(b.get("size") or 0) for b in blobs)
        return total + sum(
            self.image_bytes(child["digest"]) for child in document.get("manifests") or []
        )

    def subject(self, digest: str) -> str | None:
        manifest = self.manifests.get(digest)
        return (manifest.document.get("subject") or {}).get("digest") if manifest else None

    def items(
        self, binding: ResourceBinding, options: Options, fingerprinter: Fingerprinter
    ) -> Iterator[DataPlaneItem]:
        children = self.children()
        referrers: dict[str, list[str]] = {}
        for digest in self.manifests:
            subject = self.subject(digest)
            if subject:
                referrers.setdefault(subject, []).append(digest)
        roots = sorted(d for d in self.manifests if d not in children and not self.subject(d))
        for root in roots:
            name = f"{self.name}@{root}"
            tags = sorted(self.listed[root].tags or [])
            if not tags and not options.untagged:
                yield self._item(binding, name, root, 0, fingerprinter, untagged=True)
                continue
            yield self._item(binding, name, root, 0, fingerprinter)
            for order, digest in enumerate(_referrers_of(root, referrers), start=1):
                yield self._item(binding, name, digest, order, fingerprinter)

    def _item(
        self,
        binding: ResourceBinding,
        name: str,
        digest: str,
        order: int,
        fingerprinter: Fingerprinter,
        untagged: bool = False,
    ) -> DataPlaneItem:
        listed = self.listed[digest]
        manifest = self.manifests[digest]
        tags = sorted(listed.tags or [])
        properties: dict[str, Any] = {
            "media_type": manifest.media_type,
            "tags": tags,
            "attributes": attributes(listed),
            "tag_attributes": {t: attributes(self.tags[t]) for t in tags if t in self.tags},
        }
        if order:
            properties["artifact_type"] = manifest.document.get("artifactType") or (
                (manifest.document.get("config") or {}).get("mediaType")
            )
        reason = ""
        if untagged:
            reason = (
                "an untagged manifest (an earlier build, or one left by a moved tag): untagged "
                "manifests are copied only when asked for; set containerregistry.untagged=true"
            )
        return DataPlaneItem(
            name=name,
            kind=MANIFEST,
            source_resource_id=binding.resource.id,
            properties=properties,
            size_bytes=self.image_bytes(digest),
            fingerprint=fingerprinter.of(digest),  # content-addressed already
            version=digest,
            order=order,
            copyable=not untagged,
            not_copyable_reason=reason,
        )


def _referrers_of(root: str, referrers: dict[str, list[str]]) -> list[str]:
    """Every manifest that refers to ``root``, or to one of those (a signature of an
    SBOM), in an order both sides share (by depth, then digest)."""
    found: list[str] = []
    level = [root]
    seen = {root}
    while level:
        following = sorted(d for subject in level for d in referrers.get(subject, []))
        following = [d for d in following if d not in seen]
        seen.update(following)
        found += following
        level = following
    return found


def _repository(registry: Registry, name: str) -> _Repository:
    listed = {m.digest: m for m in registry.manifests(name)}
    fetched = read_ahead(lambda digest: (digest, registry.manifest(name, digest)), listed)
    manifests = {digest: found for digest, found in fetched if found is not None}
    return _Repository(name, listed, manifests, registry.tags(name))


def _template_item(binding: ResourceBinding, registry: Registry) -> DataPlaneItem:
    repositories = tags = manifests = size = 0
    listed = registry.repositories()
    for contents in read_ahead(lambda repo: _repository(registry, repo), listed, WORKERS):
        repositories += 1
        tags += len(contents.tags)
        manifests += len(contents.manifests)
        children = contents.children()
        size += sum(contents.image_bytes(d) for d in contents.manifests if d not in children)
    reason = (
        f"a registry cannot hold an empty repository, so template mode creates nothing here: "
        f"replication mode copies its {repositories} repositories, {tags} tags and "
        f"{manifests} manifests (atg-dataplane replicate --mode replication)"
    )
    return DataPlaneItem(
        name=WHOLE_REGISTRY,  # the same on both sides, so that verify pairs them
        kind=REGISTRY,
        source_resource_id=binding.resource.id,
        properties={"repositories": repositories, "tags": tags, "manifests": manifests},
        size_bytes=size,
        copyable=False,
        not_copyable_reason=reason,
    )
