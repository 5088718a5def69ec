"""The plugin author kit: conformance suite, pytest fixtures, progress recorder."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import importlib_metadata
import pytest
from atg_dataplane.models import ProgressEvent
from atg_dataplane.plugins import PluginHost, load_plugins
from atg_dataplane.testing import PluginConformance, ProgressRecorder, pytest_plugin
from atg_dataplane_unit_samples import sample_ep

EntryPoints = list[importlib_metadata.EntryPoint]


@pytest.fixture
def visible(monkeypatch: pytest.MonkeyPatch) -> Callable[[EntryPoints], None]:
    """What the kit's fixtures see as installed (they read the entry-point group)."""

    def set_visible(eps: EntryPoints) -> None:
        def entry_points(*, group: str) -> EntryPoints:
            return [ep for ep in eps if ep.group == group]

        monkeypatch.setattr(
            pytest_plugin, "importlib_metadata", SimpleNamespace(entry_points=entry_points)
        )

    return set_visible


class TestSampleConformsThroughTheFixtures(PluginConformance):
    """The suite exactly as a plugin package runs it, against a sample plugin."""

    entry_point_name = "alpha"
    distribution = "atg-dataplane-sample-alpha"
    # needs the sandbox and real Azure-shaped resources: the plugin packages run it
    test_replication_rerun_is_a_no_op = None  # type: ignore[assignment]

    @pytest.fixture(autouse=True)
    def _installed(self, make_dist, visible) -> None:  # type: ignore[no-untyped-def]
        eps = make_dist("atg-dataplane-sample-alpha", "1.0.0", {"alpha": "good", "beta": "beta"})
        visible(eps)

    def test_host_holds_only_the_plugin_under_test(self, dataplane_host: PluginHost) -> None:
        assert [r.name for r in dataplane_host.records] == ["alpha"]

    def test_progress_recorder_is_registered(
        self, dataplane_host: PluginHost, progress_recorder: ProgressRecorder
    ) -> None:
        dataplane_host.hook.dataplane_progress(event=ProgressEvent(type="run_started"))
        dataplane_host.hook.dataplane_progress(event=ProgressEvent(type="item_done"))
        assert progress_recorder.types == ["run_started", "item_done"]
        assert len(progress_recorder.of_type("item_done")) == 1


class TestToolPluginConforms(PluginConformance):
    """A plugin serving no type passes; type-specific checks are skipped."""

    entry_point_name = "tool"
    test_replication_rerun_is_a_no_op = None  # type: ignore[assignment]

    @pytest.fixture(autouse=True)
    def _installed(self, make_dist, visible) -> None:  # type: ignore[no-untyped-def]
        visible(make_dist("atg-dataplane-sample-tool", "0.1", {"tool": "tool"}))


def _host(*eps: importlib_metadata.EntryPoint) -> PluginHost:
    return load_plugins(entry_points=list(eps), strict=False)


def test_suite_catches_one_sided_permissions_and_duplicate_kinds() -> None:
    suite = PluginConformance()
    suite.entry_point_name = "one"  # type: ignore[misc]
    host = _host(sample_ep("one", "one_sided"))
    with pytest.raises(AssertionError, match="duplicate item kinds"):
        suite.test_descriptors_valid(host)
    with pytest.raises(AssertionError, match="must cover both sides"):
        suite.test_permissions_declared_for_both_modes(host)


def test_suite_catches_a_plugin_that_did_not_load() -> None:
    suite = PluginConformance()
    suite.entry_point_name = "bad"  # type: ignore[misc]
    host = _host(sample_ep("bad", "broken"))
    with pytest.raises(AssertionError, match="did not load"):
        suite.test_entry_point_discoverable_and_owned(host)
    missing = PluginConformance()
    missing.entry_point_name = "absent"  # type: ignore[misc]
    with pytest.raises(AssertionError, match="was not found"):
        missing.test_entry_point_discoverable_and_owned(host)


def test_suite_catches_the_wrong_owner_and_a_missing_version(make_dist) -> None:  # type: ignore[no-untyped-def]
    suite = PluginConformance()
    suite.entry_point_name = "alpha"  # type: ignore[misc]
    suite.distribution = "atg-dataplane-other"  # type: ignore[misc]
    host = _host(*make_dist("atg-dataplane-sample", "1.0", {"alpha": "good"}))
    with pytest.raises(AssertionError, match="belongs to 'atg-dataplane-sample'"):
        suite.test_entry_point_discoverable_and_owned(host)
    suite.distribution = ""  # type: ignore[misc]
    with pytest.raises(AssertionError, match="no version"):
        suite.test_entry_point_discoverable_and_owned(_host(sample_ep("alpha", "good")))


def test_load_single_plugin(visible, make_dist) -> None:  # type: ignore[no-untyped-def]
    visible(make_dist("atg-dataplane-sample", "1.0", {"alpha": "good", "beta": "beta"}))
    host = pytest_plugin.load_single_plugin("beta")
    assert [r.name for r in host.records] == ["beta"]
    with pytest.raises(pytest.fail.Exception, match=r"no entry point 'gamma'.*\['alpha', 'beta'\]"):
        pytest_plugin.load_single_plugin("gamma")


def test_load_single_plugin_ignores_the_env_lists(
    visible,
    make_dist,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    visible(make_dist("atg-dataplane-sample", "1.0", {"alpha": "good"}))
    monkeypatch.setenv("ATG_DATAPLANE_DISABLE_PLUGINS", "alpha")
    monkeypatch.setenv("ATG_DATAPLANE_STRICT_PLUGINS", "1")
    assert pytest_plugin.load_single_plugin("alpha").record("alpha").status == "loaded"  # type: ignore[union-attr]


def test_recorder_is_thread_safe_and_typed() -> None:
    import threading

    recorder = ProgressRecorder()
    threads = [
        threading.Thread(
            target=lambda: [
                recorder.dataplane_progress(ProgressEvent(type="item_done")) for _ in range(100)
            ]
        )
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(recorder.events) == 400
    assert recorder.of_type("item_failed") == []
