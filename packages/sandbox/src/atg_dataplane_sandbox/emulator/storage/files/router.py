"""Azure Files REST API (path-style: ``https://127.0.0.1:PORT/{account}/{share}/{path}``).

Follows the File service REST API (shapes from Azure/azure-rest-api-specs and the
azure-storage-file-share SDK's recordings): List Shares, Create/Get/Delete Share,
Set Share Metadata/Properties (quota), Create/Get/Delete Directory, Set Directory
Metadata, List Directories and Files (paged with ``marker``/``maxresults``), Create File,
Put Range, Get File (whole or ranged), Get/Set File Properties, Set File Metadata, Delete
File, Copy File (from a SAS URL of this service or of an HTTPS blob, e.g. Azurite) and
Abort Copy. Errors are Azure's XML ``<Error><Code/><Message/></Error>`` with
``x-ms-error-code``.
"""

from __future__ import annotations

import json
import re
import ssl
import uuid
from typing import Any
from urllib.parse import unquote, urlsplit
from xml.sax.saxutils import escape, quoteattr

import aiohttp
from aiohttp import web

from atg_dataplane_sandbox.emulator.common.context import EMU, Emulator
from atg_dataplane_sandbox.emulator.storage.errors import storage_error
from atg_dataplane_sandbox.emulator.storage.files.auth import FileAuthError, authenticate, check_sas
from atg_dataplane_sandbox.emulator.storage.files.model import (
    FileStore,
    Node,
    Share,
    content_md5,
    directory_headers,
    file_headers,
    http_date,
    now,
)
from atg_dataplane_sandbox.emulator.storage.files.smb import Permissions, Smb, SmbError
from atg_dataplane_sandbox.emulator.storage.files.smb import apply as apply_smb

STORE = web.AppKey("fileshare_store", FileStore)
VERSION = "2025-05-05"
PAGE_SIZE = 5000
_RANGE = re.compile(r"bytes=(\d+)-(\d*)")
_HTTP_HEADERS = {
    "x-ms-content-type": "Content-Type",
    "x-ms-content-encoding": "Content-Encoding",
    "x-ms-content-language": "Content-Language",
    "x-ms-content-disposition": "Content-Disposition",
    "x-ms-cache-control": "Cache-Control",
    "x-ms-content-md5": "Content-MD5",
}


class FileError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _error(status: int, code: str, message: str) -> web.Response:
    return storage_error("file", status, code, message, {"x-ms-version": VERSION})


def _ok(
    status: int = 200,
    headers: dict[str, Any] | None = None,
    body: bytes = b"",
    content_type: str | None = None,
) -> web.Response:
    out = {"x-ms-version": VERSION, "Date": http_date(now())}
    out.update({k: str(v) for k, v in (headers or {}).items()})
    if content_type:
        out["Content-Type"] = content_type
    return web.Response(status=status, body=body, headers=out)


def _metadata(request: web.Request) -> dict[str, str]:
    return {
        k[len("x-ms-meta-") :]: v
        for k, v in request.headers.items()
        if k.lower().startswith("x-ms-meta-")
    }


async def dispatch(request: web.Request) -> web.StreamResponse:
    try:
        return await _dispatch(request)
    except FileAuthError as exc:
        return _error(exc.status, exc.code, exc.message)
    except FileError as exc:
        return _error(exc.status, exc.code, exc.message)
    except SmbError as exc:
        return _error(400, "InvalidHeaderValue", str(exc))


def _split(request: web.Request) -> tuple[str, str, str]:
    raw = request.raw_path.split("?", 1)[0]
    parts = [unquote(p) for p in raw.strip("/").split("/")]
    account = parts[0] if parts else ""
    share = parts[1] if len(parts) > 1 else ""
    path = "/".join(p for p in parts[2:] if p)
    return account, share, path


async def _dispatch(request: web.Request) -> web.StreamResponse:
    account, share_name, path = _split(request)
    query = {k.lower(): v for k, v in request.query.items()}
    restype, comp = query.get("restype", ""), query.get("comp", "")
    method = request.method
    store = request.app[STORE]
    if not account:
        raise FileError(400, "InvalidUri", "The requested URI does not represent any resource.")

    def auth(operation: str, *, share_level: bool = False) -> None:
        authenticate(request, account, share_name, path, operation, share_level=share_level)

    shares = store.shares(account)
    if not share_name:
        if method == "GET" and comp == "list":
            auth("list", share_level=True)
            return _list_shares(request, account, shares, query)
        if comp == "properties" and restype == "service":
            auth("read", share_level=True)
            return _ok(
                body=b'<?xml version="1.0" encoding="utf-8"?><StorageServiceProperties/>',
                content_type="application/xml",
            )
        raise FileError(400, "InvalidQueryParameterValue", "Unsupported service operation.")

    if restype == "share":
        return await _share_operation(request, auth, shares, share_name, comp)

    share = shares.get(share_name)
    if share is None:
        auth("read")
        raise FileError(404, "ShareNotFound", "The specified share does not exist.")
    if restype == "directory":
        return await _directory_operation(request, auth, share, path, comp, query)
    return await _file_operation(request, auth, account, share, path, comp, query)


# ------------------------------------------------------------------- shares


def _list_shares(
    request: web.Request, account: str, shares: dict[str, Share], query: dict[str, str]
) -> web.Response:
    include = query.get("include", "")
    prefix = query.get("prefix", "")
    marker = query.get("marker", "")
    size = min(int(query.get("maxresults") or PAGE_SIZE), PAGE_SIZE)
    names = sorted(n for n in shares if n.startswith(prefix) and n >= marker)
    page, rest = names[:size], names[size:]
    items = []
    for name in page:
        share = shares[name]
        metadata = ""
        if "metadata" in include:
            metadata = (
                "<Metadata>"
                + "".join(f"<{k}>{escape(v)}</{k}>" for k, v in share.metadata.items())
                + "</Metadata>"
            )
        items.append(
            f"<Share><Name>{escape(name)}</Name><Properties>"
            f"<Last-Modified>{http_date(share.modified)}</Last-Modified>"
            f"<Etag>{escape(share.etag)}</Etag><Quota>{share.quota}</Quota>"
            f"<AccessTier>TransactionOptimized</AccessTier><EnabledProtocols>SMB</EnabledProtocols>"
            f"</Properties>{metadata}</Share>"
        )
    endpoint = f"{request.scheme}://{request.host}/{account}/"
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<EnumerationResults ServiceEndpoint={quoteattr(endpoint)}>"
        f"<Prefix>{escape(prefix)}</Prefix><Marker>{escape(marker)}</Marker>"
        f"<MaxResults>{size}</MaxResults><Shares>{''.join(items)}</Shares>"
        f"<NextMarker>{escape(rest[0]) if rest else ''}</NextMarker></EnumerationResults>"
    )
    return _ok(body=body.encode(), content_type="application/xml")


def _share_headers(share: Share) -> dict[str, Any]:
    headers: dict[str, Any] = {
        "ETag": share.etag,
        "Last-Modified": http_date(share.modified),
        "x-ms-share-quota": share.quota,
        "x-ms-access-tier": "TransactionOptimized",
        "x-ms-enabled-protocols": "SMB",
    }
    for key, value in share.metadata.items():
        headers[f"x-ms-meta-{key}"] = value
    return headers


async def _share_operation(
    request: web.Request, auth: Any, shares: dict[str, Share], name: str, comp: str
) -> web.Response:
    method = request.method
    share = shares.get(name)
    if method == "PUT" and not comp:
        auth("create", share_level=True)
        if share is not None:
            raise FileError(409, "ShareAlreadyExists", "The specified share already exists.")
        quota = int(request.headers.get("x-ms-share-quota") or 5120)
        if not 1 <= quota <= 102400:
            raise FileError(400, "InvalidHeaderValue", "x-ms-share-quota is out of range.")
        share = shares[name] = Share(name=name, quota=quota, metadata=_metadata(request))
        return _ok(201, {"ETag": share.etag, "Last-Modified": http_date(share.modified)})
    auth("write" if method in ("PUT", "DELETE") else "read", share_level=True)
    if share is None:
        raise FileError(404, "ShareNotFound", "The specified share does not exist.")
    if method in ("GET", "HEAD") and not comp:
        return _ok(200, _share_headers(share))
    if method == "DELETE":
        del shares[name]
        return _ok(202)
    if method == "PUT" and comp == "metadata":
        share.metadata = _metadata(request)
        share.touch()
        return _ok(200, {"ETag": share.etag, "Last-Modified": http_date(share.modified)})
    if method == "PUT" and comp == "properties":
        if request.headers.get("x-ms-share-quota"):
            share.quota = int(request.headers["x-ms-share-quota"])
        share.touch()
        return _ok(200, {"ETag": share.etag, "Last-Modified": http_date(share.modified)})
    if comp == "filepermission":
        return await _share_permission(request, share)
    if method == "GET" and comp == "acl":
        return _ok(
            body=b'<?xml version="1.0" encoding="utf-8"?><SignedIdentifiers/>',
            content_type="application/xml",
        )
    raise FileError(400, "InvalidQueryParameterValue", f"Unsupported share operation {comp!r}.")


async def _share_permission(request: web.Request, share: Share) -> web.Response:
    """Create Permission (PUT, JSON ``{"permission": SDDL}``) and Get Permission (GET, by
    ``x-ms-file-permission-key``)."""
    if request.method == "PUT":
        try:
            sddl = str((await request.json())["permission"])
        except (ValueError, KeyError, TypeError):
            raise FileError(400, "InvalidXmlDocument", "Expected {\"permission\": SDDL}.") from None
        return _ok(201, {"x-ms-file-permission-key": share.permissions.key_for(sddl)})
    key = request.headers.get("x-ms-file-permission-key", "")
    sddl = share.permissions.get(key)
    if sddl is None:
        raise FileError(404, "FilePermissionNotFound", "The permission key does not exist.")
    body = json.dumps({"permission": sddl, "format": "sddl"}).encode()
    return _ok(200, body=body, content_type="application/json")


# -------------------------------------------------------------- directories


def _parent_exists(share: Share, path: str) -> None:
    parent = path.rpartition("/")[0]
    node = share.nodes.get(parent)
    if node is None or not node.is_dir:
        raise FileError(404, "ParentNotFound", "The specified parent path does not exist.")


async def _directory_operation(
    request: web.Request, auth: Any, share: Share, path: str, comp: str, query: dict[str, str]
) -> web.Response:
    method = request.method
    node = share.nodes.get(path)
    if method == "PUT" and not comp:
        auth("create")
        if node is not None:
            code = "ResourceAlreadyExists" if node.is_dir else "ResourceTypeMismatch"
            raise FileError(409, code, "The specified resource already exists.")
        _parent_exists(share, path)
        node = Node(is_dir=True, metadata=_metadata(request))
        apply_smb(request.headers, node.smb, share.permissions, is_dir=True)
        share.nodes[path] = node
        return _ok(201, directory_headers(node) | {"x-ms-request-server-encrypted": "true"})
    if method == "GET" and comp == "list":
        auth("list")
        if node is None or not node.is_dir:
            raise FileError(404, "ResourceNotFound", "The specified resource does not exist.")
        return _list_directory(request, share, path, query)
    auth("write" if method == "PUT" else "delete" if method == "DELETE" else "read")
    if node is None or not node.is_dir:
        raise FileError(404, "ResourceNotFound", "The specified resource does not exist.")
    if method in ("GET", "HEAD") and not comp:
        return _ok(200, directory_headers(node))
    if method == "PUT" and comp == "metadata":
        node.metadata = _metadata(request)
        node.touch()
        return _ok(200, {"ETag": node.etag, "Last-Modified": http_date(node.modified)})
    if method == "DELETE":
        if share.children(path):
            raise FileError(409, "DirectoryNotEmpty", "The specified directory is not empty.")
        if path:
            del share.nodes[path]
        return _ok(202)
    if method == "PUT" and comp == "properties":
        node.touch()
        apply_smb(request.headers, node.smb, share.permissions, is_dir=True)
        return _ok(200, directory_headers(node))
    raise FileError(400, "InvalidQueryParameterValue", f"Unsupported directory operation {comp!r}.")


def _list_directory(
    request: web.Request, share: Share, path: str, query: dict[str, str]
) -> web.Response:
    prefix = query.get("prefix", "")
    marker = query.get("marker", "")
    size = min(int(query.get("maxresults") or PAGE_SIZE), PAGE_SIZE)
    children = [(n, node) for n, node in share.children(path) if n.startswith(prefix)]
    children = [(n, node) for n, node in children if n >= marker]
    page, rest = children[:size], children[size:]
    entries = []
    for name, node in page:
        if node.is_dir:
            entries.append(
                f"<Directory><Name>{escape(name)}</Name><FileId>{node.file_id}</FileId>"
                "<Properties/></Directory>"
            )
        else:
            entries.append(
                f"<File><Name>{escape(name)}</Name><FileId>{node.file_id}</FileId>"
                f"<Properties><Content-Length>{len(node.data)}</Content-Length></Properties>"
                "</File>"
            )
    endpoint = f"{request.scheme}://{request.host}/{_split(request)[0]}/"
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<EnumerationResults ServiceEndpoint={quoteattr(endpoint)} "
        f"ShareName={quoteattr(share.name)} DirectoryPath={quoteattr(path)}>"
        f"<Prefix>{escape(prefix)}</Prefix><Marker>{escape(marker)}</Marker>"
        f"<MaxResults>{size}</MaxResults><Entries>{''.join(entries)}</Entries>"
        f"<NextMarker>{escape(rest[0][0]) if rest else ''}</NextMarker></EnumerationResults>"
    )
    return _ok(body=body.encode(), content_type="application/xml")


# -------------------------------------------------------------------- files


def _content_headers(request: web.Request) -> dict[str, str]:
    return {
        header: request.headers[name]
        for name, header in _HTTP_HEADERS.items()
        if request.headers.get(name)
    }


async def _file_operation(
    request: web.Request,
    auth: Any,
    account: str,
    share: Share,
    path: str,
    comp: str,
    query: dict[str, str],
) -> web.StreamResponse:
    method = request.method
    node = share.nodes.get(path)
    if not path:
        raise FileError(400, "InvalidUri", "The requested URI does not represent any resource.")
    if method == "PUT" and not comp and "x-ms-copy-source" in request.headers:
        auth("write" if node is not None else "create")
        _parent_exists(share, path)
        return await _copy(request, account, share, path, node)
    if method == "PUT" and not comp:
        auth("write" if node is not None else "create")
        if node is not None and node.is_dir:
            raise FileError(409, "ResourceTypeMismatch", "A directory of this name exists.")
        _parent_exists(share, path)
        size = int(request.headers.get("x-ms-content-length") or 0)
        node = Node(is_dir=False, metadata=_metadata(request), headers=_content_headers(request))
        node.data = bytearray(size)
        apply_smb(request.headers, node.smb, share.permissions, is_dir=False)
        share.nodes[path] = node
        return _ok(
            201,
            {
                "ETag": node.etag,
                "Last-Modified": http_date(node.modified),
                "x-ms-request-server-encrypted": "true",
                **{k: v for k, v in file_headers(node).items() if k.startswith("x-ms-file-")},
            },
        )
    auth("write" if method == "PUT" else "delete" if method == "DELETE" else "read")
    if node is None or node.is_dir:
        raise FileError(404, "ResourceNotFound", "The specified resource does not exist.")
    if method == "HEAD" or (method == "GET" and not comp):
        return _get_file(request, node, head=method == "HEAD")
    if method == "PUT" and comp == "range":
        return await _put_range(request, node)
    if method == "PUT" and comp == "properties":
        headers = _content_headers(request)
        if headers:
            node.headers = headers
        resized = bool(request.headers.get("x-ms-content-length"))
        if resized:
            size = int(request.headers["x-ms-content-length"])
            node.data = node.data[:size] + bytearray(max(0, size - len(node.data)))
        node.touch(written=resized)
        apply_smb(request.headers, node.smb, share.permissions, is_dir=False)
        return _ok(
            200,
            {
                k: v
                for k, v in file_headers(node).items()
                if k.startswith(("x-ms-file-", "ETag", "Last-Modified"))
            },
        )
    if method == "PUT" and comp == "metadata":
        node.metadata = _metadata(request)
        node.touch()
        return _ok(200, {"ETag": node.etag, "Last-Modified": http_date(node.modified)})
    if method == "PUT" and comp == "copy":
        if node.copy.get("status") != "pending":
            raise FileError(409, "NoPendingCopyOperation", "There is currently no pending copy.")
        node.copy["status"] = "aborted"
        node.data = bytearray()  # Azure leaves a file of zero length and its metadata
        node.touch(written=True)
        return _ok(204)
    if method == "DELETE":
        del share.nodes[path]
        return _ok(202)
    if method == "GET" and comp == "rangelist":
        ranges = (
            f"<Range><Start>0</Start><End>{len(node.data) - 1}</End></Range>" if node.data else ""
        )
        body = f'<?xml version="1.0" encoding="utf-8"?><Ranges>{ranges}</Ranges>'
        return _ok(
            200,
            {
                "ETag": node.etag,
                "Last-Modified": http_date(node.modified),
                "x-ms-content-length": len(node.data),
            },
            body.encode(),
            "application/xml",
        )
    raise FileError(400, "InvalidQueryParameterValue", f"Unsupported file operation {comp!r}.")


def _get_file(request: web.Request, node: Node, *, head: bool) -> web.Response:
    headers = file_headers(node)
    size = len(node.data)
    spec = request.headers.get("x-ms-range") or request.headers.get("Range")
    headers["Accept-Ranges"] = "bytes"
    if not spec:
        if head:  # the size without the body
            headers["Content-Length"] = size
            return web.Response(
                status=200,
                headers={
                    "x-ms-version": VERSION,
                    "Date": http_date(now()),
                    **{k: str(v) for k, v in headers.items()},
                },
            )
        return _ok(200, headers, bytes(node.data))
    match = _RANGE.fullmatch(spec.strip())
    if not match:
        raise FileError(400, "InvalidRange", "The range specified is invalid.")
    start = int(match.group(1))
    end = int(match.group(2)) if match.group(2) else size - 1
    if start >= size:
        response = _error(
            416,
            "InvalidRange",
            "The range specified is invalid for the current size of the resource.",
        )
        response.headers["Content-Range"] = f"bytes */{size}"
        return response
    end = min(end, size - 1)
    md5 = headers.pop("Content-MD5", None)
    if md5 and request.headers.get("x-ms-range-get-content-md5") != "true":
        headers["x-ms-content-md5"] = md5
    if request.headers.get("x-ms-range-get-content-md5") == "true":
        headers["Content-MD5"] = content_md5(node.data[start : end + 1])
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return _ok(206, headers, b"" if head else bytes(node.data[start : end + 1]))


async def _put_range(request: web.Request, node: Node) -> web.Response:
    spec = request.headers.get("x-ms-range") or request.headers.get("Range") or ""
    match = _RANGE.fullmatch(spec.strip())
    if not match or not match.group(2):
        raise FileError(400, "InvalidRange", "The range specified is invalid.")
    start, end = int(match.group(1)), int(match.group(2))
    if end >= len(node.data):
        raise FileError(416, "InvalidRange", "The range exceeds the file's size.")
    body = await request.read()
    if request.headers.get("x-ms-write", "update") == "clear":
        node.data[start : end + 1] = bytes(end + 1 - start)
    else:
        if len(body) != end + 1 - start:
            raise FileError(
                400, "InvalidHeaderValue", "The body's length does not match the range."
            )
        node.data[start : end + 1] = body
    node.touch(written=True)
    return _ok(
        201,
        {
            "ETag": node.etag,
            "Last-Modified": http_date(node.modified),
            "Content-MD5": content_md5(body),
            "x-ms-request-server-encrypted": "true",
        },
    )


async def _copy(
    request: web.Request, account: str, share: Share, path: str, existing: Node | None
) -> web.Response:
    if existing is not None and existing.copy.get("status") == "pending":
        raise FileError(409, "PendingCopyOperation", "There is currently a pending copy operation.")
    source = request.headers["x-ms-copy-source"]
    data, headers, metadata, smb_source = await _read_source(request, source)
    node = Node(is_dir=False)
    node.data = bytearray(data)
    node.headers = headers
    apply_smb(request.headers, node.smb, share.permissions, is_dir=False, source=smb_source)
    given = _metadata(request)
    node.metadata = given or metadata
    copy_id = str(uuid.uuid4())
    node.copy = {
        "id": copy_id,
        "status": "success",
        "source": source.split("?", 1)[0],
        "progress": f"{len(data)}/{len(data)}",
        "completion-time": http_date(now()),
    }
    emu = request.app[EMU]
    if emu.rng.random() < emu.faults.for_service("storage").copy_stall:
        # The injected stall: accepted, pending, and never a byte further (until aborted).
        emu.count_fault("storage", "copy_stall")
        node.data = bytearray(len(data))
        node.copy.update(status="pending", progress=f"0/{len(data)}")
        del node.copy["completion-time"]
    share.nodes[path] = node
    return _ok(
        202,
        {
            "ETag": node.etag,
            "Last-Modified": http_date(node.modified),
            "x-ms-copy-id": copy_id,
            "x-ms-copy-status": node.copy["status"],
        },
    )


async def _read_source(
    request: web.Request, source: str
) -> tuple[bytes, dict[str, str], dict[str, str], tuple[Smb, Permissions] | None]:
    """The source's bytes, HTTP headers, metadata and (a file of this service) SMB properties
    and share: a file of this service or any HTTPS URL."""
    emu = request.app[EMU]
    parts = urlsplit(source)
    if parts.netloc == request.host:
        segments = [unquote(p) for p in parts.path.strip("/").split("/")]
        account, share_name, path = segments[0], segments[1], "/".join(segments[2:])
        key = emu.read_account_key("azurite", account)
        query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
        query = {k: unquote(v) for k, v in query.items()}
        if key is None or "sig" not in query:
            raise FileError(403, "CannotVerifyCopySource", "The copy source must carry a SAS.")
        try:
            check_sas(query, account, share_name, path, "read", key)
        except FileAuthError as exc:
            raise FileError(403, "CannotVerifyCopySource", exc.message) from None
        src_share = request.app[STORE].shares(account).get(share_name)
        node = src_share.nodes.get(path) if src_share else None
        if node is None or node.is_dir:
            raise FileError(404, "CannotVerifyCopySource", "The specified resource does not exist.")
        smb = (node.smb, src_share.permissions)
        return bytes(node.data), dict(node.headers), dict(node.metadata), smb
    context = ssl.create_default_context(cafile=str(emu.certs.ca))
    async with aiohttp.ClientSession() as session, session.get(source, ssl=context) as response:
        if response.status != 200:
            raise FileError(
                response.status if response.status in (403, 404) else 400,
                "CannotVerifyCopySource",
                f"The copy source answered {response.status}.",
            )
        data = await response.read()
        headers = {
            name: response.headers[name]
            for name in (
                "Content-Type",
                "Content-Encoding",
                "Content-Language",
                "Content-Disposition",
                "Cache-Control",
                "Content-MD5",
            )
            if response.headers.get(name)
        }
        metadata = {
            k[len("x-ms-meta-") :]: v
            for k, v in response.headers.items()
            if k.lower().startswith("x-ms-meta-")
        }
        return data, headers, metadata, None


def fileshare_app_routes(app: web.Application, emu: Emulator) -> None:
    state = emu.state_dir / "files.pickle" if emu.state_dir else None
    app[STORE] = emu.part("storage.files", lambda _emu: FileStore.load(state))
    app.router.add_route("*", "/{tail:.*}", dispatch)
