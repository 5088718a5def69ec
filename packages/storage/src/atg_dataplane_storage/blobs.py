"""Blob containers and blobs.

A container is an item (metadata, public access level); each blob is an item
(``container/path``, with its size). Blob contents are copied server-side: the
target pulls the source through a short-lived read-only SAS for that one blob
(:mod:`atg_dataplane_storage.sas`), synchronously (Copy Blob From URL) for
block blobs up to ``storage.sync_copy_max_bytes``, asynchronously (Copy Blob,
polled until done) for larger ones and for append and page blobs. Whatever the
service refuses to copy server-side is streamed through this process one
chunk at a time, and the outcome says so.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from atg_dataplane import (
    DataPlaneItem,
    Fingerprinter,
    ItemError,
    ItemOutcome,
    ReplicationMode,
    ResourceBinding,
    TargetListing,
    idempotent,
    read_ahead,
)
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from atg_dataplane_storage.clients import account_clients, counting, scrubbed
from atg_dataplane_storage.common import (
    ContentCheck,
    abort_pending_copy,
    copy_finished,
    enum_text,
    error_code,
    hints,
    sorted_dict,
    split_name,
    unfinished,
    wait_for_copy,
)
from atg_dataplane_storage.options import StorageOptions
from atg_dataplane_storage.sas import require_side, signer

CONTAINER = "container"
BLOB = "blob"

# Error codes meaning "this cannot be copied server-side here": stream it instead.
_FALLBACK_CODES = {
    "CannotVerifyCopySource",
    "FeatureNotSupported",
    "NotImplemented",
    "UnsupportedHeader",
    "BlobTypeNotSupported",
}
_CHUNK = 4 * 1024 * 1024


# ----------------------------------------------------------------- discovery


def discover(
    binding: ResourceBinding,
    mode: ReplicationMode,
    options: StorageOptions,
    fingerprinter: Fingerprinter,
) -> Iterator[DataPlaneItem]:
    service = account_clients(binding).blob
    if service is None:
        return
    rid = binding.resource.id
    seen = hints(binding, BLOB)
    # Snapshots are listed even when they are not copied, so that each one is reported.
    include = ["metadata", "tags", "snapshots"]
    replication = mode is ReplicationMode.REPLICATION

    def listed(container: Any) -> tuple[Any, Iterator[Any]]:
        if not replication:
            return container, iter(())
        return container, _listing(service.get_container_client(container.name), include)

    with scrubbed():
        # Each container's first page of blobs is read a few containers ahead: one
        # listing after another would hold back the account's copies.
        containers = service.list_containers(include_metadata=True)
        for container, listing in read_ahead(listed, containers, workers=LISTING_AHEAD):
            yield DataPlaneItem(
                name=container.name,
                kind=CONTAINER,
                source_resource_id=rid,
                properties=container_properties(container),
            )
            last_name, position = "", 0
            for blob in listing:  # page by page, as the service returns them
                # A blob's snapshots are listed oldest first, right before the blob itself.
                position = position + 1 if blob.name == last_name else 0
                last_name = blob.name
                item = blob_item(
                    rid, container.name, blob, fingerprinter, position, options.snapshots
                )
                if not _snapshot_of(item):
                    seen.put(item.name, _Seen.of(blob))
                yield item


LISTING_AHEAD = 4
"""Containers whose first page of blobs is listed ahead of the one being yielded."""
LISTING_PAGE = 1000
"""Blobs per listing page: the pages read ahead wait in memory (at most
``2 * LISTING_AHEAD`` of them)."""


def _listing(client: Any, include: list[str]) -> Iterator[Any]:
    """A container's blobs with their tags, or without them when the caller may not read
    tags; the first page is read now, the rest as the caller goes.

    Reading index tags needs ``.../blobs/tags/read`` (Storage Blob Data Owner among the
    built-in roles); Reader and Contributor roles list blobs but get 403 for tags. Their
    blobs are then copied without tags (the copy's outcome says so).
    """
    pages = client.list_blobs(include=include, results_per_page=LISTING_PAGE).by_page()
    try:
        first = next(pages, None)
        first_items = list(first) if first is not None else []
    except HttpResponseError as error:
        if error.status_code != 403 or "tags" not in include:
            raise
        without = [i for i in include if i != "tags"]
        pages = client.list_blobs(include=without, results_per_page=LISTING_PAGE).by_page()
        first = next(pages, None)
        first_items = list(first) if first is not None else []
    return itertools.chain(first_items, itertools.chain.from_iterable(pages))


@dataclass(frozen=True)
class _Seen:
    """What a listing says of a blob beyond its properties (the re-run check needs it)."""

    last_modified: Any
    etag: str
    md5: bytes | None

    @classmethod
    def of(cls, blob: Any) -> _Seen:
        md5 = blob.content_settings.content_md5
        return cls(blob.last_modified, blob.etag, bytes(md5) if md5 else None)


def container_properties(container: Any) -> dict[str, Any]:
    return {
        "metadata": sorted_dict(container.metadata),
        "public_access": enum_text(container.public_access),
    }


def blob_properties(blob: Any, tags: dict[str, str] | None = None) -> dict[str, Any]:
    settings = blob.content_settings
    blob_type = enum_text(blob.blob_type)
    return {
        "blob_type": blob_type,
        "size": blob.size,
        "content_type": settings.content_type,
        "content_encoding": settings.content_encoding,
        "content_language": settings.content_language,
        "content_disposition": settings.content_disposition,
        "cache_control": settings.cache_control,
        "metadata": sorted_dict(blob.metadata),
        "tags": sorted_dict(blob.tags if tags is None else tags),
        "tier": enum_text(blob.blob_tier) if blob_type == "BlockBlob" else None,
    }


def md5_fingerprint(md5: Any, fingerprinter: Fingerprinter) -> str | None:
    """A keyed hash of the service's Content-MD5 (no download), or None when it has none."""
    if not md5:
        return None
    return fingerprinter.of("md5:" + bytes(md5).hex())


# The version of a blob's current state when its snapshots are copied too: the engine
# then writes it after them (it orders the versions of one name, and only those).
CURRENT = "current"


def _snapshot_of(item: DataPlaneItem) -> str | None:
    return item.version if item.version and item.version != CURRENT else None


def blob_item(
    rid: str,
    container: str,
    blob: Any,
    fingerprinter: Fingerprinter,
    position: int = 0,
    with_snapshots: bool = False,
) -> DataPlaneItem:
    """A blob, or one of its snapshots (``version`` = the snapshot time, oldest first).

    With snapshots, the blob itself is the version ``current`` after them, so that the
    engine writes it last; both sides are discovered alike, so they match by position.
    """
    snapshot = getattr(blob, "snapshot", None)
    props = blob_properties(blob, tags={} if snapshot else None)
    copyable, reason = True, ""
    if snapshot and not with_snapshots:
        copyable = False
        reason = (
            "a snapshot of the blob: snapshots are copied only when asked for; set the option "
            "storage.snapshots=true and re-run to recreate them (oldest first)"
        )
    elif props["tier"] == "Archive":
        copyable = False
        reason = (
            "the source blob is in the Archive tier and cannot be read: rehydrate it in the "
            f"source (az storage blob set-tier --container-name {container} --name {blob.name} "
            "--tier Hot --rehydrate-priority Standard|High) and re-run once it is online, or "
            "copy it into the target with the rehydrate priority of your choice (az storage "
            "blob copy start --tier Hot --rehydrate-priority Standard|High); rehydration takes "
            "up to 15 hours (Standard) or 1 hour (High, below 10 GiB)"
        )
    return DataPlaneItem(
        name=f"{container}/{blob.name}",
        kind=BLOB,
        source_resource_id=rid,
        properties=props,
        size_bytes=blob.size or 0,
        fingerprint=md5_fingerprint(blob.content_settings.content_md5, fingerprinter),
        copyable=copyable,
        not_copyable_reason=reason,
        version=snapshot or (CURRENT if with_snapshots else None),
        order=position,
    )


# ---------------------------------------------------------------- containers


def replicate_container(
    item: DataPlaneItem, source: ResourceBinding, target: ResourceBinding
) -> ItemOutcome:
    return ensure_container(source, target, item.name, dict(item.properties))


def ensure_container(
    source: ResourceBinding,
    target: ResourceBinding,
    name: str,
    properties: dict[str, Any] | None = None,
) -> ItemOutcome:
    """Create or update the target container once per run (blobs call this too; the
    container's own item then shares the outcome, whoever came first)."""
    outcome: ItemOutcome = target.once(
        f"storage.container:{name}",
        lambda: _write_container(source, target, name, properties),
    )
    return outcome


def _write_container(
    source: ResourceBinding,
    target: ResourceBinding,
    name: str,
    properties: dict[str, Any] | None,
) -> ItemOutcome:
    # Every write here is safe to repeat after a lost answer: a create made again answers
    # "exists" (then compared), metadata and access policy are replaced whole.
    with scrubbed(), idempotent():
        if properties is None:
            src = require_side(source, "blob").get_container_client(name)
            properties = container_properties(src.get_container_properties())
        client = require_side(target, "blob").get_container_client(name)
        metadata = properties.get("metadata") or None
        public = properties.get("public_access")
        current = _target_container(target, client, name)
        if current is not None:
            return _update_container(client, current, properties, name)
        try:
            client.create_container(metadata=metadata, public_access=public)
        except ResourceExistsError:
            current = client.get_container_properties()  # created concurrently
            return _update_container(client, current, properties, name)
        except HttpResponseError as error:
            if not public or error_code(error) != "PublicAccessNotPermitted":
                raise
            client.create_container(metadata=metadata)
            _blob_listing(target, name).created()
            return ItemOutcome(status="replicated", warnings=(_public_warning(name, public),))
        _blob_listing(target, name).created()  # its blobs need no listing
        return ItemOutcome(status="replicated")


def _target_container(target: ResourceBinding, client: Any, name: str) -> Any:
    """The target container's properties (None when absent), from one listing of them all."""
    service = require_side(target, "blob")
    listing = target.listing(
        "storage.containers",
        lambda: ((c.name, c) for c in service.list_containers(include_metadata=True)),
    )
    known, found = listing.take(name)
    if known:
        return found
    try:
        return client.get_container_properties()
    except ResourceNotFoundError:
        return None


def _update_container(
    client: Any, current: Any, properties: dict[str, Any], name: str
) -> ItemOutcome:
    have = container_properties(current)
    if have == properties:
        return ItemOutcome(status="unchanged")
    if have["metadata"] != properties["metadata"]:
        client.set_container_metadata(metadata=properties["metadata"] or None)
    warnings: tuple[str, ...] = ()
    if have["public_access"] != properties["public_access"]:
        policy = client.get_container_access_policy()
        identifiers = {i.id: i.access_policy for i in policy.get("signed_identifiers") or ()}
        try:
            client.set_container_access_policy(
                signed_identifiers=identifiers, public_access=properties["public_access"]
            )
        except HttpResponseError as error:
            if error_code(error) != "PublicAccessNotPermitted":
                raise
            warnings = (_public_warning(name, properties["public_access"]),)
    return ItemOutcome(status="replicated", warnings=warnings)


def _public_warning(name: str, level: str) -> str:
    return (
        f"container {name} allows public access ({level}) in the source, but the target "
        "account forbids it (allowBlobPublicAccess=false); created private"
    )


# --------------------------------------------------------------------- blobs


def replicate_blob(
    item: DataPlaneItem,
    source: ResourceBinding,
    target: ResourceBinding,
    options: StorageOptions,
    fingerprinter: Fingerprinter,
) -> ItemOutcome:
    if not item.copyable:
        return ItemOutcome(status="skipped", reason=item.not_copyable_reason)
    container, name = split_name(item.name)
    ensure_container(source, target, container)
    if _snapshot_of(item):
        return _replicate_snapshot(item, source, target, options, fingerprinter)
    with scrubbed():
        source_blobs = require_side(source, "blob")
        dst = require_side(target, "blob").get_blob_client(container, name)
        props = dict(item.properties)
        seen = hints(source, BLOB).take(item.name)
        if seen is None:
            try:
                src_now = source_blobs.get_blob_client(container, name).get_blob_properties()
            except ResourceNotFoundError:
                raise ItemError(f"blob {item.name} no longer exists in the source") from None
            props.update(blob_properties(src_now, tags=props.get("tags")))
            seen = _Seen.of(src_now)
        existing = _target_state(dst, target, container, name)
        if existing is not None and _up_to_date(props, seen, existing, dst):
            return ItemOutcome(status="unchanged")
        abort_pending_copy(dst, existing)
        if existing is not None and enum_text(existing.blob_type) != props["blob_type"]:
            dst.delete_blob(delete_snapshots="include")
        warnings: list[str] = []
        with counting() as counter:
            copied = False
            if options.server_side:
                try:
                    _server_side_copy(
                        props, container, name, source, target, dst, options, warnings
                    )
                    copied = True
                except HttpResponseError as error:
                    if not _can_fall_back(error):
                        raise
                    warnings.append(
                        "copied through this process (streamed): the service could not copy "
                        f"server-side ({error_code(error) or error.status_code})"
                    )
            else:
                warnings.append("copied through this process (streamed): storage.server_side off")
            if not copied:
                # The source's own client only here: a server-side copy needs its URL alone.
                src = source_blobs.get_blob_client(container, name)
                _streamed_copy(props, src, dst, seen.md5)
        why = signer(source, options).take_notice()
        if why and copied:
            warnings.append(why)
        return ItemOutcome(
            status="replicated",
            bytes_copied=props["size"] or 0,
            client_bytes=counter.bytes,
            warnings=tuple(warnings),
            fingerprint=md5_fingerprint(seen.md5, fingerprinter),
        )


def _snapshots(service: Any, container: str, name: str) -> list[Any]:
    """A blob's snapshots, oldest first."""
    listing = service.get_container_client(container).list_blobs(
        name_starts_with=name, include=["snapshots", "metadata"]
    )
    return sorted(
        (b for b in listing if b.name == name and b.snapshot), key=lambda b: str(b.snapshot)
    )


def _replicate_snapshot(
    item: DataPlaneItem,
    source: ResourceBinding,
    target: ResourceBinding,
    options: StorageOptions,
    fingerprinter: Fingerprinter,
) -> ItemOutcome:
    """Re-create the ``item.order``-th snapshot: copy its content into the target blob, then
    snapshot that. Snapshots get new times in the target; they match by position."""
    container, name = split_name(item.name)
    props = dict(item.properties)
    with scrubbed():
        service = require_side(target, "blob")
        existing = _snapshots(service, container, name)
        if len(existing) > item.order:
            have = blob_properties(existing[item.order], tags={})
            md5 = md5_fingerprint(existing[item.order].content_settings.content_md5, fingerprinter)
            if have == props and (not item.fingerprint or md5 == item.fingerprint):
                return ItemOutcome(status="unchanged")
            raise ItemError(
                f"the target's snapshot #{item.order} of {item.name} differs from the source's",
                remedy="snapshots cannot be rewritten: delete the target blob's snapshots and "
                "re-run",
            )
        if len(existing) < item.order:
            raise ItemError(f"an earlier snapshot of {item.name} is missing in the target")
        dst = service.get_blob_client(container, name)
        current = _target_state(dst)
        abort_pending_copy(dst, current)
        if current is not None and enum_text(current.blob_type) != props["blob_type"]:
            dst.delete_blob(delete_snapshots="include")
        url = signer(source, options).blob_url(container, name, snapshot=_snapshot_of(item))
        with counting() as counter:
            started = dst.start_copy_from_url(url, standard_blob_tier=_tier(props))
            _wait_for_copy(target, dst, started, options)
            dst.create_snapshot(metadata=props["metadata"] or None)
        return ItemOutcome(
            status="replicated", bytes_copied=props["size"] or 0, client_bytes=counter.bytes
        )


def _target_state(
    dst: Any, target: ResourceBinding | None = None, container: str = "", name: str = ""
) -> Any:
    """The target blob's properties (None when absent), from the container's index if any."""
    if target is not None:
        known, found = _blob_listing(target, container).take(name)
        if known:
            return found
    try:
        return dst.get_blob_properties()
    except ResourceNotFoundError:
        return None


def _blob_listing(target: ResourceBinding, container: str) -> TargetListing:
    client = require_side(target, "blob").get_container_client(container)
    return target.listing(
        f"storage.blobs:{container}",
        lambda: ((b.name, b) for b in client.list_blobs(include=["metadata", "tags", "copy"])),
    )


def _up_to_date(props: dict[str, Any], seen: _Seen, existing: Any, dst: Any) -> bool:
    """AzCopy's ``--overwrite=ifSourceNewer`` plus size, MD5 and every copied property."""
    if not copy_finished(existing):
        return False
    have = blob_properties(existing, tags={})
    for key in (
        "blob_type",
        "size",
        "content_type",
        "content_encoding",
        "content_language",
        "content_disposition",
        "cache_control",
        "metadata",
        "tier",
    ):
        if have[key] != props[key]:
            return False
    if seen.md5 and seen.md5 != bytes(existing.content_settings.content_md5 or b""):
        return False
    if seen.last_modified and existing.last_modified < seen.last_modified:
        return False
    listed_tags = getattr(existing, "tags", None)
    if listed_tags is not None or not (props["tags"] or existing.tag_count):
        return sorted_dict(listed_tags) == props["tags"]
    if props["tags"] or (existing.tag_count or 0):
        return sorted_dict(dst.get_blob_tags()) == props["tags"]
    return True


def _server_side_copy(
    props: dict[str, Any],
    container: str,
    name: str,
    source: ResourceBinding,
    target: ResourceBinding,
    dst: Any,
    options: StorageOptions,
    warnings: list[str],
) -> None:
    url = signer(source, options).blob_url(container, name)
    tier = _tier(props)
    tags = props["tags"] or None
    size = props["size"] or 0
    sync = props["blob_type"] == "BlockBlob" and size <= options.sync_copy_max_bytes
    try:
        with idempotent():  # the same copy again overwrites the blob with the same source
            started = dst.start_copy_from_url(
                url, requires_sync=sync or None, tags=tags, standard_blob_tier=tier
            )
    except HttpResponseError as error:
        # Writing tags needs .../blobs/tags/write (Storage Blob Data Owner): copy without.
        if not tags or error.status_code != 403:
            raise
        with idempotent():
            started = dst.start_copy_from_url(
                url, requires_sync=sync or None, standard_blob_tier=tier
            )
        warnings.append(
            "copied without its index tags: the target credential may not write tags "
            "(grant .../blobServices/containers/blobs/tags/write, e.g. Storage Blob Data Owner)"
        )
    if not sync:
        _wait_for_copy(target, dst, started, options)


def _tier(props: dict[str, Any]) -> Any:
    from azure.storage.blob import StandardBlobTier

    if props["blob_type"] != "BlockBlob" or not props["tier"]:
        return None
    return StandardBlobTier(props["tier"])


def _wait_for_copy(
    target: ResourceBinding, dst: Any, started: dict[str, Any], options: StorageOptions
) -> None:
    wait_for_copy(
        target,
        started,
        lambda: dst.get_blob_properties().copy,
        dst.abort_copy,
        total_seconds=options.copy_timeout_seconds,
        stall_seconds=options.copy_stall_seconds,
        what="blob",
    )


def _can_fall_back(error: HttpResponseError) -> bool:
    return error.status_code == 501 or (error_code(error) or "") in _FALLBACK_CODES


def _content_settings(props: dict[str, Any], md5: Any) -> Any:
    from azure.storage.blob import ContentSettings

    return ContentSettings(
        content_type=props["content_type"],
        content_encoding=props["content_encoding"],
        content_language=props["content_language"],
        content_disposition=props["content_disposition"],
        cache_control=props["cache_control"],
        content_md5=md5,
    )


def _streamed_copy(props: dict[str, Any], src: Any, dst: Any, md5: Any) -> None:
    """Copy through this process one chunk (at most 4 MiB) at a time, byte for byte.

    Contents are read as stored (``decompress=False``: a gzip-encoded blob stays gzip),
    every block is sent with its own MD5 for the service to check, and the bytes read are
    checked against the source's Content-MD5 when it has one before the copy is committed.
    Page and append blobs fill a blob that exists from the first request on: they carry
    :data:`INCOMPLETE` in their metadata until the last byte is in, so that a run killed
    half-way leaves a blob the next run recognises as unfinished and copies again.
    """
    settings = _content_settings(props, md5)
    metadata = props["metadata"] or None
    tags = props["tags"] or None
    blob_type = props["blob_type"]
    size = props["size"] or 0
    check = ContentCheck(md5)
    if blob_type == "PageBlob":
        with idempotent():  # pages are written at their offsets: again, the same
            dst.create_page_blob(
                size, content_settings=settings, metadata=unfinished(props), tags=tags
            )
        for page in src.list_page_ranges():
            if getattr(page, "cleared", False):
                continue
            start = page.start
            while start <= page.end:
                length = min(_CHUNK, page.end + 1 - start)
                data = _read(src, offset=start, length=length).readall()
                with idempotent():
                    dst.upload_page(data, offset=start, length=length, validate_content=True)
                start += length
        with idempotent():
            dst.set_blob_metadata(metadata)  # finished
        return
    if blob_type == "AppendBlob":
        dst.create_append_blob(content_settings=settings, metadata=unfinished(props), tags=tags)
        if size:
            for chunk in _read(src).chunks():
                check.update(chunk)
                dst.append_block(chunk, validate_content=True)
        check.verify(src.blob_name)
        dst.set_blob_metadata(metadata)  # finished
        return
    tier = _tier(props)
    blocks = []
    if size:
        for chunk in _read(src).chunks():
            check.update(chunk)
            block_id = uuid.uuid4().hex
            with idempotent():  # a block staged again under its id replaces itself
                dst.stage_block(block_id, chunk, validate_content=True)
            blocks.append(block_id)
    check.verify(src.blob_name)
    # Committing the block list writes the blob at once: a run killed before leaves none.
    with idempotent():
        dst.commit_block_list(
            blocks,
            content_settings=settings,
            metadata=metadata,
            tags=tags,
            standard_blob_tier=tier,
        )


def _read(src: Any, **kwargs: Any) -> Any:
    """The source's bytes as stored: never decoded on the way (Content-Encoding)."""
    return src.download_blob(max_concurrency=1, decompress=False, **kwargs)


# --------------------------------------------------------------- fingerprint


def fingerprint(
    item: DataPlaneItem, binding: ResourceBinding, fingerprinter: Fingerprinter
) -> str | None:
    """The discovered MD5 fingerprint when the service has one; else a streamed keyed hash."""
    if item.kind != BLOB or item.fingerprint or not item.copyable:
        return None
    container, name = split_name(item.name)
    client = require_side(binding, "blob").get_blob_client(
        container, name, snapshot=_snapshot_of(item)
    )
    digest = fingerprinter.stream()
    with scrubbed():
        for chunk in _read(client).chunks():
            digest.update(chunk)
    return digest.hexdigest()
