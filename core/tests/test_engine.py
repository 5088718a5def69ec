"""The engine's own logic, driven through hooks by an in-memory plugin."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from atg_dataplane.engine import Engine
from atg_dataplane.journal import Journal
from atg_dataplane.models import ReplicationMode
from atg_dataplane.testing import ProgressRecorder
from atg_dataplane.verify import VerifyReport, verify_pair
from engine_fixtures import WidgetStore, make_host, pair


def _engine(host, journal, run_id, **kwargs):  # type: ignore[no-untyped-def]
    return Engine(
        host,
        mode=ReplicationMode.REPLICATION,
        journal=journal,
        run_id=run_id,
        options=kwargs.pop("options", {}),
        concurrency=kwargs.pop("concurrency", 8),
        **kwargs,
    )


@pytest.fixture
def store() -> WidgetStore:
    s = WidgetStore()
    src = pair().source.resource.id
    for i in range(30):
        s.data[src][f"w{i:02d}"] = [f"value-{i}-a", f"value-{i}-b", f"value-{i}-c"]
    return s


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "journal.db")


def test_replicates_every_item_and_reports_progress(store: WidgetStore, journal: Journal) -> None:
    host = make_host(store)
    recorder = ProgressRecorder()
    host.register_builtin(recorder, "recorder")
    run = journal.start_run("id", "replication")
    summary = _engine(host, journal, run.run_id).run([pair()])
    assert summary.result.discovered == 30
    assert summary.result.replicated == 30
    assert summary.result.failed == 0
    assert recorder.types[0] == "run_started" and recorder.types[-1] == "run_finished"
    assert len(recorder.of_type("item_done")) == 30
    assert recorder.of_type("resource_discovered")[0].items == 30


def test_per_resource_limit_is_honoured(store: WidgetStore, journal: Journal) -> None:
    store.delay = 0.01
    host = make_host(store)
    run = journal.start_run("id", "replication")
    _engine(host, journal, run.run_id, concurrency=16).run([pair()])
    target = pair().target
    assert target is not None
    assert store.max_active[target.resource.id] <= 2


def test_a_resource_at_its_limit_holds_no_worker_from_the_others(journal: Journal) -> None:
    """A slow resource at its limit (2 at once) must not take the other workers: were each
    of them handed one of its items to wait for a slot, a fast resource's items would
    queue behind it (at tenant scale, every worker ended up waiting on one Cosmos DB
    account while thousands of Key Vault and Storage items stood still)."""
    store = WidgetStore()
    slow, fast = pair("slow", "slow-t"), pair("fast", "fast-t")
    for i in range(8):
        store.data[slow.source.resource.id][f"s{i}"] = [f"slow-{i}"]
        store.slow[f"s{i}"] = 0.3
        store.data[fast.source.resource.id][f"f{i:02d}"] = [f"fast-{i}"]
    host = make_host(store)
    run = journal.start_run("id", "replication")
    summary = _engine(host, journal, run.run_id, concurrency=4).run([slow, fast])
    assert summary.result.replicated == 16, summary.result.errors
    # the fast resource is done while the slow one has written its first pair at most
    last_fast = max(store.written.index(f"f{i:02d}") for i in range(8))
    slow_before = [name for name in store.written[:last_fast] if name.startswith("s")]
    assert len(slow_before) <= 2, store.written
    assert store.max_active[slow.target.resource.id] <= 2  # type: ignore[union-attr]


def test_versions_are_written_in_order(store: WidgetStore, journal: Journal) -> None:
    host = make_host(store)
    run = journal.start_run("id", "replication")
    summary = _engine(host, journal, run.run_id, options={"all_versions": True}).run([pair()])
    assert summary.result.failed == 0, summary.result.errors
    target = pair().target
    assert target is not None
    assert store.data[target.resource.id]["w05"] == ["value-5-a", "value-5-b", "value-5-c"]


def test_rerun_is_a_no_op(store: WidgetStore, journal: Journal) -> None:
    host = make_host(store)
    _engine(host, journal, journal.start_run("id", "replication").run_id).run([pair()])
    writes = store.writes
    again = _engine(host, journal, journal.start_run("id", "replication").run_id).run([pair()])
    assert store.writes == writes
    assert again.result.replicated == 0 and again.result.skipped == 30


def test_failures_are_recorded_per_item_and_the_run_goes_on(
    store: WidgetStore, journal: Journal
) -> None:
    store.fail_names = {"w03", "w07"}
    host = make_host(store)
    run = journal.start_run("id", "replication")
    summary = _engine(host, journal, run.run_id).run([pair()])
    assert summary.result.failed == 2 and summary.result.replicated == 28
    failed = [i for i in journal.items(run.run_id) if i["status"] == "failed"]
    assert {i["name"] for i in failed} == {"w03", "w07"}
    assert "fix it" in failed[0]["reason"]


def test_resume_skips_what_is_done(store: WidgetStore, journal: Journal) -> None:
    host = make_host(store)
    run = journal.start_run("id", "replication")
    engine = _engine(host, journal, run.run_id, concurrency=1)
    seen = threading.Event()
    original = engine._replicate

    def stop_after_ten(*args, **kwargs):  # type: ignore[no-untyped-def]
        original(*args, **kwargs)
        if store.writes >= 10:
            engine.stop.set()
            seen.set()

    engine._replicate = stop_after_ten  # type: ignore[method-assign]
    first = engine.run([pair()])
    assert first.interrupted and seen.is_set()
    written = store.writes
    assert 10 <= written < 30
    resumed = _engine(host, journal, run.run_id).run([pair()])
    assert store.writes == 30
    assert resumed.result.skipped >= 10
    assert resumed.result.replicated == 30 - written


def test_missing_target_is_reported_not_guessed(store: WidgetStore, journal: Journal) -> None:
    host = make_host(store)
    run = journal.start_run("id", "replication")
    summary = _engine(host, journal, run.run_id).run([pair(target_name=None)])
    assert summary.missing_targets == ["no counterpart of w1"]
    assert summary.result.replicated == 0


def test_verify_counts_matching_missing_and_not_copyable(
    store: WidgetStore, journal: Journal
) -> None:
    src = pair().source.resource.id
    store.data[src]["locked-1"] = ["secret"]
    host = make_host(store)
    store.fail_names = {"w01"}
    _engine(host, journal, journal.start_run("id", "replication").run_id).run([pair()])
    target = pair().target
    assert target is not None
    store.data[target.resource.id]["w02"] = ["tampered-longer-value"]
    report = VerifyReport(mode=ReplicationMode.REPLICATION)
    from atg_dataplane.context import Fingerprinter

    verify_pair(
        host,
        pair(),
        mode=ReplicationMode.REPLICATION,
        options={},
        fingerprinter=Fingerprinter(),
        report=report,
    )
    data = report.to_dict()
    assert data["not_copyable"] == 1
    assert data["missing"] == 1  # w01 failed
    assert data["different"] == 1  # w02 tampered
    assert data["matching"] == 28
    assert data["compared"] == 30
    assert data["fidelity"] == pytest.approx(100 * 28 / 30, abs=0.01)
    assert data["by_type"]["Contoso.Widgets/widgets"]["not_copyable"] == 1


def test_a_failed_version_stops_the_later_versions_of_that_name(
    store: WidgetStore, journal: Journal
) -> None:
    store.fail_versions = {("w04", 1)}
    host = make_host(store)
    run = journal.start_run("id", "replication")
    summary = _engine(host, journal, run.run_id, options={"all_versions": True}).run([pair()])
    target = pair().target
    assert target is not None
    assert store.data[target.resource.id]["w04"] == ["value-4-a"]
    failed = {
        (i["item_key"], i["reason"]) for i in journal.items(run.run_id) if i["status"] == "failed"
    }
    assert len(failed) == 2
    assert any("earlier version" in reason for _, reason in failed)
    assert summary.result.replicated == 30 * 3 - 2


def test_one_resource_failing_discovery_does_not_stop_the_others(
    store: WidgetStore, journal: Journal
) -> None:
    store.fail_discovery = {"w0"}
    host = make_host(store)
    other = pair()
    broken = pair("w0", "w0")
    run = journal.start_run("id", "replication")
    summary = _engine(host, journal, run.run_id).run([broken, other])
    assert summary.result.replicated == 30
    assert len(summary.failed_resources) == 1
    assert "discovery of w0 failed" in summary.failed_resources[0]
    assert "SECRETSIG" not in str(summary.to_dict())


def test_summaries_redact_and_bound_plugin_warnings(store: WidgetStore, journal: Journal) -> None:
    import atg_dataplane.engine as engine_module

    store.warning = "copied from https://a/c/b?sv=1&sig=LEAKED"
    host = make_host(store)
    run = journal.start_run("id", "replication")
    engine = _engine(host, journal, run.run_id)
    original = engine_module.MAX_MESSAGES
    engine_module.MAX_MESSAGES = 10
    try:
        summary = engine.run([pair()])
    finally:
        engine_module.MAX_MESSAGES = original
    assert "LEAKED" not in str(summary.to_dict())
    assert len(summary.result.warnings) == 11 and summary.result.warnings[-1].startswith("...")


def test_version_chains_do_not_outlive_their_items(store: WidgetStore, journal: Journal) -> None:
    host = make_host(store)
    run = journal.start_run("id", "replication")
    engine = _engine(host, journal, run.run_id, options={"all_versions": True})
    engine.run([pair()])
    assert engine._chains == {}


def test_verify_counts_the_items_of_a_missing_target_as_missing(
    store: WidgetStore, journal: Journal
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from atg_dataplane.context import Fingerprinter

    host = make_host(store)
    _engine(host, journal, journal.start_run("id", "replication").run_id).run([pair()])
    report = VerifyReport(mode=ReplicationMode.REPLICATION)
    with ThreadPoolExecutor(4) as pool:
        for each in (pair(), pair(target_name=None)):
            verify_pair(
                host,
                each,
                mode=ReplicationMode.REPLICATION,
                options={},
                fingerprinter=Fingerprinter(),
                report=report,
                pool=pool,
            )
    data = report.to_dict()
    assert data["matching"] == 30 and data["missing"] == 30
    assert data["fidelity"] == 50.0
    assert data["missing_targets"] == ["no counterpart of w1"]


def test_a_flat_report_counts_every_verdict_and_lists_only_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from atg_dataplane import verify
    from atg_dataplane.verify import ItemVerdict, VerifyReport

    monkeypatch.setattr(verify, "MAX_LISTED", 3)
    full = VerifyReport(mode=ReplicationMode.REPLICATION)
    flat = VerifyReport(mode=ReplicationMode.REPLICATION, keep_matching=False)
    for report in (full, flat):
        for i in range(50):
            report.add(ItemVerdict("rid", "T/t", "widget", f"m{i}", "matching"))
        for i in range(5):
            report.add(ItemVerdict("rid", "T/t", "widget", f"x{i}", "missing", "gone"))
        report.add(ItemVerdict("rid", "T/t", "lock", "l", "not_copyable", "locked"))
    assert len(full.verdicts) == 56
    assert [v.name for v in flat.verdicts] == ["x0", "x1", "x2"]
    assert flat.unlisted == 3  # two missing items and the not-copyable one
    as_dicts = full.to_dict(), flat.to_dict()
    for key in ("fidelity", "compared", "matching", "missing", "not_copyable", "by_type"):
        assert as_dicts[0][key] == as_dicts[1][key], key
    assert as_dicts[1]["compared"] == 55 and as_dicts[1]["matching"] == 50
    assert as_dicts[1]["items_not_listed"] == 3


def test_an_item_waits_for_the_items_it_names_and_the_others_do_not(
    store: WidgetStore, journal: Journal
) -> None:
    # w28 (a policy, say) needs w00 and w01 (named values), which are slow: everything
    # else goes on meanwhile, and w28 is written after both, w29 after w28.
    store.after = {"w28": ("w00", "w01"), "w29": ("w28",)}
    store.slow = {"w00": 0.3, "w01": 0.2}
    host = make_host(store)
    run = journal.start_run("id", "replication")
    engine = _engine(host, journal, run.run_id)
    summary = engine.run([pair()])
    assert summary.result.replicated == 30 and summary.result.failed == 0
    order = store.written
    assert order.index("w28") > max(order.index("w00"), order.index("w01"))
    assert order.index("w29") > order.index("w28")
    assert order.index("w02") < order.index("w00")  # the independent ones did not wait
    assert engine._in_flight == {}


def test_an_item_whose_prerequisite_failed_fails_naming_it(
    store: WidgetStore, journal: Journal
) -> None:
    store.after = {"w28": ("w00",), "w29": ("w28",)}
    store.fail_names = {"w00"}
    host = make_host(store)
    run = journal.start_run("id", "replication")
    summary = _engine(host, journal, run.run_id).run([pair()])
    assert summary.result.failed == 3 and summary.result.replicated == 27
    reasons = {i["name"]: i["reason"] for i in journal.items(run.run_id) if i["status"] == "failed"}
    assert reasons["w28"] == "needs widget:w00, which failed in this run: fix that and re-run"
    assert "widget:w28" in reasons["w29"]
    # the next run retries the three, in order, once the cause is fixed
    store.fail_names = set()
    again = journal.start_run("id2", "replication")
    summary = _engine(host, journal, again.run_id).run([pair()])
    assert summary.result.replicated == 3 and summary.result.failed == 0
    assert store.written[-3:] == ["w00", "w28", "w29"]


def test_a_finished_resource_lets_go_of_what_its_plugin_kept(
    store: WidgetStore, journal: Journal
) -> None:
    """What a plugin keeps on a binding (a client, a target listing) is built once for all
    of the resource's items and dropped once the last of them settles, not held until
    the run ends: a tenant's thousands of vaults and containers would each keep theirs."""
    from atg_dataplane import hookimpl
    from engine_fixtures import WidgetPlugin

    built: list[str] = []
    kept_while_running: list[bool] = []

    class Caching(WidgetPlugin):
        @hookimpl
        def dataplane_replicate_item(self, item, source, target):  # type: ignore[no-untyped-def]
            target.cached("client", lambda: built.append(target.resource.name) or object())
            kept_while_running.append("client" in target.state)
            return super().dataplane_replicate_item(item, source, target)

    other = "w2"
    store.data[pair(other, other).source.resource.id].update(
        {f"x{i}": [f"v{i}"] for i in range(5)}
    )
    pairs = [pair(), pair(other, other)]
    run = journal.start_run("id", "replication")
    summary = _engine(make_host(store, Caching), journal, run.run_id).run(pairs)
    assert summary.result.replicated == 35 and summary.result.failed == 0
    assert sorted(built) == ["w1", "w2"]  # once per resource, for all its items
    assert all(kept_while_running)
    assert all(p.source.state == {} and p.target.state == {} for p in pairs)


def test_resources_open_at_once_are_bounded(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resource holds its clients and their connections until its last item settles:
    at tenant scale, with every vault and account started as soon as it was listed, the
    run's memory grew with the number of resources. A resource starts only once fewer
    than the bound are open (missing targets and failed discoveries give their place
    back too)."""
    from atg_dataplane import engine as engine_module

    monkeypatch.setattr(engine_module, "OPEN_RESOURCES", 3)
    store = WidgetStore()
    pairs = [pair(f"r{n:02d}", f"r{n:02d}") for n in range(24)]
    pairs.append(pair("orphan", None))
    for p in pairs:
        store.data[p.source.resource.id].update(
            {f"{p.source.resource.name}-{i}": ["v"] for i in range(3)}
        )
        store.slow.update({f"{p.source.resource.name}-{i}": 0.01 for i in range(3)})
    store.fail_discovery.add("r05")
    started: list[str] = []
    most_open = 0

    from atg_dataplane import hookimpl
    from engine_fixtures import WidgetPlugin

    class Watching(WidgetPlugin):
        @hookimpl
        def dataplane_discover(self, resource, options):  # type: ignore[no-untyped-def]
            nonlocal most_open
            with store.lock:
                written = set(store.written)
                # resources started earlier whose items are not all written yet (each is
                # open: an item is written before it settles)
                unfinished = [
                    name
                    for name in started
                    if name != "r05" and any(f"{name}-{i}" not in written for i in range(3))
                ]
                most_open = max(most_open, len(unfinished))
                started.append(resource.resource.name)
            return super().dataplane_discover(resource=resource, options=options)

    run = journal.start_run("id", "replication")
    summary = _engine(make_host(store, Watching), journal, run.run_id, concurrency=1).run(pairs)
    assert summary.result.replicated == 23 * 3, summary.result.errors
    assert len(summary.failed_resources) == 1 and len(summary.missing_targets) == 1
    assert len(started) == 24
    assert most_open <= 2  # the resource starting holds the third place


def test_resources_start_one_of_each_type_in_turn() -> None:
    """Listed type by type, a tenant's hundred vaults would fill the open places while its
    one API gateway waited for all of them."""
    from dataclasses import replace

    from atg_dataplane.engine import in_turn_by_type
    from atg_dataplane.models import ResourceTypeSpec

    def typed(name: str, rtype: str):  # type: ignore[no-untyped-def]
        return replace(
            pair(name, name), spec=ResourceTypeSpec(resource_type=rtype, item_kinds=("x",))
        )

    pairs = [typed(f"kv{i}", "A/vaults") for i in range(4)]
    pairs += [typed("gw", "B/service"), typed("st1", "C/accounts"), typed("st2", "c/Accounts")]
    ordered = [p.source.resource.name for p in in_turn_by_type(pairs)]
    assert ordered == ["kv0", "gw", "st1", "kv1", "st2", "kv2", "kv3"]


def test_discovery_and_items_run_as_their_resource(store: WidgetStore, journal: Journal) -> None:
    """What a resource's discovery and items send is its own (atg_dataplane.http.RESOURCE):
    when it settles, its hosts' connections are closed, on both sides."""
    from atg_dataplane import hookimpl
    from atg_dataplane.http import RESOURCE
    from engine_fixtures import WidgetPlugin

    seen: set[str | None] = set()
    settled: list[tuple[str, str]] = []

    class Watching(WidgetPlugin):
        @hookimpl
        def dataplane_discover(self, resource, options):  # type: ignore[no-untyped-def]
            seen.add(RESOURCE.get())
            return super().dataplane_discover(resource=resource, options=options)

        @hookimpl
        def dataplane_replicate_item(self, item, source, target):  # type: ignore[no-untyped-def]
            seen.add(RESOURCE.get())
            return super().dataplane_replicate_item(item, source, target)

    one = pair()
    for binding in (one.source, one.target):
        binding.context.settled = (  # type: ignore[method-assign]
            lambda rid, side=binding.context.side: settled.append((side, rid))
        )
    run = journal.start_run("id", "replication")
    summary = _engine(make_host(store, Watching), journal, run.run_id).run([one])
    assert summary.result.replicated == 30
    assert seen == {one.source.resource.id}
    rid = one.source.resource.id
    assert sorted(settled) == [("source", rid), ("target", rid)]
    assert RESOURCE.get() is None


def test_values_kept_for_a_run_are_dropped_when_it_ends(
    store: WidgetStore, journal: Journal
) -> None:
    """A runtime may serve a second run: it must not see the first run's listings."""
    host = make_host(store)
    resources = pair()
    resources.source.context.run_cached("listing", lambda: "first run's")
    run = journal.start_run("id", "replication")
    _engine(host, journal, run.run_id).run([resources])
    assert resources.source.context.run_cached("listing", lambda: "afresh") == "afresh"
