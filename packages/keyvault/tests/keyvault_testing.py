"""Helpers shared by the sandbox-backed tests: call the hooks the way the engine does."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atg_dataplane import (
    DataPlaneItem,
    Fingerprinter,
    ItemOutcome,
    ReplicationMode,
    ResourceBinding,
)
from atg_dataplane.engine import Engine, RunSummary
from atg_dataplane.inventory import ResourcePair
from atg_dataplane.journal import Journal
from atg_dataplane.plugins import PluginHost
from atg_dataplane.testing.pytest_plugin import load_single_plugin
from atg_dataplane.verify import VerifyReport, verify_pair
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


@dataclass(frozen=True)
class EngineHarness:
    """The core's engine and verifier on one vault pair, the plugin loaded from its entry point."""

    host: PluginHost
    pair: ResourcePair
    journal: Journal

    @classmethod
    def load(
        cls, source: ResourceBinding, target: ResourceBinding, directory: Path
    ) -> EngineHarness:
        host = load_single_plugin("keyvault")
        spec = next(spec for _, spec in host.types.values())
        pair = ResourcePair(source=source, target=target, spec=spec, plugin="keyvault")
        return cls(host, pair, Journal(directory / "journal.db"))

    def run(self, mode: ReplicationMode, options: Mapping[str, Any]) -> RunSummary:
        engine = Engine(
            self.host,
            mode=mode,
            journal=self.journal,
            run_id=self.journal.start_run(uuid.uuid4().hex, mode.value).run_id,
            options=options,
            concurrency=8,
        )
        return engine.run([self.pair])

    def verify(self, mode: ReplicationMode, options: Mapping[str, Any]) -> VerifyReport:
        report = VerifyReport(mode=mode)
        verify_pair(
            self.host,
            self.pair,
            mode=mode,
            options=options,
            fingerprinter=Fingerprinter(self.journal.fingerprint_key()),
            report=report,
        )
        return report
