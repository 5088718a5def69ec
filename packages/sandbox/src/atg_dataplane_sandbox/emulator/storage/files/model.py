"""The File service's data: accounts -> shares -> directories and files (in memory).

Paths are stored without leading slash (``dir/sub/file.txt``; the root directory is
``""``). File contents live in memory while the emulator runs; it writes them to
``emulator-state/files.pickle`` (0600) when it stops and loads them when it starts, so
``sandbox down`` then ``up`` keeps every share, as Azurite keeps its blobs.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import os
import pickle
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atg_dataplane_sandbox.emulator.storage.files.smb import Permissions, Smb
from atg_dataplane_sandbox.emulator.storage.files.smb import now as smb_now

_ids = itertools.count(13835128424026341376)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def http_date(value: dt.datetime) -> str:
    return value.strftime("%a, %d %b %Y %H:%M:%S GMT")


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
    modified: dt.datetime = field(default_factory=now)
    """Last-Modified: any change to the file or its properties."""
    etag: str = field(default_factory=new_etag)
    file_id: int = field(default_factory=lambda: next(_ids))
    copy: dict[str, str] = field(default_factory=dict)
    smb: Smb = field(default=None)  # type: ignore[assignment]
    """Attributes, creation/last-write/change times and the permission key."""

    def __post_init__(self) -> None:
        if self.smb is None:
            self.smb = Smb.new(self.is_dir)

    def touch(self, *, written: bool = False) -> None:
        """A change: of the contents when ``written`` (the last-write time moves too)."""
        self.modified = now()
        self.etag = new_etag()
        self.smb.changed = smb_now()
        if written:
            self.smb.last_write = self.smb.changed


@dataclass
class Share:
    name: str
    quota: int = 5120
    metadata: dict[str, str] = field(default_factory=dict)
    modified: dt.datetime = field(default_factory=now)
    etag: str = field(default_factory=new_etag)
    nodes: dict[str, Node] = field(default_factory=lambda: {"": Node(is_dir=True)})
    permissions: Permissions = field(default_factory=Permissions)
    """Security descriptors stored in the share, by permission key."""

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
    path: Path | None = None
    """Where the shares are saved on :meth:`close` (None: kept in memory only)."""

    def shares(self, account: str) -> dict[str, Share]:
        return self.accounts.setdefault(account, {})

    @classmethod
    def load(cls, path: Path | None) -> FileStore:
        """The shares saved at ``path`` (written only by :meth:`close`, in the sandbox's own
        0600 state directory), or none."""
        if path is None or not path.is_file():
            return cls(path=path)
        with path.open("rb") as handle:
            accounts = pickle.load(handle)  # our own file, see above
        return cls(accounts=accounts, path=path)

    async def close(self) -> None:
        """Save the shares (the emulator stops)."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            pickle.dump(self.accounts, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, self.path)


def content_md5(data: bytes | bytearray) -> str:
    return base64.b64encode(hashlib.md5(bytes(data)).digest()).decode()


def file_headers(node: Node) -> dict[str, Any]:
    """The property headers of a file (Get File Properties and Get File)."""
    headers = {
        "ETag": node.etag,
        "Last-Modified": http_date(node.modified),
        "x-ms-type": "File",
        "x-ms-server-encrypted": "true",
        **node.smb.headers(),
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
        **node.smb.headers(),
        "x-ms-file-id": str(node.file_id),
        "x-ms-file-parent-id": "0",
    }
    for key, value in node.metadata.items():
        headers[f"x-ms-meta-{key}"] = value
    return headers
