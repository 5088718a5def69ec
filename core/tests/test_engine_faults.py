"""The engine under faults: items tried again within bounds, writes of unknown outcome
settled before they are repeated, listings broken off resumed, Ctrl-C answered in time,
and verification that sees what is missing. Driven through hooks by the in-memory plugin
(the engine is the unit under test; the sandbox-backed tests cover the SDK side)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from atg_dataplane.context import Fingerprinter
from atg_dataplane.engine import Engine
from atg_dataplane.journal import Journal
from atg_dataplane.models import ReplicationMode
from atg_dataplane.retry import RetrySettings, is_settling, settling
from atg_dataplane.verify import VerifyReport, verify_pair
from engine_fixtures import ReadingWidgetPlugin, WidgetStore, make_host, pair

FAST = RetrySettings(item_attempts=4, stop_grace_seconds=0.5)


class _QuickEngine(Engine):
    """Waits between an item's attempts are not what these tests are about."""


def _engine(host, journal, run_id, retry=FAST, **options):  # type: ignore[no-untyped-def]
    engine = _QuickEngine(
        host,
        mode=ReplicationMode.REPLICATION,
        journal=journal,
        run_id=run_id,
        options=options,
        concurrency=4,
        retry=retry,
    )
    return engine


@pytest.fixture(autouse=True)
def no_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RetrySettings, "item_delay", lambda self, attempt, error=None: 0.01)


@pytest.fixture
def store() -> WidgetStore:
    s = WidgetStore()
    src = pair().source.resource.id
    for i in range(10):
        s.data[src][f"w{i}"] = [f"value-{i}-a", f"value-{i}-b"]
    return s


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "journal.db")


def _target(store: WidgetStore) -> dict[str, list[str]]:
    target = pair().target
    assert target is not None
    return store.data[target.resource.id]


def _attempts(journal: Journal, run_id: str) -> dict[str, int]:
    return {i["name"]: i["attempts"] for i in journal.items(run_id)}


def test_a_lost_answer_is_settled_not_written_twice(store: WidgetStore, journal: Journal) -> None:
    store.lose_answers = {"w1": 1, "w2": 2, "w3": 1}
    run = journal.start_run("id", "replication")
    summary = _engine(make_host(store), journal, run.run_id, all_versions=True).run([pair()])
    assert summary.result.failed == 0
    target = _target(store)
    for i in range(10):  # every version exactly once, in order
        assert target[f"w{i}"] == [f"value-{i}-a", f"value-{i}-b"]
    assert store.writes == 20
    # The attempts after a lost answer ran settling (they read the target first).
    assert ("w2", True) in store.settling and ("w5", True) not in store.settling
    attempts = _attempts(journal, run.run_id)
    assert attempts["w2"] >= 2 and attempts["w5"] == 1


def test_refusals_are_retried_within_the_item_budget(store: WidgetStore, journal: Journal) -> None:
    store.refuse = {"w4": 3}
    run = journal.start_run("id", "replication")
    summary = _engine(make_host(store), journal, run.run_id).run([pair()])
    assert summary.result.failed == 0 and _target(store)["w4"] == ["value-4-b"]
    assert _attempts(journal, run.run_id)["w4"] == 4


def test_an_item_that_keeps_failing_fails_with_its_count(
    store: WidgetStore, journal: Journal
) -> None:
    store.refuse = {"w4": 100}
    run = journal.start_run("id", "replication")
    summary = _engine(make_host(store), journal, run.run_id).run([pair()])
    assert summary.result.failed == 1 and summary.result.replicated == 9
    failed = [i for i in journal.items(run.run_id) if i["status"] == "failed"]
    assert failed[0]["name"] == "w4" and "after 4 attempts" in failed[0]["reason"]
    assert failed[0]["attempts"] == 4
    # The next run completes it: the journal does not count it done.
    store.refuse = {}
    again = _engine(make_host(store), journal, run.run_id).run([pair()])
    assert again.result.failed == 0 and _target(store)["w4"] == ["value-4-b"]


def test_permanent_errors_are_not_retried(store: WidgetStore, journal: Journal) -> None:
    store.fail_names = {"w6"}
    run = journal.start_run("id", "replication")
    _engine(make_host(store), journal, run.run_id).run([pair()])
    assert [n for n, _ in store.settling].count("w6") == 1


def test_item_time_budget_bounds_the_attempts(store: WidgetStore, journal: Journal) -> None:
    store.refuse = {"w4": 100}
    run = journal.start_run("id", "replication")
    tight = RetrySettings(item_attempts=50, item_seconds=0.2)
    started = time.monotonic()
    summary = _engine(make_host(store), journal, run.run_id, retry=tight).run([pair()])
    assert summary.result.failed == 1
    assert time.monotonic() - started < 5


def test_a_listing_broken_off_is_listed_again_without_duplicates(
    store: WidgetStore, journal: Journal
) -> None:
    store.flaky_discovery = {"w1": 2}
    run = journal.start_run("id", "replication")
    summary = _engine(make_host(store), journal, run.run_id).run([pair()])
    assert summary.result.discovered == 10 and summary.result.replicated == 10
    assert not summary.failed_resources
    assert sorted(n for n, _ in store.settling) == sorted(f"w{i}" for i in range(10))


def test_a_listing_that_keeps_breaking_fails_the_resource(
    store: WidgetStore, journal: Journal
) -> None:
    store.flaky_discovery = {"w1": 100}
    run = journal.start_run("id", "replication")
    summary = _engine(make_host(store), journal, run.run_id).run([pair()])
    assert len(summary.failed_resources) == 1
    assert "listing broken off" in summary.failed_resources[0]


def test_ctrl_c_returns_within_the_grace_even_when_items_hang(
    store: WidgetStore, journal: Journal
) -> None:
    store.delay = 3.0  # every item "hangs" for 3 s
    engine = _engine(make_host(store), journal, journal.start_run("id", "replication").run_id)
    # A real SIGINT, as Ctrl-C sends: it interrupts the main thread's waits at once.
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        engine.run([pair()])
    elapsed = time.monotonic() - started
    assert elapsed < 0.3 + FAST.stop_grace_seconds + 1.0
    assert engine.abandoned and engine.summary.interrupted
    # The sides' retry waits were told to stop.
    assert len(engine._contexts) == 2
    assert all(context.stop.is_set() for context in engine._contexts.values())


def test_settling_is_scoped_to_the_block() -> None:
    assert not is_settling()
    with settling():
        assert is_settling()
        with settling(False):
            assert not is_settling()
        assert is_settling()
    assert not is_settling()


def _verify(store: WidgetStore, **options: object) -> VerifyReport:
    report = VerifyReport(mode=ReplicationMode.REPLICATION)
    verify_pair(
        make_host(store),
        pair(),
        mode=ReplicationMode.REPLICATION,
        options=options,
        fingerprinter=Fingerprinter(),
        report=report,
    )
    return report


def test_verify_looks_for_recreated_items_in_the_target(
    store: WidgetStore, journal: Journal
) -> None:
    src = pair().source.resource.id
    store.data[src]["locked-key"] = ["material"]
    store.data[src]["locked-other"] = ["material"]
    store.recreated = True
    _engine(make_host(store), journal, journal.start_run("id", "replication").run_id).run(
        [pair()]
    )
    target = _target(store)
    del target["locked-key"]  # the recreated key went missing
    target["locked-other"] = ["longer material"]  # recreated with other parameters
    report = _verify(store)
    verdicts = {v.name: v for v in report.verdicts if v.status != "matching"}
    assert verdicts["locked-key"].status == "missing"
    assert verdicts["locked-other"].status == "different"
    assert report.fidelity < 100.0
    # Without the flag, not copyable items are only counted apart.
    store.recreated = False
    report = _verify(store)
    assert report.count("not_copyable") == 2 and report.fidelity == 100.0


def test_verify_counts_extra_target_versions_as_different(
    store: WidgetStore, journal: Journal
) -> None:
    _engine(
        make_host(store), journal, journal.start_run("id", "replication").run_id, all_versions=True
    ).run([pair()])
    _target(store)["w3"].append("value-3-b")  # a duplicate version, as a blind retry leaves
    report = _verify(store, all_versions=True)
    different = [v for v in report.verdicts if v.status == "different"]
    assert [(v.name, "#3" in v.detail) for v in different] == [("w3", True)]
    assert report.extra_in_target == 0


def test_an_unreadable_object_is_different_and_the_rest_is_compared(
    store: WidgetStore, journal: Journal
) -> None:
    host = make_host(store, ReadingWidgetPlugin)
    _engine(host, journal, journal.start_run("id", "replication").run_id).run([pair()])
    store.unreadable = {"w2", "w7"}
    report = VerifyReport(mode=ReplicationMode.REPLICATION)
    verify_pair(
        host,
        pair(),
        mode=ReplicationMode.REPLICATION,
        options={},
        fingerprinter=Fingerprinter(),
        report=report,
    )
    different = {v.name: v.detail for v in report.verdicts if v.status == "different"}
    assert set(different) == {"w2", "w7"}
    assert all("could not be read in the target" in d and "409" in d for d in different.values())
    assert report.count("matching") == 8


def test_recreated_items_of_a_missing_target_resource_are_missing(store: WidgetStore) -> None:
    src = pair().source.resource.id
    store.data[src]["locked-key"] = ["material"]
    store.data[src]["locked-note"] = ["material"]
    store.recreated = True
    report = VerifyReport(mode=ReplicationMode.REPLICATION)
    verify_pair(
        make_host(store),
        pair(target_name=None),
        mode=ReplicationMode.REPLICATION,
        options={},
        fingerprinter=Fingerprinter(),
        report=report,
    )
    assert report.count("missing") == 12 and report.count("not_copyable") == 0
