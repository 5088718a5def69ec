"""SMB properties of files and directories, as the File service REST API carries them.

* attributes: ``x-ms-file-attributes`` (``ReadOnly | Hidden | Archive``..., or ``None``);
* times: ``x-ms-file-creation-time``, ``x-ms-file-last-write-time``,
  ``x-ms-file-change-time`` (ISO 8601 with seven fractional digits; ``now`` and
  ``preserve`` as keywords);
* the security descriptor: ``x-ms-file-permission`` (SDDL, or ``inherit``/``preserve``) or
  ``x-ms-file-permission-key`` (a descriptor stored in the share, ``Create Permission``);
* Copy File takes ``source`` for any of them (``x-ms-file-permission-copy-mode: source``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_SDDL = "O:BAG:SYD:(A;;FA;;;BA)(A;;FA;;;SY)(A;;0x1200a9;;;BU)"
DEFAULT_KEY = "4066528134148476695*1"
_ATTRIBUTES = (
    "ReadOnly",
    "Hidden",
    "System",
    "None",
    "Directory",
    "Archive",
    "Temporary",
    "Offline",
    "NotContentIndexed",
    "NoScrubData",
)
_BY_LOWER = {a.lower(): a for a in _ATTRIBUTES}


class SmbError(ValueError):
    """A malformed SMB header: the service answers 400 InvalidHeaderValue."""


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Smb:
    """The SMB properties of one file or directory."""

    attributes: str
    created: dt.datetime = field(default_factory=now)
    last_write: dt.datetime = field(default_factory=now)
    changed: dt.datetime = field(default_factory=now)
    permission_key: str = DEFAULT_KEY

    @classmethod
    def new(cls, is_dir: bool) -> Smb:
        stamp = now()
        return cls("Directory" if is_dir else "Archive", stamp, stamp, stamp)

    def headers(self) -> dict[str, str]:
        return {
            "x-ms-file-attributes": self.attributes,
            "x-ms-file-creation-time": iso7(self.created),
            "x-ms-file-last-write-time": iso7(self.last_write),
            "x-ms-file-change-time": iso7(self.changed),
            "x-ms-file-permission-key": self.permission_key,
        }


def iso7(value: dt.datetime) -> str:
    """Azure Files' timestamp form: ``2026-11-22T15:33:05.1234560Z``."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def parse_time(value: str, current: dt.datetime) -> dt.datetime:
    text = value.strip()
    if text.lower() == "now":
        return now()
    if text.lower() == "preserve":
        return current
    try:
        head, _, fraction = text.rstrip("Zz").partition(".")
        parsed = dt.datetime.fromisoformat(head).replace(tzinfo=dt.UTC)
        micros = int((fraction + "000000")[:6]) if fraction else 0
        return parsed.replace(microsecond=micros)
    except ValueError:
        raise SmbError(f"{value!r} is not a time (ISO 8601, 'now' or 'preserve')") from None


def parse_attributes(value: str, is_dir: bool, current: str) -> str:
    text = value.strip()
    if text.lower() == "preserve":
        return current
    names = []
    for part in text.split("|"):
        name = _BY_LOWER.get(part.strip().lower())
        if name is None:
            raise SmbError(f"{part.strip()!r} is not a file attribute")
        if name != "None" and name not in names:
            names.append(name)
    if is_dir and "Directory" not in names:
        names.insert(0, "Directory")
    if not names:
        names = ["Archive"] if not is_dir else ["Directory"]
    return " | ".join(n for n in _ATTRIBUTES if n in names)


@dataclass
class Permissions:
    """A share's security descriptors, by key (``Create Permission`` / ``Get Permission``)."""

    by_key: dict[str, str] = field(default_factory=lambda: {DEFAULT_KEY: DEFAULT_SDDL})

    def key_for(self, sddl: str) -> str:
        """The key of ``sddl``, stored on first use (the same descriptor, the same key)."""
        for key, stored in self.by_key.items():
            if stored == sddl:
                return key
        digest = int(hashlib.sha256(sddl.encode()).hexdigest()[:15], 16)
        key = f"{digest}*{len(self.by_key) + 1}"
        self.by_key[key] = sddl
        return key

    def get(self, key: str) -> str | None:
        return self.by_key.get(key)


def apply(
    headers: Mapping[str, str],
    smb: Smb,
    permissions: Permissions,
    *,
    is_dir: bool,
    source: tuple[Smb, Permissions] | None = None,
) -> Smb:
    """``smb`` updated from a request's SMB headers (Create, Set Properties, Copy File).

    ``source`` is the copied file's properties and share, for Copy File's ``source`` values.
    Raises :class:`SmbError` for a malformed value or an unknown permission key.
    """

    def value(name: str) -> str | None:
        given = headers.get(name)
        return given.strip() if given is not None and given.strip() else None

    def from_source(name: str) -> bool:
        return source is not None and (value(name) or "").lower() == "source"

    attributes = value("x-ms-file-attributes")
    if from_source("x-ms-file-attributes") and source is not None:
        smb.attributes = source[0].attributes
    elif attributes is not None:
        smb.attributes = parse_attributes(attributes, is_dir, smb.attributes)
    for header, name in (
        ("x-ms-file-creation-time", "created"),
        ("x-ms-file-last-write-time", "last_write"),
        ("x-ms-file-change-time", "changed"),
    ):
        given = value(header)
        if from_source(header) and source is not None:
            setattr(smb, name, getattr(source[0], name))
        elif given is not None:
            setattr(smb, name, parse_time(given, getattr(smb, name)))
    mode = (value("x-ms-file-permission-copy-mode") or "").lower()
    sddl, key = value("x-ms-file-permission"), value("x-ms-file-permission-key")
    if mode == "source" and source is not None:
        copied = source[1].get(source[0].permission_key) or DEFAULT_SDDL
        smb.permission_key = permissions.key_for(copied)
    elif sddl is not None and sddl.lower() not in ("inherit", "preserve"):
        smb.permission_key = permissions.key_for(sddl)
    elif sddl is not None and sddl.lower() == "inherit":
        smb.permission_key = DEFAULT_KEY
    elif key is not None:
        if permissions.get(key) is None:
            raise SmbError(f"the permission key {key!r} is not known to this share")
        smb.permission_key = key
    return smb
