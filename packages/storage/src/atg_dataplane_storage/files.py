"""Azure Files: shares (quota, metadata), directories and files with their SMB properties.

The File service takes Entra credentials only with the backup intent
(``x-ms-file-request-intent: backup``), which the SDK sends when the client is
built with ``token_intent="backup"``. Files are copied server-side (Copy File
from a read-only account-key SAS of the source file: Azure Files has no user
delegation SAS), polled until done; when the service cannot, they are
streamed through this process one range (at most 4 MiB) at a time.

Names: a share is ``share``, a directory ``share/dir/sub``, a file
``share/dir/name``. Template mode creates shares only (empty).

SMB properties kept: attributes, creation time, the security descriptor (SDDL, stored in
the target share under a key of its own) and, for files, the last-write time. Not kept:
the change time (Azure sets it at every change) and a directory's last-write time (its
entries move it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from atg_dataplane import (
    DataPlaneItem,
    Fingerprinter,
    ItemError,
    ItemOutcome,
    ReplicationMode,
    ResourceBinding,
    idempotent,
)
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from atg_dataplane_storage.blobs import md5_fingerprint
from atg_dataplane_storage.clients import account_clients, counting, scrubbed
from atg_dataplane_storage.common import (
    ContentCheck,
    abort_pending_copy,
    copy_finished,
    error_code,
    sorted_dict,
    split_name,
    unfinished,
    wait_for_copy,
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
                yield from _walk(
                    binding, service.get_share_client(share.name), rid, fingerprinter
                )


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


def _walk(
    binding: ResourceBinding, share: Any, rid: str, fingerprinter: Fingerprinter
) -> Iterator[DataPlaneItem]:
    """Depth-first over directories; only the directory names still to visit are held."""
    permissions = Descriptors(binding, share.share_name)
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
                    properties=directory_properties(props, permissions),
                )
                pending.append(child)
            else:
                props = share.get_file_client(child).get_file_properties()
                yield DataPlaneItem(
                    name=f"{share.share_name}/{child}",
                    kind=FILE,
                    source_resource_id=rid,
                    properties=file_properties(props, permissions),
                    size_bytes=props.size or 0,
                    fingerprint=md5_fingerprint(props.content_settings.content_md5, fingerprinter),
                )


def file_properties(props: Any, permissions: Descriptors) -> dict[str, Any]:
    settings = props.content_settings
    return {
        "size": props.size,
        "content_type": settings.content_type,
        "content_encoding": settings.content_encoding,
        "content_language": settings.content_language,
        "content_disposition": settings.content_disposition,
        "cache_control": settings.cache_control,
        "metadata": sorted_dict(props.metadata),
        **smb_properties(props, permissions),
        "last_write_time": _time(props.last_write_time),
    }


def directory_properties(props: Any, permissions: Descriptors) -> dict[str, Any]:
    return {"metadata": sorted_dict(props.metadata), **smb_properties(props, permissions)}


def smb_properties(props: Any, permissions: Descriptors) -> dict[str, Any]:
    """Attributes, creation time and security descriptor of a file or directory."""
    names = {a.strip() for a in str(props.file_attributes or "").split("|")} - {"", "None"}
    return {
        "attributes": " | ".join(sorted(names)),
        "creation_time": _time(props.creation_time),
        "permission": permissions.sddl(props.permission_key),
    }


def _time(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


class Descriptors:
    """A share's security descriptors: key -> SDDL (source), SDDL -> key (target); each
    looked up or created once per run."""

    def __init__(self, binding: ResourceBinding, share: str) -> None:
        self.client = require_side(binding, "file").get_share_client(share)
        self.cache: dict[str, str] = binding.cached(f"storage.sddl:{share}", dict)

    def sddl(self, key: str | None) -> str | None:
        if not key:
            return None
        if key not in self.cache:
            self.cache[key] = str(self.client.get_permission_for_share(key))
        return self.cache[key]

    def key(self, sddl: str | None) -> str | None:
        if not sddl:
            return None
        wanted = f"sddl:{sddl}"
        if wanted not in self.cache:
            self.cache[wanted] = str(self.client.create_permission_for_share(sddl))
        return self.cache[wanted]


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
            return ensure_share(source, target, item.name, dict(item.properties))
        share_name, path = split_name(item.name)
        ensure_share(source, target, share_name)
        parent = path.rpartition("/")[0]
        if parent:
            ensure_directory(source, target, share_name, parent)
        if item.kind == DIRECTORY:
            return ensure_directory(source, target, share_name, path, dict(item.properties))
        return _replicate_file(item, source, target, share_name, path, options, fingerprinter)


def ensure_share(
    source: ResourceBinding,
    target: ResourceBinding,
    name: str,
    properties: dict[str, Any] | None = None,
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

    with idempotent():  # a create made again answers "exists"; the sets replace whole
        outcome: ItemOutcome = target.once(f"storage.share:{name}", write)
    return outcome


def ensure_directory(
    source: ResourceBinding,
    target: ResourceBinding,
    share: str,
    path: str,
    properties: dict[str, Any] | None = None,
) -> ItemOutcome:
    parent = path.rpartition("/")[0]
    if parent:
        ensure_directory(source, target, share, parent)

    def write() -> ItemOutcome:
        props = properties
        if props is None:
            src = require_side(source, "file").get_share_client(share)
            found = src.get_directory_client(path).get_directory_properties()
            props = directory_properties(found, Descriptors(source, share))
        descriptors = Descriptors(target, share)
        smb = _smb_arguments(props, descriptors)
        client = require_side(target, "file").get_share_client(share).get_directory_client(path)
        try:
            # create_directory names the key differently from every other call.
            create = {("file_" if k == "permission_key" else "") + k: v for k, v in smb.items()}
            client.create_directory(metadata=props["metadata"] or None, **create)
            return ItemOutcome(status="replicated")
        except ResourceExistsError:
            pass
        have = directory_properties(client.get_directory_properties(), descriptors)
        if have == props:
            return ItemOutcome(status="unchanged")
        if have["metadata"] != props["metadata"]:
            client.set_directory_metadata(props["metadata"])
        if {k: v for k, v in have.items() if k != "metadata"} != {
            k: v for k, v in props.items() if k != "metadata"
        }:
            client.set_http_headers(**smb)
        return ItemOutcome(status="replicated")

    with idempotent():  # as for shares: a create again answers "exists", sets replace
        outcome: ItemOutcome = target.once(f"storage.directory:{share}/{path}", write)
    return outcome


def _smb_arguments(props: dict[str, Any], target: Descriptors) -> dict[str, Any]:
    """Keyword arguments that give a target file or directory the source's SMB properties
    (create, set properties)."""
    arguments: dict[str, Any] = {
        "file_attributes": props.get("attributes") or "None",
        "file_creation_time": _parse_time(props.get("creation_time")) or "now",
    }
    if props.get("last_write_time"):
        arguments["file_last_write_time"] = _parse_time(props["last_write_time"])
    key = target.key(props.get("permission"))
    if key:
        arguments["permission_key"] = key
    return arguments


def _parse_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


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
    props = file_properties(src_now, Descriptors(source, share))
    md5 = src_now.content_settings.content_md5
    descriptors = Descriptors(target, share)
    try:
        existing = dst.get_file_properties()
    except ResourceNotFoundError:
        existing = None
    if existing is not None and _up_to_date(props, src_now, existing, descriptors):
        return ItemOutcome(status="unchanged")
    abort_pending_copy(dst, existing)
    warnings: list[str] = []
    with counting() as counter:
        copied = False
        if options.server_side:
            try:
                with idempotent():  # the same copy again gives the same file
                    started = dst.start_copy_from_url(
                        signer(source, options).file_url(share, path), **_FROM_SOURCE
                    )
                wait_for_copy(
                    target,
                    started,
                    lambda: dst.get_file_properties().copy,
                    dst.abort_copy,
                    total_seconds=options.copy_timeout_seconds,
                    stall_seconds=options.copy_stall_seconds,
                    what="file",
                )
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
            _streamed_copy(props, src, dst, md5, descriptors, existing)
    return ItemOutcome(
        status="replicated",
        bytes_copied=props["size"] or 0,
        client_bytes=counter.bytes,
        warnings=tuple(warnings),
        fingerprint=md5_fingerprint(md5, fingerprinter),
    )


_FROM_SOURCE = {
    "file_attributes": "source",
    "file_creation_time": "source",
    "file_last_write_time": "source",
    "permission_key": "source",
    "ignore_read_only": True,
}
"""Copy File takes the SMB properties from the source file (and overwrites a read-only
target)."""


def _up_to_date(
    props: dict[str, Any], src_now: Any, existing: Any, descriptors: Descriptors
) -> bool:
    """Every copied property equal (an unfinished streamed copy carries a marker in its
    metadata, so it is never equal), the same Content-MD5, and not older than the source."""
    if not copy_finished(existing):
        return False
    if file_properties(existing, descriptors) != props:
        return False
    md5 = src_now.content_settings.content_md5
    if md5 and bytes(md5) != bytes(existing.content_settings.content_md5 or b""):
        return False
    return not (
        src_now.last_modified
        and existing.last_modified
        and existing.last_modified < src_now.last_modified
    )


def _streamed_copy(
    props: dict[str, Any],
    src: Any,
    dst: Any,
    md5: Any,
    descriptors: Descriptors,
    existing: Any = None,
) -> None:
    """Copy through this process one range (at most 4 MiB) at a time, byte for byte.

    The target file exists at its full size from the first request on: it carries
    :data:`INCOMPLETE` in its metadata until every range is in and checked against the
    source's Content-MD5, so that a run killed half-way leaves a file the next run
    recognises as unfinished. Its properties (MD5 and SMB times included) are set last.
    """
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
    smb = _smb_arguments(props, descriptors)
    # Every write below lands at the same place with the same bytes when repeated.
    with idempotent():
        if existing is not None and "ReadOnly" in str(existing.file_attributes or ""):
            dst.set_http_headers(ContentSettings(), file_attributes="None")  # writable again
        dst.create_file(size, metadata=unfinished(props), **{**smb, "file_attributes": "None"})
    check = ContentCheck(md5)
    offset = 0
    while offset < size:
        length = min(_CHUNK, size - offset)
        data = _read(src, offset=offset, length=length).readall()
        check.update(data)
        with idempotent():
            dst.upload_range(data, offset=offset, length=length, validate_content=True)
        offset += length
    check.verify(src.file_name)
    with idempotent():
        dst.set_file_metadata(props["metadata"] or None)  # the marker goes
        # Last: the attributes (ReadOnly forbids later writes), the MD5, and the source's
        # times (writing moved the last-write time). Cut short here, the file still
        # differs from the source in these, so the next run copies it again.
        dst.set_http_headers(settings, **smb)


def _read(src: Any, **kwargs: Any) -> Any:
    """The source's bytes as stored: never decoded on the way (Content-Encoding)."""
    return src.download_file(max_concurrency=1, decompress=False, **kwargs)


def fingerprint(
    item: DataPlaneItem, binding: ResourceBinding, fingerprinter: Fingerprinter
) -> str | None:
    if item.fingerprint:
        return None
    share, path = split_name(item.name)
    client = require_side(binding, "file").get_share_client(share).get_file_client(path)
    digest = fingerprinter.stream()
    with scrubbed():
        for chunk in _read(client).chunks():
            digest.update(chunk)
    return digest.hexdigest()
