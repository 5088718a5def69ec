"""A setting that is a blob URL with a SAS (``WEBSITE_RUN_FROM_PACKAGE`` pointing at the
app's package, or any blob a setting hands the app): in replication mode the blob is
copied server-side into the counterpart account (Copy Blob from the source URL, which
carries its own read access) and the setting gets a new read-only SAS signed with the
target account's key, expiring when the source's did (a year from now when it did not
say). The SAS travels only inside the setting: never logged, journalled or reported.

A target that already holds the same blob (size and MD5) behind a setting of the same
path is left as it is, so a re-run writes nothing.
"""

from __future__ import annotations

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


def _parts(blob_url: str, account: str) -> tuple[str, str]:
    """``(container, blob)`` of a blob URL (an emulator's URL has the account first)."""
    segments = [s for s in urlsplit(blob_url).path.split("/") if s]
    if segments and segments[0] == account and len(segments) >= 3:
        segments = segments[1:]
    return segments[0], "/".join(segments[1:])


def _blob(url: str, context: SideContext, credential: Any = None) -> Any:
    from azure.storage.blob import BlobClient

    return BlobClient.from_blob_url(url, credential=credential, **context.client_kwargs())


def identity(url: str, context: SideContext, credential: Any = None) -> tuple[int, str]:
    """``(size, MD5 in hex)`` of the blob, or ``(-1, "")`` when there is none."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        props = _blob(url, context, credential).get_blob_properties()
    except ResourceNotFoundError:
        return -1, ""
    return int(props.size), bytes(props.content_settings.content_md5 or b"").hex()


def same(source_url: str, target_url: str, source: SideContext, target: SideContext) -> bool:
    """Whether the target's blob (read through its setting's SAS) is the source's."""
    ours = identity(source_url, source)
    return ours[0] >= 0 and ours == identity(target_url, target)


def copy(
    source_url: str, target_base: str, account: str, key: str, target: SideContext
) -> str:
    """Copy the blob into ``target_base`` (the counterpart's URL, no query); the target's
    URL with a new read-only SAS."""
    from azure.core.exceptions import ResourceNotFoundError
    from azure.storage.blob import BlobSasPermissions, ContainerClient, generate_blob_sas

    credential = {"account_name": account, "account_key": key}
    container, name = _parts(target_base, account)
    dst = _blob(target_base, target, credential)
    try:
        started = dst.start_copy_from_url(source_url)
    except ResourceNotFoundError:  # its container is not there yet (the storage plugin's)
        container_url = target_base[: target_base.rindex("/" + container + "/")] + "/" + container
        ContainerClient.from_container_url(
            container_url, credential=credential, **target.client_kwargs()
        ).create_container()
        started = dst.start_copy_from_url(source_url)
    status = started.get("copy_status")
    while status == "pending":
        target.pause(COPY_POLL_SECONDS)
        status = dst.get_blob_properties().copy.status
    if status != "success":
        raise ItemError(f"the copy of the blob a setting names ended {status}", remedy="re-run")
    expiry = _expiry(source_url)
    sas = generate_blob_sas(
        account_name=account,
        container_name=container,
        blob_name=name,
        account_key=key,
        permission=BlobSasPermissions(read=True),
        expiry=expiry,
        protocol="https",
    )
    return f"{target_base}?{sas}"


def _expiry(url: str) -> datetime:
    found = parse_qs(urlsplit(url).query).get("se", [""])[0]
    try:
        return datetime.fromisoformat(found.replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(UTC) + DEFAULT_LIFETIME
