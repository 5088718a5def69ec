"""A setting that is a blob URL with a SAS (``WEBSITE_RUN_FROM_PACKAGE`` pointing at the
app's package, or any blob a setting hands the app): in replication mode the blob is
copied server-side into the counterpart account (Copy Blob from the source URL, which
carries its own read access) and the setting gets a new read-only SAS signed with the
target account's key, expiring when the source's did (a year from now when it did not
say). The SAS travels only inside the setting: never logged, journalled or reported.

A target that already holds the blob, copied from the source blob as it is now (the
source's ETag is recorded on the copy), behind a setting of the same path, is left as it
is, so a re-run writes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from atg_dataplane import ItemError, SideContext

COPY_POLL_SECONDS = 0.2
SOURCE_TAG = "atgdataplanesource"
"""Metadata of a copied blob: the source blob's ETag when it was copied."""
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
    """``(size, source ETag)`` of a copied blob (its ``atgdataplanesource`` metadata), or of
    a source blob its own ETag; ``(-1, "")`` when there is none."""
    found = _props(url, context)
    if found is None:
        return -1, ""
    origin = (found.metadata or {}).get(SOURCE_TAG) or str(found.etag).strip('"')
    return int(found.size), origin


def same(source_url: str, target_url: str, source: SideContext, target: SideContext) -> bool:
    """Whether the target's blob (read through its setting's SAS) was copied from the
    source's blob as it is now (same size, and the source's ETag recorded at the copy)."""
    ours = identity(source_url, source)
    return ours[0] >= 0 and ours == identity(target_url, target)


def copy(
    source_url: str, target_base: str, endpoint: str, account: str, key: str,
    target: SideContext,
) -> str:
    """Copy the blob into ``target_base`` (the counterpart's URL below its ``endpoint``, no
    query); the target's URL with a new read-only SAS."""
    from azure.core.exceptions import HttpResponseError
    from azure.storage.blob import BlobSasPermissions, ContainerClient, generate_blob_sas

    credential = {"account_name": account, "account_key": key}
    container, name = _parts(target_base, endpoint)
    source = _props(source_url, target)
    if source is None:
        raise ItemError(
            "the blob a setting names is gone from the source, or its SAS no longer opens it",
            remedy="give the source setting a valid URL and re-run",
        )
    tag = {SOURCE_TAG: str(source.etag).strip('"')}  # what same() compares next run
    dst = _blob(target_base, target, credential)
    try:
        started = dst.start_copy_from_url(source_url, metadata=tag)
    except HttpResponseError as exc:
        if exc.error_code != "ContainerNotFound":
            raise
        ContainerClient.from_container_url(
            f"{endpoint.rstrip('/')}/{container}", credential=credential, **target.client_kwargs()
        ).create_container()
        started = dst.start_copy_from_url(source_url, metadata=tag)
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
