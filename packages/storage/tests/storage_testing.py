"""Helpers shared by the sandbox-backed tests: run the core's engine and verifier."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests
from atg_dataplane import ReplicationMode, ResourceBinding, SideContext
from atg_dataplane.engine import RunSummary
from atg_dataplane.testing import PairRun
from atg_dataplane.verify import VerifyReport
from requests.adapters import HTTPAdapter

TEMPLATE = ReplicationMode.TEMPLATE
REPLICATION = ReplicationMode.REPLICATION


class Run(PairRun):
    """One source/target pair driven through the engine, with one journal; every run must
    end without failed items."""

    def __init__(self, source: ResourceBinding, target: ResourceBinding, tmp: Path) -> None:
        super().__init__("storage", source, target, tmp)

    def replicate(
        self, mode: ReplicationMode, options: Mapping[str, Any] | None = None, concurrency: int = 8
    ) -> RunSummary:
        summary = super().replicate(mode, options, concurrency)
        assert summary.result.failed == 0, summary.result.errors[:5]
        return summary


def kinds(summary: RunSummary, rid: str) -> dict[str, Any]:
    return dict(summary.by_resource[rid])


def not_matching(report: VerifyReport) -> list[Any]:
    return [v for v in report.verdicts if v.status != "matching"]


class CountingAdapter(HTTPAdapter):
    """Counts every response body byte the HTTP client reads (below azure-core)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.received = 0
        self.requests: list[tuple[str, str]] = []
        """``(method, url)`` of every request sent."""

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        self.requests.append((request.method, request.url))
        response = super().send(request, *args, **kwargs)
        raw = response.raw
        read, read_chunked = raw.read, raw.read_chunked

        # urllib3 reads a body with read() or, when chunked, read_chunked(): count both.
        def counted(*a: Any, **k: Any) -> Any:
            data = read(*a, **k)
            self.received += len(data or b"")
            return data

        def counted_chunks(*a: Any, **k: Any) -> Any:
            for data in read_chunked(*a, **k):
                self.received += len(data or b"")
                yield data

        raw.read = counted
        raw.read_chunked = counted_chunks
        return response


class CountingSideContext(SideContext):
    """A side whose shared transport counts the bytes it receives."""

    def transport(self) -> Any:
        from azure.core.pipeline.transport import RequestsTransport

        with self._lock:
            if self._session is None:
                session = requests.Session()
                self.counter = CountingAdapter(pool_connections=8, pool_maxsize=32)
                session.mount("https://", self.counter)
                self._session = session
        return RequestsTransport(
            session=self._session, session_owner=False, connection_verify=self.connection_verify
        )


def source_counts(world: Any, binding: ResourceBinding) -> dict[str, int]:
    """What the source account holds now (other tests of the session may add to it)."""
    blob = world.admin_service(binding, "blob")
    containers = list(blob.list_containers())
    blobs = sum(1 for c in containers for _ in blob.get_container_client(c.name).list_blobs())
    tables = sum(1 for _ in world.admin_service(binding, "table").list_tables())
    queues = sum(1 for _ in world.admin_service(binding, "queue").list_queues())
    shares = sum(1 for _ in world.admin_service(binding, "file").list_shares())
    return {
        "container": len(containers),
        "blob": blobs,
        "table": tables,
        "queue": queues,
        "share": shares,
    }
