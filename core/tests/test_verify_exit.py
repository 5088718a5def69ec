"""When ``verify`` exits 1: anything copyable missing or different, or a target resource
missing; ``--min-fidelity`` lowers the bar, compared with the exact share (not the
rounded one)."""

from __future__ import annotations

from atg_dataplane.api import verified
from atg_dataplane.models import ReplicationMode
from atg_dataplane.verify import ItemVerdict, VerifyReport

RID, TYPE = "/subscriptions/s/resourceGroups/g/providers/T/t/r", "T/t"


def _report(*statuses: str, missing_targets: tuple[str, ...] = ()) -> VerifyReport:
    report = VerifyReport(mode=ReplicationMode.REPLICATION, keep_matching=False)
    for n, status in enumerate(statuses):
        report.add(ItemVerdict(RID, TYPE, "k", f"i{n}", status))
    report.missing_targets.extend(missing_targets)
    return report


def test_everything_matching_or_not_copyable_passes() -> None:
    assert verified(_report("matching", "matching", "not_copyable"), None)
    assert verified(_report(), None)


def test_anything_missing_or_different_fails() -> None:
    assert not verified(_report("matching", "missing"), None)
    assert not verified(_report("matching", "different"), None)
    assert not verified(_report("different", "different"), None)  # 0 %


def test_a_missing_target_resource_fails_even_without_items() -> None:
    assert not verified(_report(missing_targets=("no counterpart of r",)), None)


def test_min_fidelity_lowers_the_bar_on_the_exact_share() -> None:
    one_in_a_million = _report(*(["matching"] * 999_999), "different")
    assert one_in_a_million.fidelity == 100.0  # rounded
    assert not verified(one_in_a_million, None)
    assert not verified(one_in_a_million, 100.0)  # the exact share is below 100
    assert verified(one_in_a_million, 99.99)
    assert verified(_report("matching", "different"), 50.0)
    assert not verified(_report("matching", "different"), 50.1)
