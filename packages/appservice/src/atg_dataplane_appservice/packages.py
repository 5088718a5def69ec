"""A setting that is a blob URL with a SAS (``WEBSITE_RUN_FROM_PACKAGE`` pointing at the
app's package, or any blob a setting hands the app): in replication mode the blob is
copied server-side into the counterpart account (Copy Blob from the source URL, which
carries its own read access) and the setting gets a new read-only SAS signed with the
target account's key, expiring when the source's did (a year from now when it did not
say). The SAS travels only inside the setting: never logged, journalled or reported.

A target that already holds the same contents (size and Content-MD5, or a hash of the
bytes where a blob has no MD5) behind a setting of the same path is left as it is, so a
re-run writes nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from atg_dataplane import ItemError, SideContext

COPY_POLL_SECONDS = 0.2
DEFAULT_LIFETIME = timedelta(days=365)


def is_blob_sas(url: str) -> bool:
    """A URL with a SAS that names one blob (a container and a blob path)."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    segments = [s for s in parts.path.split("/") if s]
    return "sig" in query and len(segments) >= 2 and query.get("sr", ["b"])[0] == "b"


def _parts(blob_url: str, endpoint: str) -> tuple[str, str]:
    """``(container, blob)`` of a blob URL below its account's ``endpoint``."""
    path = blob_url.split("?", 1)[0][len(endpoint.rstrip("/")) + 1 :]
    container, _, name = path.partition("/")
    return container, name


def _blob(url: str, context: SideContext, credential: Any = None) -> Any:
    from azure.storage.blob import BlobClient

    return BlobClient.from_blob_url(url, credential=credential, **context.client_kwargs())


def _props(url: str, context: SideContext, credential: Any = None) -> Any:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return _blob(url, context, credential).get_blob_properties()
    except ResourceNotFoundError:
        return None


def identity(url: str, context: SideContext) -> tuple[int, str]:
    """``(size, content hash)`` of the blob: its Content-MD5 when it has one (uploads in one
    request and copies do), else a SHA-256 of its bytes read here; ``(-1, "")`` when there
    is none. The contents, not an ETag: another plugin (Storage) may have copied the same
    blob into the target account too."""
    found = _props(url, context)
    if found is None:
        return -1, ""
    md5 = bytes(found.content_settings.content_md5 or b"")
    if md5:
        return int(found.size), "md5:" + md5.hex()
    digest = hashlib.sha256()
    for chunk in _blob(url, context).download_blob().chunks():
        digest.update(chunk)
    return int(found.size), "sha256:" + digest.hexdigest()


def same(source_url: str, target_url: str, source: SideContext, target: SideContext) -> bool:
    """Whether the target's blob (read through its setting's SAS) holds the source's."""
    ours = identity(source_url, source)
    return ours[0] >= 0 and ours == identity(target_url, target)


def copy(
    source_url: str, target_base: str, endpoint: str, account: str, key: str,
    target: SideContext,
) -> str:
    """Copy the blob into ``target_base`` (the counterpart's URL below its ``endpoint``, no
    query); the target's URL with a new read-only SAS."""
    from azure.core.exceptions import HttpResponseError, ResourceExistsError
    from azure.storage.blob import BlobSasPermissions, ContainerClient, generate_blob_sas

    credential = {"account_name": account, "account_key": key}
    container, name = _parts(target_base, endpoint)
    source = _props(source_url, target)
    if source is None:
        raise ItemError(
            "the blob a setting names is gone from the source, or its SAS no longer opens it",
            remedy="give the source setting a valid URL and re-run",
        )
    dst = _blob(target_base, target, credential)
    try:
        started = dst.start_copy_from_url(source_url)
    except HttpResponseError as exc:
        if exc.error_code != "ContainerNotFound":
            raise
        # the storage plugin may be making the same container at this moment (it copies
        # the account's containers): one that exists by now is the one wanted
        with contextlib.suppress(ResourceExistsError):
            ContainerClient.from_container_url(
                f"{endpoint.rstrip('/')}/{container}", credential=credential,
                **target.client_kwargs(),
            ).create_container()
        started = dst.start_copy_from_url(source_url)
    status = started.get("copy_status")
    while status == "pending":
        target.pause(COPY_POLL_SECONDS)
        status = dst.get_blob_properties().copy.status
    if status != "success":
        raise ItemError(f"the copy of the blob a setting names ended {status}", remedy="re-run")
    sas = generate_blob_sas(
        account_name=account,
        container_name=container,
        blob_name=name,
        account_key=key,
        permission=BlobSasPermissions(read=True),
        expiry=_expiry(source_url),
        protocol="https",
    )
    return f"{target_base}?{sas}"


def _expiry(url: str) -> datetime:
    found = parse_qs(urlsplit(url).query).get("se", [""])[0]
    try:
        return datetime.fromisoformat(found.replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(UTC) + DEFAULT_LIFETIME
