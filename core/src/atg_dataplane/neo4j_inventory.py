"""Source inventory from Azure Tenant Grapher's Neo4j graph (extra ``neo4j``).

``--inventory neo4j://USER@HOST:7687`` (or ``bolt://``); the password comes
from ``NEO4J_PASSWORD``, never from the command line. ATG stores each ARM
resource as a ``:Resource`` node with ``id``, ``type``, ``name``,
``location``, ``tags`` and ``properties`` (a map or a JSON string).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from atg_dataplane.config import ConfigError

QUERY = (
    "MATCH (r:Resource) WHERE toLower(r.id) STARTS WITH $prefix "
    "RETURN r.id AS id, r.type AS type, r.name AS name, r.location AS location, "
    "r.tags AS tags, r.properties AS properties"
)


def resource_from_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """An ARM-shaped dict from one graph record (properties may be JSON text)."""

    def _mapping(value: Any, field: str) -> dict[str, Any]:
        if value is None or value == "":
            return {}
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise ConfigError(
                    f"graph node {record.get('id')!r} has a {field} that is not JSON"
                ) from None
        if not isinstance(value, Mapping):
            raise ConfigError(f"graph node {record.get('id')!r} has a {field} that is not a map")
        return dict(value)

    return {
        "id": record.get("id") or "",
        "type": record.get("type") or "",
        "name": record.get("name") or "",
        "location": record.get("location") or "",
        "tags": _mapping(record.get("tags"), "tags"),
        "properties": _mapping(record.get("properties"), "properties"),
    }


def read_neo4j_inventory(uri: str, subscription_id: str) -> Iterator[dict[str, Any]]:
    try:
        import neo4j
    except ImportError:
        raise ConfigError(
            "reading the inventory from Neo4j needs the neo4j extra: "
            "pip install 'atg-dataplane[neo4j]'"
        ) from None
    parts = urlsplit(uri)
    user = parts.username or "neo4j"
    password = os.environ.get("NEO4J_PASSWORD")
    if not password:
        raise ConfigError("set NEO4J_PASSWORD to read the inventory from Neo4j")
    host = parts.hostname or "localhost"
    netloc = f"{host}:{parts.port}" if parts.port else host
    clean = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    prefix = f"/subscriptions/{subscription_id}/".lower()
    try:
        with neo4j.GraphDatabase.driver(
            clean, auth=(user, password), connection_timeout=10
        ) as driver:
            driver.verify_connectivity()  # fail fast; execute_query would retry for 30 s
            records, _, _ = driver.execute_query(QUERY, prefix=prefix)
    except neo4j.exceptions.Neo4jError as exc:
        raise ConfigError(f"Neo4j query failed: {exc.message}") from None
    except (neo4j.exceptions.DriverError, OSError) as exc:
        raise ConfigError(f"cannot reach Neo4j at {clean}: {exc}") from None
    for record in records:
        yield resource_from_record(record.data())
