"""The File service's data: accounts -> shares -> directories and files (in memory).

Paths are stored without leading slash (``dir/sub/file.txt``; the root directory is
``""``). File contents live in memory: the sandbox File service is for tests and the demo,
and its data does not survive an emulator restart (unlike the ARM state).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

_ids = itertools.count(13835128424026341376)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def http_date(value: dt.datetime) -> str:
    return value.strftime("%a, %d %b %Y %H:%M:%S GMT")


def iso7(value: dt.datetime) -> str:
    """Azure Files' timestamp form: ``2026-11-22T15:33:05.0000000Z``."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def new_etag() -> str:
    return f'"0x{uuid.uuid4().int & (2**60 - 1):015X}"'


@dataclass
class Node:
    """A directory or a file."""

    is_dir: bool
    metadata: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    """Content-Type, Content-Encoding, Content-Language, Content-Disposition, Cache-Control,
    Content-MD5 (base64) of a file, as set by the client."""
    data: bytearray = field(default_factory=bytearray)
    created: dt.datetime = field(default_factory=now)
    modified: dt.datetime = field(default_factory=now)
    etag: str = field(default_factory=new_etag)
    file_id: int = field(default_factory=lambda: next(_ids))
    copy: dict[str, str] = field(default_factory=dict)

    def touch(self) -> None:
        self.modified = now()
        self.etag = new_etag()


@dataclass
class Share:
    name: str
    quota: int = 5120
    metadata: dict[str, str] = field(default_factory=dict)
    modified: dt.datetime = field(default_factory=now)
    etag: str = field(default_factory=new_etag)
    nodes: dict[str, Node] = field(default_factory=lambda: {"": Node(is_dir=True)})

    def touch(self) -> None:
        self.modified = now()
        self.etag = new_etag()

    def children(self, path: str) -> list[tuple[str, Node]]:
        prefix = f"{path}/" if path else ""
        out = []
        for key, node in self.nodes.items():
            if key and key.startswith(prefix) and "/" not in key[len(prefix) :]:
                out.append((key[len(prefix) :], node))
        return sorted(out)


@dataclass
class FileStore:
    accounts: dict[str, dict[str, Share]] = field(default_factory=dict)

    def shares(self, account: str) -> dict[str, Share]:
        return self.accounts.setdefault(account, {})


def content_md5(data: bytes | bytearray) -> str:
    return base64.b64encode(hashlib.md5(bytes(data)).digest()).decode()


def file_headers(node: Node) -> dict[str, Any]:
    """The property headers of a file (Get File Properties and Get File)."""
    headers = {
        "ETag": node.etag,
        "Last-Modified": http_date(node.modified),
        "x-ms-type": "File",
        "x-ms-server-encrypted": "true",
        "x-ms-file-attributes": "Archive",
        "x-ms-file-creation-time": iso7(node.created),
        "x-ms-file-last-write-time": iso7(node.modified),
        "x-ms-file-change-time": iso7(node.modified),
        "x-ms-file-permission-key": "4066528134148476695*1",
        "x-ms-file-id": str(node.file_id),
        "x-ms-file-parent-id": "0",
        "x-ms-lease-state": "available",
        "x-ms-lease-status": "unlocked",
    }
    for name, value in node.headers.items():
        if value:
            headers[name] = value
    for key, value in node.metadata.items():
        headers[f"x-ms-meta-{key}"] = value
    for key, value in node.copy.items():
        headers[f"x-ms-copy-{key}"] = value
    return headers


def directory_headers(node: Node) -> dict[str, Any]:
    headers = {
        "ETag": node.etag,
        "Last-Modified": http_date(node.modified),
        "x-ms-server-encrypted": "true",
        "x-ms-file-attributes": "Directory",
        "x-ms-file-creation-time": iso7(node.created),
        "x-ms-file-last-write-time": iso7(node.modified),
        "x-ms-file-change-time": iso7(node.modified),
        "x-ms-file-permission-key": "4066528134148476695*1",
        "x-ms-file-id": str(node.file_id),
        "x-ms-file-parent-id": "0",
    }
    for key, value in node.metadata.items():
        headers[f"x-ms-meta-{key}"] = value
    return headers
