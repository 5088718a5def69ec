"""One source/target pair driven through the real engine and verifier, as a run would.

A plugin's tests build two :class:`~atg_dataplane.ResourceBinding` objects (against a
sandbox or a real tenant) and let :class:`PairRun` replicate and verify them::

    run = PairRun("storage", source, target, tmp_path)
    summary = run.replicate(ReplicationMode.REPLICATION)
    assert run.verify(ReplicationMode.REPLICATION).fidelity == 100.0

Each call starts from fresh bindings (no listing or per-resource state kept from the last
call), as a new ``atg-dataplane`` run would; the journal is shared, as a re-run's is.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from atg_dataplane.context import Fingerprinter, ResourceBinding
from atg_dataplane.engine import Engine, RunSummary
from atg_dataplane.inventory import ResourcePair
from atg_dataplane.journal import Journal
from atg_dataplane.models import ReplicationMode
from atg_dataplane.verify import VerifyReport, verify_pair


class PairRun:
    """The plugin ``entry_point_name`` alone, on one pair, with one journal in ``folder``."""

    def __init__(
        self,
        entry_point_name: str,
        source: ResourceBinding,
        target: ResourceBinding,
        folder: Path,
    ) -> None:
        from atg_dataplane.testing.pytest_plugin import load_single_plugin

        self.host = load_single_plugin(entry_point_name)
        spec = next(spec for _, spec in self.host.types.values())
        self.pair = ResourcePair(source=source, target=target, spec=spec, plugin=entry_point_name)
        self.journal = Journal(Path(folder) / f"journal-{uuid.uuid4().hex[:6]}.db")

    def fresh(self) -> ResourcePair:
        """The pair as a new run sees it (same resources and clients, no per-run state)."""
        target = self.pair.target
        return replace(
            self.pair,
            source=ResourceBinding(self.pair.source.resource, self.pair.source.context),
            target=None if target is None else ResourceBinding(target.resource, target.context),
        )

    def replicate(
        self,
        mode: ReplicationMode,
        options: Mapping[str, Any] | None = None,
        concurrency: int = 8,
    ) -> RunSummary:
        engine = Engine(
            self.host,
            mode=mode,
            journal=self.journal,
            run_id=self.journal.start_run(uuid.uuid4().hex, mode.value).run_id,
            options=dict(options or {}),
            concurrency=concurrency,
        )
        return engine.run([self.fresh()])

    def verify(
        self, mode: ReplicationMode, options: Mapping[str, Any] | None = None
    ) -> VerifyReport:
        report = VerifyReport(mode=mode)
        verify_pair(
            self.host,
            self.fresh(),
            mode=mode,
            options=dict(options or {}),
            fingerprinter=Fingerprinter(self.journal.fingerprint_key()),
            report=report,
        )
        return report
