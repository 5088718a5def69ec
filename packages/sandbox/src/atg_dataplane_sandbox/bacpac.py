"""BACPAC-shaped packages of the sandbox's SQL databases (which live in SQLite files).

A package is a zip, as DacFx writes one:

* ``model.xml``: the schema, one ``Element`` per table (with its columns), index and view,
  each carrying the statement that creates it;
* ``Origin.xml``: what exported it, row counts per table, and the SHA-256 of
  ``model.xml`` (an import refuses a package whose model does not match it);
* ``Data/<schema>.<table>/TableData-<part>-00000.BCP``: the rows, in parts of at most
  :data:`ROWS_PER_PART`. DacFx writes BCP native format; the sandbox writes one JSON
  array per row (values by SQLite storage class, binary as base64), which round-trips
  exactly. A package without ``Data/`` parts is a valid schema-only package.

Export of an imported package gives back the same model and the same data parts.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import sqlite3
import uuid
import zipfile
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree as ET

MODEL = "model.xml"
ORIGIN = "Origin.xml"
DATA = "Data/"
ROWS_PER_PART = 1000
SCHEMA = "dbo"
DAC_NS = "http://schemas.microsoft.com/sqlserver/dac/Serialization/2012/02"
ORIGIN_NS = "http://schemas.microsoft.com/sqlserver/dac/Serialization/2011/02"
CONTENT_TYPES = (
    '<?xml version="1.0" encoding="utf-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    'package/2006/content-types"><Default Extension="xml" ContentType="text/xml" />'
    '<Default Extension="BCP" ContentType="application/octet-stream" /></Types>'
)
KINDS = {"table": "SqlTable", "index": "SqlIndex", "view": "SqlView"}


class BacpacError(Exception):
    """A package that cannot be imported, or a database that cannot take it."""


def user_objects(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    """``(kind, name, sql)`` of every table, index and view, in creation order (tables,
    then indexes, then views; by name within a kind)."""
    rows = conn.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL "
        "AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    order = list(KINDS)
    return sorted(
        ((kind, name, sql) for kind, name, sql in rows if kind in KINDS),
        key=lambda row: (order.index(row[0]), row[1]),
    )


def _qualified(name: str) -> str:
    return f"[{SCHEMA}].[{name}]"


def _model(conn: sqlite3.Connection) -> bytes:
    root = ET.Element(
        "DataSchemaModel",
        {
            "xmlns": DAC_NS,
            "FileFormatVersion": "1.2",
            "SchemaVersion": "2.9",
            "DspName": "Microsoft.Data.Tools.Schema.Sql.SqlAzureV12DatabaseSchemaProvider",
            "CollationLcid": "1033",
            "CollationCaseSensitive": "False",
        },
    )
    model = ET.SubElement(root, "Model")
    for kind, name, sql in user_objects(conn):
        element = ET.SubElement(model, "Element", {"Type": KINDS[kind], "Name": _qualified(name)})
        if kind == "table":
            columns = ET.SubElement(element, "Relationship", {"Name": "Columns"})
            for _, column, declared, notnull, _default, pk in conn.execute(
                f'PRAGMA table_info("{name}")'
            ):
                entry = ET.SubElement(ET.SubElement(columns, "Entry"), "Element", {
                    "Type": "SqlSimpleColumn", "Name": f"{_qualified(name)}.[{column}]"
                })
                for prop, value in (("Type", declared), ("IsNullable", str(not notnull)),
                                    ("PrimaryKeyOrdinal", str(pk))):
                    ET.SubElement(entry, "Property", {"Name": prop, "Value": value})
        script = ET.SubElement(element, "Property", {"Name": "Script"})
        ET.SubElement(script, "Value").text = sql
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _encode(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        return base64.b64decode(value["b64"])
    return value


def _rows(conn: sqlite3.Connection, table: str) -> list[list[Any]]:
    # rowid order: the order the rows were inserted in, the same after an import
    return [
        [_encode(v) for v in row]
        for row in conn.execute(f'SELECT * FROM "{table}" ORDER BY rowid')
    ]


def data_part(table: str, index: int) -> str:
    return f"{DATA}{SCHEMA}.{table}/TableData-{index:03d}-00000.BCP"


def export(conn: sqlite3.Connection) -> bytes:
    """The whole database as a package (schema and rows)."""
    started = datetime.now(UTC).isoformat()
    model = _model(conn)
    counts: dict[str, int] = {}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("[Content_Types].xml", CONTENT_TYPES)
        package.writestr(MODEL, model)
        package.writestr("DacMetadata.xml", '<?xml version="1.0" encoding="utf-8"?>'
                         f'<DacType xmlns="{DAC_NS}"><Name>database</Name>'
                         "<Version>0.0.0.0</Version></DacType>")
        for kind, name, _ in user_objects(conn):
            if kind != "table":
                continue
            rows = _rows(conn, name)
            counts[name] = len(rows)
            for index, start in enumerate(range(0, len(rows), ROWS_PER_PART)):
                lines = (json.dumps(r, separators=(",", ":")) for r in
                         rows[start : start + ROWS_PER_PART])
                package.writestr(data_part(name, index), "\n".join(lines) + "\n")
        package.writestr(ORIGIN, _origin(model, counts, started))
    return buffer.getvalue()


def _origin(model: bytes, counts: dict[str, int], started: str) -> bytes:
    root = ET.Element("DacOrigin", {"xmlns": ORIGIN_NS})
    props = ET.SubElement(root, "PackageProperties")
    ET.SubElement(props, "Version").text = "3.1.0.0"
    ET.SubElement(props, "ContainsExportedData").text = "true" if counts else "false"
    operation = ET.SubElement(root, "Operation")
    ET.SubElement(operation, "Identity").text = str(uuid.uuid4())
    ET.SubElement(operation, "Start").text = started
    ET.SubElement(operation, "End").text = datetime.now(UTC).isoformat()
    ET.SubElement(operation, "ProductName").text = "atg-dataplane-sandbox"
    stats = ET.SubElement(ET.SubElement(root, "ExportStatistics"), "TableRows")
    for table, rows in sorted(counts.items()):
        ET.SubElement(stats, "TableRow", {"Name": _qualified(table)}).text = str(rows)
    sums = ET.SubElement(root, "Checksums")
    ET.SubElement(sums, "Checksum", {"Uri": "/" + MODEL}).text = (
        hashlib.sha256(model).hexdigest().upper()
    )
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def elements(model: bytes) -> list[tuple[str, str, str]]:
    """``(kind, name, script)`` of a package's model, in its order."""
    kinds = {v: k for k, v in KINDS.items()}
    found = []
    for element in ET.fromstring(model).iter(f"{{{DAC_NS}}}Element"):
        kind = kinds.get(element.get("Type", ""))
        if kind is None:
            continue
        script = element.find(f"{{{DAC_NS}}}Property[@Name='Script']/{{{DAC_NS}}}Value")
        name = element.get("Name", "").removeprefix(f"[{SCHEMA}].[").removesuffix("]")
        found.append((kind, name, (script.text if script is not None else "") or ""))
    return found


def restore(conn: sqlite3.Connection, package: bytes) -> dict[str, int]:
    """Import ``package`` into the empty database behind ``conn``; rows per table.

    As DacFx, statement by statement: a package that fails part way (a row that breaks a
    key) leaves what was created before it, for the caller to clean up."""
    if user_objects(conn):
        raise BacpacError(
            "Data cannot be imported into target because it contains one or more user "
            "objects. Import should be attempted into a new database."
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(package))
        model = archive.read(MODEL)
        origin = ET.fromstring(archive.read(ORIGIN))
    except (zipfile.BadZipFile, KeyError, ET.ParseError) as exc:
        raise BacpacError(f"The file is not a valid BACPAC package: {exc}") from None
    saved = origin.find(f"{{{ORIGIN_NS}}}Checksums/{{{ORIGIN_NS}}}Checksum")
    if saved is None or (saved.text or "").upper() != hashlib.sha256(model).hexdigest().upper():
        raise BacpacError(
            "The calculated checksum for model.xml in the package does not match the saved "
            "checksum: the package was changed after export."
        )
    objects = elements(model)
    counts: dict[str, int] = {}
    conn.isolation_level = None  # autocommit: each statement stands, as on SQL Server
    for kind, _, script in objects:
        if kind == "table":
            conn.execute(script)
    try:
        for kind, name, _ in objects:
            if kind == "table":
                counts[name] = _load(conn, archive, name)
        for kind, _, script in objects:
            if kind != "table":
                conn.execute(script)
    except sqlite3.DatabaseError as exc:
        raise BacpacError(f"The import failed part way: {exc}") from None
    return counts


def _load(conn: sqlite3.Connection, archive: zipfile.ZipFile, table: str) -> int:
    prefix = f"{DATA}{SCHEMA}.{table}/"
    loaded = 0
    for part in sorted(n for n in archive.namelist() if n.startswith(prefix)):
        rows = [[_decode(v) for v in json.loads(line)]
                for line in archive.read(part).decode().splitlines() if line]
        if rows:
            marks = ",".join("?" * len(rows[0]))
            conn.execute("BEGIN")
            try:
                conn.executemany(f'INSERT INTO "{table}" VALUES ({marks})', rows)
                conn.execute("COMMIT")
            except sqlite3.DatabaseError:
                conn.execute("ROLLBACK")
                raise
            loaded += len(rows)
    return loaded


def tables(package: bytes) -> dict[str, int]:
    """Rows per table as the package's ``Origin.xml`` counts them."""
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        origin = ET.fromstring(archive.read(ORIGIN))
    return {
        row.get("Name", "").removeprefix(f"[{SCHEMA}].[").removesuffix("]"): int(row.text or 0)
        for row in origin.iter(f"{{{ORIGIN_NS}}}TableRow")
    }
