"""The disk data endpoint: what a managed disk's or snapshot's access SAS opens, served as
Azure serves it, a page blob (Azurite has no Put Page From URL, page-range diffs or
incremental copy: Azurite#812).

``/md/{volume}/abcd?...&sig=...`` (Azure: ``https://md-....blob.storage.azure.net/{volume}/
abcd``), valid only between ``beginGetAccess`` and ``endGetAccess`` (and until the grant's
duration ends): Get Blob Properties (HEAD), Get Blob with a range,
Get Page Ranges (``comp=pagelist``) and, with ``x-ms-previous-snapshot-url`` naming an
older snapshot of the same disk, Get Page Ranges Diff; with a ``Write`` grant, Put Page
(``comp=page``, ``x-ms-page-write: update|clear``) and Put Page From URL
(``x-ms-copy-source`` another volume's SAS URL here, ``x-ms-source-range``). Errors are
Storage's XML. What a VM writes to its own disk has no Azure API: tests send Put Page with
the sandbox's admin key instead of a SAS (``X-Sandbox-Admin-Key``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiohttp import web

from atg_dataplane_sandbox.emulator.common.context import ADMIN_HEADER, EMU
from atg_dataplane_sandbox.emulator.compute import arm
from atg_dataplane_sandbox.emulator.compute.pages import PAGE, Volume, clip

SERVICE = "disks"
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


def routes(app: web.Application) -> None:
    # an IP host makes clients read the first segment as the account (path style)
    app.router.add_route("*", "/md/{volume}/{blob}", _dispatch)


def _error(status: int, code: str, message: str) -> web.Response:
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return web.Response(
        status=status,
        body=body.encode(),
        content_type="application/xml",
        headers={"x-ms-error-code": code},
    )


def _granted(emu: Any, key: str, sig: str, write: bool) -> str:
    """Why the SAS does not open the volume, or ``""``."""
    record = emu.store.section(arm.VOLUMES).get(key)
    grant = (record or {}).get("grant")
    if not grant or not sig or sig != grant["token"]:
        return "the SAS is not valid: access was never granted, or was revoked"
    if time.time() > float(grant["expires"]):
        return "the SAS has expired"
    if write and grant["access"] != "Write":
        return "the SAS grants read access only"
    return ""


def _byte_range(text: str, size: int) -> tuple[int, int] | None:
    found = _RANGE.match(text.strip()) if text else None
    if not found:
        return None
    start = int(found.group(1))
    end = int(found.group(2)) if found.group(2) else size - 1
    return start, min(end, size - 1)


def _headers(found: Volume) -> dict[str, str]:
    stamp = hashlib.md5(repr(found.ranges).encode(), usedforsecurity=False).hexdigest()
    return {
        "x-ms-blob-type": "PageBlob",
        "x-ms-blob-content-length": str(found.size),
        "x-ms-blob-sequence-number": "0",
        "ETag": f'"0x{stamp[:16].upper()}"',
        "Last-Modified": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime()),
        "x-ms-version": "2021-08-06",
    }


async def _dispatch(request: web.Request) -> web.StreamResponse:
    emu = request.app[EMU]
    key = request.match_info["volume"]
    comp = request.query.get("comp", "")
    write = request.method == "PUT"
    if key not in emu.store.section(arm.VOLUMES):
        return _error(404, "BlobNotFound", "The specified blob does not exist.")
    # the VM itself writing its disk (tests change a range this way): the admin key
    vm_write = hmac.compare_digest(request.headers.get(ADMIN_HEADER, ""), emu.admin_key)
    refused = "" if vm_write else _granted(emu, key, request.query.get("sig", ""), write)
    if refused:
        return _error(403, "AuthenticationFailed", refused)
    found = arm.volume(emu, key)
    if request.method == "HEAD" or (request.method == "GET" and comp == "properties"):
        return web.Response(
            status=200,
            headers={**_headers(found), "Content-Length": str(found.size),
                     "Content-Type": "application/octet-stream"},
        )
    if request.method == "GET" and comp == "pagelist":
        return _page_list(request, emu, key, found)
    if request.method == "GET" and not comp:
        wanted = _byte_range(
            request.headers.get("x-ms-range") or request.headers.get("Range", ""), found.size
        )
        start, end = wanted or (0, found.size - 1)
        body = found.read(start, end)
        headers = _headers(found)
        if wanted:
            headers["Content-Range"] = f"bytes {start}-{end}/{found.size}"
        return web.Response(status=206 if wanted else 200, body=body, headers=headers,
                            content_type="application/octet-stream")
    if write and comp == "page":
        return await _put_page(request, emu, key, found)
    return _error(400, "UnsupportedHttpVerb", "This operation is not offered on a disk SAS.")


def _page_list(request: web.Request, emu: Any, key: str, found: Volume) -> web.Response:
    window = _byte_range(request.headers.get("x-ms-range", ""), found.size) or (
        0,
        found.size - 1,
    )
    previous = request.headers.get("x-ms-previous-snapshot-url", "")
    cleared: list[tuple[int, int]] = []
    if previous:
        older_key = urlsplit(previous).path.strip("/").split("/")[1]
        records = emu.store.section(arm.VOLUMES)
        older = records.get(older_key)
        if older is None or older.get("source") != records[key].get("source"):
            return _error(
                409, "PreviousSnapshotNotFound",
                "The previous snapshot is not an older snapshot of the same disk.",
            )
        written, cleared = found.diff(arm.volume(emu, older_key))
    else:
        written = found.ranges
    parts = ['<?xml version="1.0" encoding="utf-8"?><PageList>']
    tagged = [(s, e, "PageRange") for s, e in clip(written, window)]
    tagged += [(s, e, "ClearRange") for s, e in clip(cleared, window)]
    for start, end, tag in sorted(tagged):
        parts.append(f"<{tag}><Start>{start}</Start><End>{end}</End></{tag}>")
    parts.append("</PageList>")
    return web.Response(
        body="".join(parts).encode(), content_type="application/xml", headers=_headers(found)
    )


async def _put_page(request: web.Request, emu: Any, key: str, found: Volume) -> web.Response:
    window = _byte_range(request.headers.get("x-ms-range") or request.headers.get("Range", ""),
                         found.size)
    if window is None:
        return _error(400, "InvalidHeaderValue", "x-ms-range is required: bytes=start-end.")
    try:
        found.check(window)
    except ValueError as exc:
        return _error(416, "InvalidPageRange", str(exc))
    operation = request.headers.get("x-ms-page-write", "").lower()
    source = request.headers.get("x-ms-copy-source", "")
    if operation == "clear":
        found.clear(*window)
    elif operation == "update" and source:
        data = _from_url(emu, source, request.headers.get("x-ms-source-range", ""))
        if isinstance(data, web.Response):
            return data
        if len(data) != window[1] - window[0] + 1:
            return _error(400, "InvalidSourceRange", "The source and target ranges differ.")
        found.write(window[0], data)
    elif operation == "update":
        data = await request.read()
        if len(data) != window[1] - window[0] + 1:
            return _error(400, "InvalidHeaderValue", "The body is not the range's length.")
        found.write(window[0], data)
    else:
        return _error(400, "InvalidHeaderValue", "x-ms-page-write must be update or clear.")
    arm.save(emu, key, found)
    return web.Response(status=201, headers=_headers(found))


def _from_url(emu: Any, source: str, source_range: str) -> bytes | web.Response:
    """Put Page From URL: the source is another volume's SAS URL on this endpoint."""
    parts = urlsplit(source)
    key = parts.path.strip("/").split("/")[1]
    sig = parse_qs(parts.query).get("sig", [""])[0]
    if key not in emu.store.section(arm.VOLUMES):
        return _error(404, "CannotVerifyCopySource", "The copy source does not exist.")
    refused = _granted(emu, key, sig, write=False)
    if refused:
        return _error(403, "CannotVerifyCopySource", f"The copy source: {refused}.")
    found = arm.volume(emu, key)
    window = _byte_range(source_range, found.size)
    if window is None or window[0] % PAGE:
        return _error(400, "InvalidSourceRange", "x-ms-source-range: bytes=start-end, paged.")
    return found.read(*window)
