"""Errors shaped as Azure Storage answers them (Blob, Queue, Table, File), and the answers
of faults injected into them (fault service ``storage``).

Injected ``429`` becomes ``503 ServerBusy`` with ``Retry-After``: Azure Storage throttles
that way, and the storage SDKs (azure-storage-blob/queue/file-share and azure-data-tables
alike) retry 503, while blob/queue/file-share do not retry 429. The emulator still counts
such a fault under ``429`` (the key of the spec that caused it).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from xml.sax.saxutils import escape

from aiohttp import web

THROTTLED = ("ServerBusy", "The server is busy.")
FAULTS = {
    429: (503, *THROTTLED),
    500: (500, "InternalError", "The server encountered an internal error. (injected fault)"),
    503: (503, "ServerBusy", "The server is currently unable to receive requests. Please "
          "retry your request. (injected fault)"),
}


def storage_error(
    kind: str, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """An error of the ``kind`` service (``blob``, ``queue``, ``file``: XML ``<Error>``;
    ``table``: ``odata.error`` JSON), with ``x-ms-error-code`` and the request id and time in
    the message, as Azure writes them."""
    request_id = str(uuid.uuid4())
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
    text = f"{message}\nRequestId:{request_id}\nTime:{stamp}"
    if kind == "table":
        body = json.dumps({"odata.error": {"code": code,
                                           "message": {"lang": "en-US", "value": text}}})
        content_type = "application/json;odata=minimalmetadata;streaming=true;charset=utf-8"
    else:
        body = (
            '<?xml version="1.0" encoding="utf-8"?>'
            f"<Error><Code>{escape(code)}</Code><Message>{escape(text)}</Message></Error>"
        )
        content_type = "application/xml"
    return web.Response(
        status=status,
        body=body.encode(),
        headers={
            "Content-Type": content_type,
            "x-ms-error-code": code,
            "x-ms-request-id": request_id,
            **(headers or {}),
        },
    )


def storage_fault_response(kind: str, status: int, retry_after: float) -> web.Response:
    """The answer of an injected status fault (see the module docstring for 429)."""
    status, code, message = FAULTS.get(status, FAULTS[500])
    headers = {"Retry-After": f"{retry_after:g}"} if status == 503 else {}
    return storage_error(kind, status, code, message, headers)


def storage_malformed(kind: str, request: web.Request) -> web.Response | None:
    """A 200 answer cut off mid-document (XML for Blob, Queue and File, JSON for Table);
    None for the requests answered with a blob's or file's content or properties."""
    if request.method == "HEAD":
        return None
    if kind in ("blob", "file") and "comp" not in request.query and "restype" not in request.query:
        return None  # Get Blob / Get File: the body is data
    if kind == "table":
        body = b'{"odata.metadata": "https://', "application/json"
    else:
        body = b'<?xml version="1.0" encoding="utf-8"?><EnumerationResults><Na', "application/xml"
    return web.Response(status=200, body=body[0], content_type=body[1])
