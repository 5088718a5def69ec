"""Verification: discover both sides again and compare item by item.

Items match by kind and name (versions by position). Properties are compared
as discovered; contents through keyed fingerprints (replication mode only:
template mode copies structure, not values). No value is printed.

Fidelity is the share of copyable source items that match in the target;
items that cannot be copied (a non-exportable key) are counted apart, each
with its reason, once the target is found to hold what the plugin recreates
of them (``DataPlaneItem.recreated``): a recreated item absent from the target
is missing, one with other properties is different. An object that cannot be
read on either side is different, with the reason; versions the target holds
beyond the source's count as different too.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from atg_dataplane.context import Fingerprinter, ResourceBinding
from atg_dataplane.coverage import Coverage
from atg_dataplane.inventory import ResourcePair
from atg_dataplane.models import DataPlaneItem, ReplicationMode
from atg_dataplane.plugins import PluginHost
from atg_dataplane.redact import describe_error


@dataclass
class ItemVerdict:
    resource_id: str
    resource_type: str
    kind: str
    name: str
    status: str
    """``matching``, ``different``, ``missing`` or ``not_copyable``."""
    detail: str = ""
    contents_compared: bool = True
    """False when the plugin gave no fingerprint on either side (properties only)."""


MAX_LISTED = 10_000
"""Verdicts other than ``matching`` that a report holds when it does not keep every
verdict; the rest are counted (``unlisted``)."""


@dataclass
class VerifyReport:
    mode: ReplicationMode
    verdicts: list[ItemVerdict] = field(default_factory=list)
    """Every verdict; with ``keep_matching`` False, only those that are not ``matching``, at
    most :data:`MAX_LISTED` of them."""
    missing_targets: list[str] = field(default_factory=list)
    coverage: Coverage = field(default_factory=Coverage)
    """Source resources served by a plugin, and those of types no installed plugin serves."""
    context: dict[str, Any] = field(default_factory=dict)
    """When, against what and with what the comparison ran (date, run id, tool and plugin
    versions, both tenants and subscriptions): the report's header."""
    extra_in_target: int = 0
    keep_matching: bool = True
    """False keeps memory flat however large the tenant: matching items are only counted
    (the ``verify`` command)."""
    unlisted: int = 0
    """Verdicts other than ``matching`` counted but not held (beyond :data:`MAX_LISTED`)."""
    _counts: Counter[tuple[str, str, str]] = field(default_factory=Counter, repr=False)
    """Verdicts by resource type, kind and status."""
    _not_compared: int = field(default=0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, verdict: ItemVerdict) -> None:
        with self._lock:
            self._counts[(verdict.resource_type, verdict.kind, verdict.status)] += 1
            if verdict.status == "matching" and not verdict.contents_compared:
                self._not_compared += 1
            if not self.keep_matching:
                if verdict.status == "matching":
                    return
                if len(self.verdicts) >= MAX_LISTED:
                    self.unlisted += 1
                    return
            self.verdicts.append(verdict)

    def count(self, status: str) -> int:
        return sum(n for (_, _, s), n in self._counts.items() if s == status)

    @property
    def compared(self) -> int:
        return sum(n for (_, _, s), n in self._counts.items() if s != "not_copyable")

    @property
    def fidelity(self) -> float:
        if self.compared == 0:
            return 100.0
        return round(100.0 * self.count("matching") / self.compared, 2)

    def by_type(self) -> dict[str, dict[str, Any]]:
        table: dict[str, dict[str, Any]] = defaultdict(
            lambda: {
                "compared": 0,
                "matching": 0,
                "different": 0,
                "missing": 0,
                "not_copyable": 0,
                "by_kind": defaultdict(lambda: defaultdict(int)),
            }
        )
        for (rtype, kind, status), n in self._counts.items():
            row = table[rtype]
            row[status] += n
            row["by_kind"][kind][status] += n
            if status != "not_copyable":
                row["compared"] += n
        out = {}
        for rtype, row in table.items():
            row["fidelity"] = (
                round(100.0 * row["matching"] / row["compared"], 2) if row["compared"] else 100.0
            )
            row["by_kind"] = {k: dict(v) for k, v in row["by_kind"].items()}
            out[rtype] = dict(row)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "context": dict(self.context),
            "fidelity": self.fidelity,
            "compared": self.compared,
            "matching": self.count("matching"),
            "different": self.count("different"),
            "missing": self.count("missing"),
            "not_copyable": self.count("not_copyable"),
            "extra_in_target": self.extra_in_target,
            "contents_not_compared": self._not_compared,
            "missing_targets": list(self.missing_targets),
            **self.coverage.to_dict(),
            "by_type": self.by_type(),
            "items": [vars(v) for v in self.verdicts if v.status != "matching"],
            "items_not_listed": self.unlisted,
        }


def _discover(
    host: PluginHost,
    binding: ResourceBinding,
    rtype: str,
    mode: ReplicationMode,
    options: Mapping[str, Any],
    fingerprinter: Fingerprinter,
) -> Iterable[DataPlaneItem]:
    hook = host.hook_for(rtype, "dataplane_discover")
    return hook(resource=binding, mode=mode, options=options, fingerprinter=fingerprinter) or ()


def _fingerprint(
    host: PluginHost,
    item: DataPlaneItem,
    binding: ResourceBinding,
    rtype: str,
    mode: ReplicationMode,
    fingerprinter: Fingerprinter,
    options: Mapping[str, Any],
) -> str | None:
    hook = host.hook_for(rtype, "dataplane_fingerprint")
    value = hook(
        item=item, resource=binding, mode=mode, fingerprinter=fingerprinter, options=options
    )
    return value or item.fingerprint


def _diff(source: Mapping[str, Any], target: Mapping[str, Any]) -> list[str]:
    keys = sorted(set(source) | set(target))
    return [k for k in keys if source.get(k) != target.get(k)]


def _unreadable(verdict: ItemVerdict, side: str, error: BaseException) -> ItemVerdict:
    verdict.status = "different"
    verdict.detail = f"could not be read in the {side}: {describe_error(error)}"
    return verdict


def verify_pair(
    host: PluginHost,
    pair: ResourcePair,
    *,
    mode: ReplicationMode,
    options: Mapping[str, Any],
    fingerprinter: Fingerprinter,
    report: VerifyReport,
    pool: ThreadPoolExecutor | None = None,
) -> None:
    """Compare one resource; fingerprints of both sides are read on ``pool``."""
    rtype = pair.spec.resource_type
    rid = pair.source.resource.id
    sources = _discover(host, pair.source, rtype, mode, options, fingerprinter)
    if pair.target is None:
        # Its items count as missing: a missing resource must lower fidelity.
        report.missing_targets.append(pair.problem)
        for item in sources:
            status, detail = (
                ("not_copyable", item.not_copyable_reason)
                if not item.copyable and not item.recreated
                else ("missing", "the target resource does not exist")
            )
            report.add(ItemVerdict(rid, rtype, item.kind, item.name, status, detail))
        return
    # The target side is held as an index by match key; the source streams.
    target_items = {
        item.match_key: item
        for item in _discover(host, pair.target, rtype, mode, options, fingerprinter)
    }
    target = pair.target
    seen = set()

    def judge(item: DataPlaneItem) -> ItemVerdict:
        verdict = ItemVerdict(rid, rtype, item.kind, item.name, "matching")
        counterpart = target_items.get(item.match_key)
        if not item.copyable and not item.recreated:
            verdict.status, verdict.detail = "not_copyable", item.not_copyable_reason
        elif counterpart is None:
            verdict.status, verdict.detail = "missing", "not found in the target"
        elif differing := _diff(item.properties, counterpart.properties):
            verdict.status = "different"
            verdict.detail = "properties differ: " + ", ".join(differing)
        elif not item.copyable:  # recreated with the same parameters; contents cannot match
            verdict.status, verdict.detail = "not_copyable", item.not_copyable_reason
        elif mode is ReplicationMode.REPLICATION:
            try:
                src = _fingerprint(host, item, pair.source, rtype, mode, fingerprinter, options)
            except Exception as exc:
                return _unreadable(verdict, "source", exc)
            try:
                dst = _fingerprint(host, counterpart, target, rtype, mode, fingerprinter, options)
            except Exception as exc:
                return _unreadable(verdict, "target", exc)
            if src != dst:
                verdict.status, verdict.detail = "different", "content differs (fingerprint)"
            elif src is None:
                verdict.contents_compared = False
        return verdict

    limit = threading.BoundedSemaphore(
        max(1, min(pair.spec.max_concurrency_per_resource or 64, 64))
    )
    pending: list[Future[ItemVerdict]] = []
    versioned: set[tuple[str, str]] = set()
    for item in sources:
        seen.add(item.match_key)
        if item.version is not None:
            versioned.add((item.kind, item.name))
        if pool is None:
            report.add(judge(item))
            continue
        limit.acquire()
        future = pool.submit(judge, item)
        future.add_done_callback(lambda _f: limit.release())
        pending.append(future)
        if len(pending) >= 256:
            for done in pending:
                report.add(done.result())
            pending = []
    for done in pending:
        report.add(done.result())
    for key in set(target_items) - seen:
        extra = target_items[key]
        if extra.version is not None and (extra.kind, extra.name) in versioned:
            # A name the source has, with more versions in the target than in the source.
            detail = f"the target holds version #{extra.order + 1} (oldest first); the source fewer"
            report.add(ItemVerdict(rid, rtype, extra.kind, extra.name, "different", detail))
        else:
            report.extra_in_target += 1
