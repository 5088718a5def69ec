"""A BACPAC read where it lies: a zip whose ``model.xml`` holds the schema, ``Origin.xml``
the export's statistics and ``Data/<schema>.<table>/`` the rows, in parts.

:class:`Package` reads a package through any seekable file (a blob read by ranges): the
zip's directory, the model and the origin; a data part only when a fingerprint needs its
bytes. Pure logic, no Azure client.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import IO
from xml.etree import ElementTree as ET

from atg_dataplane import Fingerprinter

MODEL = "model.xml"
ORIGIN = "Origin.xml"
DATA = "Data/"
USER_OBJECTS = frozenset({
    "SqlTable", "SqlView", "SqlIndex", "SqlProcedure", "SqlScalarFunction",
    "SqlInlineTableValuedFunction", "SqlMultiStatementTableValuedFunction", "SqlSequence",
    "SqlSynonym", "SqlDmlTrigger", "SqlUserDefinedDataType", "SqlTableType", "SqlSchema",
    "SqlUser", "SqlRole", "SqlXmlSchemaCollection", "SqlPartitionFunction",
    "SqlPartitionScheme", "SqlFullTextCatalog", "SqlAssembly", "SqlExternalDataSource",
})
"""Element types that make a database not empty: what Azure's import refuses, and what a
database this tool makes again would lose (contained users and roles count)."""
READ_CHUNK = 1024 * 1024


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


@dataclass(frozen=True)
class Part:
    name: str
    size: int
    crc: int


class Package:
    def __init__(self, stream: IO[bytes]) -> None:
        try:
            self.archive = zipfile.ZipFile(stream)
            self.model = self.archive.read(MODEL)
            self.origin = ET.fromstring(self.archive.read(ORIGIN))
            root = ET.fromstring(self.model)
        except (zipfile.BadZipFile, KeyError, ET.ParseError) as exc:
            raise ValueError(f"not a BACPAC package: {exc}") from None
        model = next((e for e in root if _local(e.tag) == "Model"), root)
        self.objects = sorted(
            (str(e.get("Type")), str(e.get("Name")))
            for e in model
            if _local(e.tag) == "Element" and e.get("Type") in USER_OBJECTS
        )
        self.parts = sorted(
            (Part(i.filename, i.file_size, i.CRC) for i in self.archive.infolist()
             if i.filename.startswith(DATA) and not i.is_dir()),
            key=lambda p: p.name,
        )

    @property
    def empty(self) -> bool:
        """No user object: a database Azure imports into."""
        return not self.objects

    def rows(self) -> dict[str, int]:
        """Rows per table, as the export counted them (``Origin.xml``)."""
        return {
            str(row.get("Name")): int(row.text or 0)
            for row in self.origin.iter()
            if _local(row.tag) == "TableRow"
        }

    def same_as(self, other: Package, with_data: bool) -> bool:
        """The same schema (and, ``with_data``, the same data parts by name, size and
        CRC-32 from the zip's directory: no part is read)."""
        if self.model != other.model:
            return False
        return not with_data or self.parts == other.parts

    def fingerprint(self, fingerprinter: Fingerprinter, shallow: bool = False) -> str:
        """A keyed hash over the model and each data part's bytes (``shallow``: over the
        model and the row counts only). Export timestamps are not in it."""
        digest = fingerprinter.stream()
        digest.update(self.model)
        if shallow:
            rows = self.rows()
            if not rows and any(kind == "SqlTable" for kind, _ in self.objects):
                raise ValueError("the package's Origin.xml counts no rows: a shallow "
                                 "comparison would compare the schema only")
            digest.update(repr(sorted(rows.items())).encode())
            return digest.hexdigest()
        for part in self.parts:
            digest.update(f"\0{part.name}\0{part.size}\0".encode())
            with self.archive.open(part.name) as data:
                while chunk := data.read(READ_CHUNK):
                    digest.update(chunk)
        return digest.hexdigest()

    def schema_only(self) -> bytes:
        """The same package without its ``Data/`` parts: a valid schema-only package (the
        model, and its checksum in ``Origin.xml``, unchanged)."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
            for info in self.archive.infolist():
                if not info.filename.startswith(DATA):
                    out.writestr(info.filename, self.archive.read(info.filename))
        return buffer.getvalue()


class RangedReader(io.RawIOBase):
    """A read-only, seekable file over ``read(offset, length)`` (a blob's ranged GETs), so
    a zip is read by its directory and the members asked for, never whole."""

    def __init__(self, size: int, read: object) -> None:
        self.size = size
        self._read = read
        self._at = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._at

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._at, io.SEEK_END: self.size}[whence]
        self._at = max(0, base + offset)
        return self._at

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        length = min(len(buffer), self.size - self._at)
        if length <= 0:
            return 0
        data = self._read(self._at, length)  # type: ignore[operator]
        buffer[: len(data)] = data
        self._at += len(data)
        return len(data)
