"""Helpers shared by the sandbox-backed tests: call the hooks the way the engine does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from atg_dataplane import (
    DataPlaneItem,
    Fingerprinter,
    ItemOutcome,
    ReplicationMode,
    ResourceBinding,
)
from atg_dataplane_keyvault import plugin

TEMPLATE = ReplicationMode.TEMPLATE
REPLICATION = ReplicationMode.REPLICATION


def discover(
    binding: ResourceBinding,
    mode: ReplicationMode,
    fingerprinter: Fingerprinter,
    options: Mapping[str, Any] | None = None,
    kind: str | None = None,
) -> list[DataPlaneItem]:
    items = list(
        plugin.dataplane_discover(
            resource=binding, mode=mode, options=options or {}, fingerprinter=fingerprinter
        )
    )
    return [i for i in items if kind is None or i.kind == kind]


def replicate(
    items: list[DataPlaneItem],
    source: ResourceBinding,
    target: ResourceBinding,
    mode: ReplicationMode,
    fingerprinter: Fingerprinter,
    options: Mapping[str, Any] | None = None,
) -> dict[str, ItemOutcome]:
    """Replicate in the engine's order: versions of one name oldest first."""
    outcomes: dict[str, ItemOutcome] = {}
    for item in sorted(items, key=lambda i: (i.kind, i.name, i.order)):
        outcomes[item.key] = plugin.dataplane_replicate_item(
            item=item,
            source=source,
            target=target,
            mode=mode,
            options=options or {},
            fingerprinter=fingerprinter,
        )
    return outcomes


def statuses(outcomes: Mapping[str, ItemOutcome]) -> dict[str, str]:
    return {key: outcome.status for key, outcome in outcomes.items()}


def fingerprint(
    item: DataPlaneItem,
    binding: ResourceBinding,
    mode: ReplicationMode,
    fingerprinter: Fingerprinter,
) -> str | None:
    """What ``verify`` compares: the hook's answer, or the discovered fingerprint."""
    value = plugin.dataplane_fingerprint(
        item=item, resource=binding, mode=mode, fingerprinter=fingerprinter
    )
    return value or item.fingerprint


def by_match_key(items: list[DataPlaneItem]) -> dict[str, DataPlaneItem]:
    return {item.match_key: item for item in items}


def assert_sides_match(
    source: ResourceBinding,
    target: ResourceBinding,
    mode: ReplicationMode,
    fingerprinter: Fingerprinter,
    options: Mapping[str, Any] | None = None,
    kind: str | None = None,
) -> None:
    """Verification as the engine does it: same match keys, properties, and fingerprints."""
    src = by_match_key(discover(source, mode, fingerprinter, options, kind))
    dst = by_match_key(discover(target, mode, fingerprinter, options, kind))
    assert set(src) == set(dst)
    for key, item in src.items():
        assert dict(item.properties) == dict(dst[key].properties), key
        if item.copyable and mode is ReplicationMode.REPLICATION:
            assert fingerprint(item, source, mode, fingerprinter) == fingerprint(
                dst[key], target, mode, fingerprinter
            ), key
