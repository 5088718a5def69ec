"""Copying one image (with all its tags) or one referrer into the target registry.

An image goes server-side first: ARM ``importImage`` of the source digest with every tag
at once, the source read with a refresh token the source's own principal obtains (the
target's principal has no access to another tenant's registry). Where import cannot reach
the source (network rules, another cloud, the import refused), and for referrers (import
does not carry them), manifests are copied through the registry API: blobs the target
lacks streamed chunk by chunk or mounted from another repository of the target, children
of an index before the index, manifests as their exact bytes (digests never change).

A tag already at the digest is left alone; a tag at another digest is moved. Tag and
manifest attributes (locks) are set last.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

from atg_dataplane import (
    DataPlaneItem,
    ItemError,
    ItemOutcome,
    ReplicationMode,
    ResourceBinding,
    TargetListing,
    idempotent,
    is_settling,
)
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from atg_dataplane_containerregistry.discovery import REGISTRY, Options
from atg_dataplane_containerregistry.registry import (
    IMPORT_USER,
    Manifest,
    Registry,
    refresh_token,
)

# What a manifest or tag just written holds: every operation enabled.
FRESH = SimpleNamespace(can_delete=True, can_write=True, can_list=True, can_read=True)

# importImage refusals that mean "the target cannot reach or read the source": copy
# through the registry API instead.
_UNREACHABLE = {400, 401, 403, 404, 409, 501}


def replicate(
    item: DataPlaneItem,
    source: ResourceBinding,
    target: ResourceBinding,
    mode: ReplicationMode,
    options: Options,
) -> ItemOutcome:
    if item.kind == REGISTRY or not item.copyable:
        return ItemOutcome(status="skipped", reason=item.not_copyable_reason)
    repository = item.name.rpartition("@")[0]
    digest = str(item.version)
    src, dst = Registry.of(source), Registry.of(target)
    tags = list(item.properties.get("tags") or [])
    if _new_repository(target, dst, repository):  # nothing to list or ask
        have, tag_state = None, dict.fromkeys(tags)
    else:
        known, have = _target_manifests(target, dst, repository).take(digest)
        if not known:
            have = _manifest_state(dst, repository, digest)
        listing = _target_tags(target, dst, repository)
        tag_state = {t: _tag_state(dst, listing, repository, t) for t in tags}
    at = {t: None if state is None else str(state.digest) for t, state in tag_state.items()}
    moved = [t for t in tags if at[t] != digest]
    elsewhere = [t for t in moved if at[t] is not None]
    in_place = have is not None
    warnings: list[str] = []
    copied = client_bytes = 0
    if in_place and not moved:
        changed = _set_attributes(dst, repository, digest, item.properties, have, tag_state)
        return ItemOutcome(status="replicated" if changed else "unchanged")
    for tag in elsewhere:  # before any write: a locked tag fails the item, nothing half-moved
        _check_unlocked(dst, repository, tag, at[tag])
    imported = False
    if options.server_side and item.order == 0:
        imported, why = _import(source, target, repository, digest, moved, force=bool(elsewhere))
        if why:
            warnings.append(why)
    if not imported:
        manifest = src.manifest(repository, digest)
        if manifest is None:
            raise ItemError(f"{repository}@{digest} no longer exists in the source registry")
        if not in_place:
            copied, client_bytes = _push_tree(src, dst, target, repository, manifest)
        for tag in moved:
            dst.put_manifest(repository, manifest, tag)
    # What was just written has the defaults; a moved tag keeps its own: read it again.
    written = {t: (FRESH if at[t] is None else None) for t in moved}
    _set_attributes(
        dst, repository, digest, item.properties, have or FRESH, {**tag_state, **written}
    )
    return ItemOutcome(
        status="replicated",
        bytes_copied=copied or item.size_bytes,
        client_bytes=client_bytes,
        warnings=tuple(warnings),
    )


def _new_repository(target: ResourceBinding, dst: Registry, repository: str) -> bool:
    """True when the target had no such repository when the run began. Its manifests and
    tags are then this run's to write, one item each, so an item need not ask the target
    about them (unless the engine is settling the item's earlier attempt)."""
    if is_settling():
        return False
    existing = target.cached("containerregistry.target_repositories", lambda: _catalog(dst))
    return existing is not None and repository not in existing


def _catalog(dst: Registry) -> set[str] | None:
    try:
        return set(dst.repositories())
    except HttpResponseError as error:
        if error.status_code in (401, 403):  # no catalog right: ask per repository
            return None
        raise


def _target_manifests(target: ResourceBinding, dst: Registry, repository: str) -> TargetListing:
    return target.listing(
        f"containerregistry.manifests:{repository}",
        lambda: ((m.digest, m) for m in dst.manifests(repository)),
    )


def _target_tags(target: ResourceBinding, dst: Registry, repository: str) -> TargetListing:
    return target.listing(
        f"containerregistry.tags:{repository}", lambda: iter(dst.tags(repository).items())
    )


def _manifest_state(dst: Registry, repository: str, digest: str) -> Any:
    """The target manifest's properties (attributes), or None where it is absent."""
    try:
        return dst.client.get_manifest_properties(repository, digest)
    except ResourceNotFoundError:
        return None


def _tag_state(dst: Registry, listing: TargetListing | None, repository: str, tag: str) -> Any:
    """The target tag's properties (its digest, attributes), or None where it is absent."""
    if listing is not None:
        known, props = listing.take(tag)
        if known:
            return props
    try:
        return dst.client.get_tag_properties(repository, tag)
    except ResourceNotFoundError:
        return None


def _current(dst: Registry, repository: str, tag: str) -> str | None:
    state = _tag_state(dst, None, repository, tag)
    return None if state is None else str(state.digest)


def _import(
    source: ResourceBinding,
    target: ResourceBinding,
    repository: str,
    digest: str,
    tags: list[str],
    *,
    force: bool,
) -> tuple[bool, str]:
    """``(imported, warning)``: ARM importImage of ``repository@digest`` under ``tags`` (none:
    by digest only); ``force`` moves tags that point elsewhere in the target."""
    from azure.mgmt.containerregistry import ContainerRegistryManagementClient

    context = target.context
    mgmt = context.cached_client(
        "containerregistry.mgmt",
        lambda: ContainerRegistryManagementClient(
            context.credential, context.subscription_id, **context.arm_kwargs()
        ),
    )
    try:
        password = refresh_token(source)
    except HttpResponseError as error:
        return False, _fallback("no ACR refresh token for the source registry", error)
    parameters: dict[str, Any] = {
        "source": {
            "registryUri": Registry.of(source).login,
            "sourceImage": f"{repository}@{digest}",
            "credentials": {"username": IMPORT_USER, "password": password},
        },
        # Force only to move tags that point elsewhere: otherwise a tag someone else took
        # meanwhile is not overwritten.
        "mode": "Force" if force else "NoForce",
    }
    if tags:
        parameters["targetTags"] = [f"{repository}:{t}" for t in tags]
    else:
        parameters["untaggedTargetRepositories"] = [repository]
    try:
        _run_import(mgmt, target, parameters)
    except HttpResponseError as error:
        if error.status_code not in _UNREACHABLE:
            raise
        if error.status_code == 409 and "TagAlreadyExists" in str(error):
            # A tag was taken after the listing: moving it needs Force, and Force must not
            # move a locked one.
            dst = Registry.of(target)
            for tag in tags:
                current = _current(dst, repository, tag)
                _check_unlocked(dst, repository, tag, None if current == digest else current)
            parameters["mode"] = "Force"
            _run_import(mgmt, target, parameters)
            return True, ""
        return False, _fallback("the target could not import from the source", error)
    return True, ""


def _run_import(mgmt: Any, target: ResourceBinding, parameters: dict[str, Any]) -> None:
    # The same import again lands the same digest under the same tags (NoForce then says
    # the tags exist, which the caller handles): safe to repeat after a lost answer.
    with idempotent():
        poller = mgmt.registries.begin_import_image(
            target.resource.resource_group, target.resource.name, parameters, polling_interval=0.5
        )
    poller.result()


def _check_unlocked(dst: Registry, repository: str, tag: str, current: str | None) -> None:
    """A tag that points elsewhere in the target and is locked cannot be moved: say so."""
    if current is None:
        return
    props = dst.client.get_tag_properties(repository, tag)
    if props.can_write is False:
        raise ItemError(
            f"tag {repository}:{tag} points to {current} in the target and is locked "
            "(writeEnabled false), so it cannot be moved to the source's image",
            remedy=f"az acr repository update --name <target registry> --image "
            f"{repository}:{tag} --write-enabled true, then re-run",
        )


def _fallback(why: str, error: HttpResponseError) -> str:
    code = getattr(getattr(error, "error", None), "code", None) or error.status_code
    return f"copied through this process (pull and push): {why} ({code})"


def _push_tree(
    src: Registry, dst: Registry, target: ResourceBinding, repository: str, manifest: Manifest
) -> tuple[int, int]:
    """Push ``manifest`` and everything it needs that the target lacks: ``(bytes written,
    bytes through this process)``."""
    written = streamed = 0
    document = manifest.document
    for child in document.get("manifests") or []:
        if dst.manifest(repository, child["digest"]) is not None:
            continue
        found = src.manifest(repository, child["digest"])
        if found is None:
            raise ItemError(
                f"{repository}@{manifest.digest}: the index refers to {child['digest']}, which "
                "is missing in the source registry (a broken image)",
                remedy="push the missing platform image to the source, or delete the index",
            )
        w, s = _push_tree(src, dst, target, repository, found)
        written, streamed = written + w, streamed + s
    blobs = [document.get("config") or {}, *(document.get("layers") or [])]
    for blob in blobs:
        digest = blob.get("digest")
        if digest:
            w, s = _copy_blob(src, dst, target, repository, manifest.digest, str(digest))
            written, streamed = written + w, streamed + s
    dst.put_manifest(repository, manifest, manifest.digest)
    return written, streamed


def _copy_blob(
    src: Registry,
    dst: Registry,
    target: ResourceBinding,
    repository: str,
    image: str,
    digest: str,
) -> tuple[int, int]:
    if dst.has_blob(repository, digest):
        return 0, 0
    seen: dict[str, str] = target.cached("containerregistry.blobs", dict)
    elsewhere = seen.get(digest)
    if elsewhere and elsewhere != repository and dst.mount(repository, digest, elsewhere):
        return 0, 0
    try:
        stream = src.client.download_blob(repository, digest)
    except ResourceNotFoundError:
        raise ItemError(
            f"{repository}@{image}: blob {digest} is missing in the source registry (a broken "
            "image)",
            remedy="push the image again to the source, or delete it there",
        ) from None
    reader = _ChunkReader(stream)
    uploaded, size = dst.client.upload_blob(repository, reader)
    if uploaded != digest:
        raise ItemError(f"{repository}: blob {digest} arrived as {uploaded}")
    seen[digest] = repository
    return size, reader.read_bytes


class _ChunkReader(io.RawIOBase):
    """A readable stream over the download's chunks (held one at a time)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = b""
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
            self.read_bytes += len(self._pending)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def _set_attributes(
    dst: Registry,
    repository: str,
    digest: str,
    properties: Any,
    manifest: Any,
    tags: dict[str, Any],
) -> bool:
    """Give the target manifest and tags the source's attributes (locks) last, compared
    with what is known of them (``manifest``, ``tags[name]``; ``None``: read it). True when
    anything changed."""
    changed = False
    wanted = dict(properties.get("attributes") or {})
    if wanted:
        have = manifest or dst.client.get_manifest_properties(repository, digest)
        if _differs(have, wanted):
            dst.client.update_manifest_properties(repository, digest, **_given(wanted))
            changed = True
    for tag, attributes in (properties.get("tag_attributes") or {}).items():
        have = tags.get(tag) or dst.client.get_tag_properties(repository, tag)
        if _differs(have, attributes):
            dst.client.update_tag_properties(repository, tag, **_given(attributes))
            changed = True
    return changed


def _differs(have: Any, wanted: dict[str, Any]) -> bool:
    return any(getattr(have, k) != v for k, v in wanted.items() if v is not None)


def _given(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if v is not None}
