"""Azure Files: shares (quota, metadata), directories (metadata) and files.

The File service takes Entra credentials only with the backup intent
(``x-ms-file-request-intent: backup``), which the SDK sends when the client is
built with ``token_intent="backup"``. Files are copied server-side (Copy File
from a read-only account-key SAS of the source file: Azure Files has no user
delegation SAS), polled until done; when the service cannot, they are
streamed through this process one range (at most 4 MiB) at a time.

Names: a share is ``share``, a directory ``share/dir/sub``, a file
``share/dir/name``. Template mode creates shares only (empty).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from atg_dataplane import (
    DataPlaneItem,
    Fingerprinter,
    ItemError,
    ItemOutcome,
    ReplicationMode,
    ResourceBinding,
)
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from atg_dataplane_storage.blobs import md5_fingerprint
from atg_dataplane_storage.clients import account_clients, counting, scrubbed
from atg_dataplane_storage.common import (
    backoff,
    enum_text,
    error_code,
    once,
    sleep,
    sorted_dict,
    split_name,
)
from atg_dataplane_storage.options import StorageOptions
from atg_dataplane_storage.sas import require_side, signer

SHARE = "share"
DIRECTORY = "directory"
FILE = "file"
_CHUNK = 4 * 1024 * 1024
_FALLBACK_CODES = {"CannotVerifyCopySource", "FeatureNotSupported", "NotImplemented"}


def discover(
    binding: ResourceBinding, mode: ReplicationMode, fingerprinter: Fingerprinter
) -> Iterator[DataPlaneItem]:
    service = account_clients(binding).file
    if service is None:
        return
    rid = binding.resource.id
    if binding.resource.properties.get("allowSharedKeyAccess") is False:
        yield _unreachable(rid, "the account disallows Shared Key access (allowSharedKeyAccess)")
        return
    with scrubbed():
        try:
            shares = list(service.list_shares(include_metadata=True).by_page())
        except HttpResponseError as error:
            if error.status_code not in (401, 403):
                raise
            yield _unreachable(rid, f"listing shares was refused ({error_code(error)})")
            return
        for share in (s for page in shares for s in page):
            if getattr(share, "snapshot", None):
                continue
            yield DataPlaneItem(
                name=share.name,
                kind=SHARE,
                source_resource_id=rid,
                properties={"quota": share.quota, "metadata": sorted_dict(share.metadata)},
            )
            if mode is ReplicationMode.REPLICATION:
                yield from _walk(service.get_share_client(share.name), rid, fingerprinter)


UNREACHABLE = "(file shares)"


def _unreachable(rid: str, why: str) -> DataPlaneItem:
    """Stands for the shares that could not be listed, with the reason and the remedy."""
    return DataPlaneItem(
        name=UNREACHABLE,
        kind=SHARE,
        source_resource_id=rid,
        copyable=False,
        not_copyable_reason=(
            f"file shares not copied: {why}; Azure Files lists and creates shares only with "
            "Shared Key: allow it and grant listKeys/action, or create the shares through ARM"
        ),
    )


def _walk(share: Any, rid: str, fingerprinter: Fingerprinter) -> Iterator[DataPlaneItem]:
    """Depth-first over directories; only the directory names still to visit are held."""
    pending = [""]
    while pending:
        path = pending.pop()
        directory = share.get_directory_client(path)
        for entry in directory.list_directories_and_files():
            child = f"{path}/{entry.name}" if path else entry.name
            if entry.is_directory:
                props = share.get_directory_client(child).get_directory_properties()
                yield DataPlaneItem(
                    name=f"{share.share_name}/{child}",
                    kind=DIRECTORY,
                    source_resource_id=rid,
                    properties={"metadata": sorted_dict(props.metadata)},
                )
                pending.append(child)
            else:
                props = share.get_file_client(child).get_file_properties()
                yield DataPlaneItem(
                    name=f"{share.share_name}/{child}",
                    kind=FILE,
                    source_resource_id=rid,
                    properties=file_properties(props),
                    size_bytes=props.size or 0,
                    fingerprint=md5_fingerprint(props.content_settings.content_md5, fingerprinter),
                )


def file_properties(props: Any) -> dict[str, Any]:
    settings = props.content_settings
    return {
        "size": props.size,
        "content_type": settings.content_type,
        "content_encoding": settings.content_encoding,
        "content_language": settings.content_language,
        "content_disposition": settings.content_disposition,
        "cache_control": settings.cache_control,
        "metadata": sorted_dict(props.metadata),
    }


# --------------------------------------------------------------- replication


def replicate(
    item: DataPlaneItem,
    source: ResourceBinding,
    target: ResourceBinding,
    mode: ReplicationMode,
    options: StorageOptions,
    fingerprinter: Fingerprinter,
) -> ItemOutcome:
    with scrubbed():
        if item.kind == SHARE:
            return ensure_share(source, target, item.name, dict(item.properties), fresh=True)
        share_name, path = split_name(item.name)
        ensure_share(source, target, share_name)
        parent = path.rpartition("/")[0]
        if parent:
            ensure_directory(source, target, share_name, parent)
        if item.kind == DIRECTORY:
            return ensure_directory(
                source, target, share_name, path, dict(item.properties), fresh=True
            )
        return _replicate_file(item, source, target, share_name, path, options, fingerprinter)


def ensure_share(
    source: ResourceBinding,
    target: ResourceBinding,
    name: str,
    properties: dict[str, Any] | None = None,
    *,
    fresh: bool = False,
) -> ItemOutcome:
    def write() -> ItemOutcome:
        props = properties
        if props is None:
            src = require_side(source, "file").get_share_client(name).get_share_properties()
            props = {"quota": src.quota, "metadata": sorted_dict(src.metadata)}
        client = require_side(target, "file").get_share_client(name)
        try:
            client.create_share(metadata=props["metadata"] or None, quota=props["quota"])
            return ItemOutcome(status="replicated")
        except ResourceExistsError:
            pass
        current = client.get_share_properties()
        status = "unchanged"
        if sorted_dict(current.metadata) != props["metadata"]:
            client.set_share_metadata(props["metadata"])
            status = "replicated"
        if current.quota != props["quota"]:
            client.set_share_quota(props["quota"])
            status = "replicated"
        return ItemOutcome(status=status)

    outcome: ItemOutcome = once(target, f"storage.share:{name}", write, again=fresh)
    return outcome


def ensure_directory(
    source: ResourceBinding,
    target: ResourceBinding,
    share: str,
    path: str,
    properties: dict[str, Any] | None = None,
    *,
    fresh: bool = False,
) -> ItemOutcome:
    parent = path.rpartition("/")[0]
    if parent:
        ensure_directory(source, target, share, parent)

    def write() -> ItemOutcome:
        props = properties
        if props is None:
            src = require_side(source, "file").get_share_client(share)
            found = src.get_directory_client(path).get_directory_properties()
            props = {"metadata": sorted_dict(found.metadata)}
        client = require_side(target, "file").get_share_client(share).get_directory_client(path)
        try:
            client.create_directory(metadata=props["metadata"] or None)
            return ItemOutcome(status="replicated")
        except ResourceExistsError:
            pass
        current = client.get_directory_properties()
        if sorted_dict(current.metadata) != props["metadata"]:
            client.set_directory_metadata(props["metadata"])
            return ItemOutcome(status="replicated")
        return ItemOutcome(status="unchanged")

    outcome: ItemOutcome = once(target, f"storage.directory:{share}/{path}", write, again=fresh)
    return outcome


def _replicate_file(
    item: DataPlaneItem,
    source: ResourceBinding,
    target: ResourceBinding,
    share: str,
    path: str,
    options: StorageOptions,
    fingerprinter: Fingerprinter,
) -> ItemOutcome:
    src = require_side(source, "file").get_share_client(share).get_file_client(path)
    dst = require_side(target, "file").get_share_client(share).get_file_client(path)
    try:
        src_now = src.get_file_properties()
    except ResourceNotFoundError:
        raise ItemError(f"file {item.name} no longer exists in the source") from None
    props = file_properties(src_now)
    md5 = src_now.content_settings.content_md5
    try:
        existing = dst.get_file_properties()
    except ResourceNotFoundError:
        existing = None
    if existing is not None and _up_to_date(props, src_now, existing):
        return ItemOutcome(status="unchanged")
    warnings: list[str] = []
    with counting() as counter:
        copied = False
        if options.server_side:
            try:
                started = dst.start_copy_from_url(signer(source, options).file_url(share, path))
                _wait_for_copy(dst, started, options)
                copied = True
            except HttpResponseError as error:
                if not (error.status_code == 501 or error_code(error) in _FALLBACK_CODES):
                    raise
                warnings.append(
                    "copied through this process (streamed): the service could not copy "
                    f"server-side ({error_code(error) or error.status_code})"
                )
        else:
            warnings.append("copied through this process (streamed): storage.server_side off")
        if not copied:
            _streamed_copy(props, src, dst, md5)
    return ItemOutcome(
        status="replicated",
        bytes_copied=props["size"] or 0,
        client_bytes=counter.bytes,
        warnings=tuple(warnings),
        fingerprint=md5_fingerprint(md5, fingerprinter),
    )


def _up_to_date(props: dict[str, Any], src_now: Any, existing: Any) -> bool:
    if existing.copy is not None and enum_text(existing.copy.status) == "pending":
        return False
    if file_properties(existing) != props:
        return False
    md5 = src_now.content_settings.content_md5
    if md5 and bytes(md5) != bytes(existing.content_settings.content_md5 or b""):
        return False
    return not (
        src_now.last_modified
        and existing.last_modified
        and existing.last_modified < src_now.last_modified
    )


def _wait_for_copy(dst: Any, started: dict[str, Any], options: StorageOptions) -> None:
    status = enum_text(started.get("copy_status"))
    deadline = time.monotonic() + options.copy_timeout_seconds
    attempt = 0
    props = None
    while status == "pending":
        if time.monotonic() > deadline:
            dst.abort_copy(started.get("copy_id"))
            raise ItemError(
                "the server-side file copy did not finish in time and was aborted",
                remedy="raise storage.copy_timeout_seconds and re-run",
            )
        sleep(backoff(attempt))
        attempt += 1
        props = dst.get_file_properties()
        status = enum_text(props.copy.status)
    if status != "success":
        raise ItemError(f"the server-side file copy ended {status}")


def _streamed_copy(props: dict[str, Any], src: Any, dst: Any, md5: Any) -> None:
    from azure.storage.fileshare import ContentSettings

    settings = ContentSettings(
        content_type=props["content_type"],
        content_encoding=props["content_encoding"],
        content_language=props["content_language"],
        content_disposition=props["content_disposition"],
        cache_control=props["cache_control"],
        content_md5=md5,
    )
    size = props["size"] or 0
    dst.create_file(size, content_settings=settings, metadata=props["metadata"] or None)
    offset = 0
    while offset < size:
        length = min(_CHUNK, size - offset)
        data = src.download_file(offset=offset, length=length, max_concurrency=1).readall()
        dst.upload_range(data, offset=offset, length=length)
        offset += length


def fingerprint(
    item: DataPlaneItem, binding: ResourceBinding, fingerprinter: Fingerprinter
) -> str | None:
    if item.fingerprint:
        return None
    share, path = split_name(item.name)
    client = require_side(binding, "file").get_share_client(share).get_file_client(path)
    digest = fingerprinter.stream()
    with scrubbed():
        for chunk in client.download_file(max_concurrency=1).chunks():
            digest.update(chunk)
    return digest.hexdigest()
