"""The plugin loader's logic, with EntryPoint objects (fast; the wheel proof is elsewhere)."""

from __future__ import annotations

import importlib_metadata
import pytest
from atg_dataplane import ProgressEvent, ReplicationMode, hookimpl
from atg_dataplane.plugins import (
    HOOK_NAMES,
    PluginLoadError,
    PluginRecord,
    load_plugins,
    new_plugin_manager,
    unknown_hooks,
)
from atg_dataplane_unit_samples import GROUP, sample_ep

TEMPLATE = ReplicationMode.TEMPLATE
DISCOVER_ARGS = {"resource": "r", "mode": TEMPLATE, "options": {}, "fingerprinter": None}


def statuses(host) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {r.name: r.status for r in host.records}


def test_hook_names_are_the_specs() -> None:
    assert {
        "dataplane_resource_types",
        "dataplane_permissions",
        "dataplane_discover",
        "dataplane_replicate_item",
        "dataplane_fingerprint",
        "dataplane_progress",
        "dataplane_register_commands",
        "dataplane_terraform",
    } <= HOOK_NAMES
    assert all(name.startswith("dataplane_") for name in HOOK_NAMES)


def test_good_plugin_is_loaded_and_indexed() -> None:
    host = load_plugins(entry_points=[sample_ep("alpha", "good")])
    (record,) = host.records
    assert record.status == "loaded" and record.error == ""
    assert record.value == "atg_dataplane_unit_samples.good"
    assert record.resource_types == ["Contoso.Alpha/things"]
    assert record.modes == ["replication", "template"]
    assert record.hooks == sorted(
        [
            "dataplane_discover",
            "dataplane_permissions",
            "dataplane_register_commands",
            "dataplane_replicate_item",
            "dataplane_resource_types",
        ]
    )
    assert record.distribution == "" and record.version == ""  # a bare EntryPoint
    owner, spec = host.owner("CONTOSO.ALPHA/THINGS")  # type: ignore[misc]
    assert owner == "alpha" and spec.item_kinds == ("thing",)
    assert host.record("alpha") is record
    assert host.record("nope") is None
    assert host.pm.get_plugin("alpha") is not None


def test_distribution_name_and_version_come_from_the_dist(make_dist) -> None:  # type: ignore[no-untyped-def]
    eps = make_dist("atg-dataplane-sample", "3.1.4", {"alpha": "good"})
    host = load_plugins(entry_points=eps)
    (record,) = host.records
    assert (record.distribution, record.version) == ("atg-dataplane-sample", "3.1.4")
    data = record.to_dict()
    assert set(data) >= {"name", "distribution", "version", "resource_types", "status", "error"}
    assert data["error"] is None


def test_record_to_dict_reports_errors() -> None:
    record = PluginRecord(name="x", distribution="d", version="1", value="m", status="failed")
    record.error = "boom"
    assert record.to_dict()["error"] == "boom"
    assert record.to_dict()["status"] == "failed"


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("broken", "import failed: RuntimeError: sample plugin fails at import"),
        ("exits", "import failed: SystemExit: sample plugin calls sys.exit at import"),
        ("does_not_exist", "import failed: ModuleNotFoundError"),
    ],
)
def test_import_failure_is_recorded_and_others_still_load(module: str, expected: str) -> None:
    host = load_plugins(entry_points=[sample_ep("bad", module), sample_ep("alpha", "good")])
    assert statuses(host) == {"alpha": "loaded", "bad": "failed"}
    assert host.record("bad").error.startswith(expected)  # type: ignore[union-attr]
    assert host.pm.get_plugin("bad") is None
    assert host.owner("Contoso.Alpha/things") is not None


def test_keyboard_interrupt_at_import_is_not_swallowed() -> None:
    with pytest.raises(KeyboardInterrupt):
        load_plugins(entry_points=[sample_ep("ctrl_c", "interrupts")])


def test_unknown_hooks_are_refused_naming_them() -> None:
    eps = [sample_ep("unknown", "unknown_hook"), sample_ep("alpha", "good")]
    host = load_plugins(entry_points=eps)
    record = host.record("unknown")
    assert record is not None and record.status == "failed"
    assert record.error == (
        "implements hooks with no specification: dataplane_also_not_a_hook, dataplane_not_a_hook"
    )
    assert host.pm.get_plugin("unknown") is None
    assert host.owner("Contoso.Unknown/hooks") is None
    assert statuses(host)["alpha"] == "loaded"


def test_unknown_hooks_scan_ignores_properties_and_non_hooks() -> None:
    host = load_plugins(entry_points=[sample_ep("instance", "instance", "plugin")])
    assert statuses(host) == {"instance": "loaded"}
    assert host.record("instance").hooks == ["dataplane_progress"]  # type: ignore[union-attr]

    class Sneaky:
        @hookimpl
        def dataplane_progress(self, event: object) -> None: ...

        @hookimpl
        def dataplane_typo(self) -> None: ...

        not_a_hook = 3

    assert unknown_hooks(new_plugin_manager(), Sneaky()) == ["dataplane_typo"]


def test_invalid_hook_signature_is_refused_by_the_plugin_manager() -> None:
    host = load_plugins(entry_points=[sample_ep("wrong", "wrong_args")])
    record = host.record("wrong")
    assert record is not None and record.status == "failed"
    assert record.error.startswith("refused by the plugin manager")
    assert "no_such_argument" in record.error
    assert host.pm.get_plugin("wrong") is None


def test_same_module_under_two_names_is_refused() -> None:
    host = load_plugins(entry_points=[sample_ep("one", "tool"), sample_ep("two", "tool")])
    assert statuses(host) == {"one": "loaded", "two": "failed"}
    assert "refused by the plugin manager" in host.record("two").error  # type: ignore[union-attr]


def test_duplicate_entry_point_names_are_reported(make_dist) -> None:  # type: ignore[no-untyped-def]
    first = make_dist("dist-one", "1.0", {"alpha": "good"})
    second = make_dist("dist-two", "2.0", {"alpha": "tool"})
    host = load_plugins(entry_points=first + second)
    assert [r.status for r in host.records] == ["loaded", "failed"]
    error = host.records[1].error
    assert "entry point name 'alpha' is already used by distribution 'dist-one'" in error
    assert "must be unique" in error
    with pytest.raises(PluginLoadError, match="dist-two"):
        load_plugins(entry_points=first + second, strict=True)


@pytest.mark.parametrize(
    ("module", "message"),
    [
        ("bad_types", "returned str, expected ResourceTypeSpec"),
        ("raising_types", "dataplane_resource_types failed: cannot say which types"),
        ("twice", "declares resource type more than once: Contoso.Twice/x"),
    ],
)
def test_bad_resource_type_declarations_fail_the_plugin(module: str, message: str) -> None:
    host = load_plugins(entry_points=[sample_ep("bad", module), sample_ep("alpha", "good")])
    record = host.record("bad")
    assert record is not None and record.status == "failed"
    assert message in record.error
    assert host.pm.get_plugin("bad") is None
    assert list(host.types) == ["contoso.alpha/things"]


def test_two_plugins_claiming_one_type_conflict_naming_both(make_dist) -> None:  # type: ignore[no-untyped-def]
    eps = (
        make_dist("atg-dataplane-alpha", "1.0", {"alpha": "good"})
        + make_dist("atg-dataplane-clash", "1.0", {"clash": "clash"})
        + make_dist("atg-dataplane-beta", "1.0", {"beta": "beta"})
    )
    host = load_plugins(entry_points=eps)
    assert statuses(host) == {"alpha": "conflict", "beta": "loaded", "clash": "conflict"}
    (conflict,) = host.conflicts
    assert conflict == (
        "resource type Contoso.Alpha/things is claimed by alpha (atg-dataplane-alpha) "
        "and clash (atg-dataplane-clash)"
    )
    assert host.record("alpha").error == conflict  # type: ignore[union-attr]
    assert host.record("clash").error == conflict  # type: ignore[union-attr]

    with pytest.raises(PluginLoadError, match="claimed by alpha"):
        host.hook_for("contoso.alpha/things", "dataplane_discover")
    # the conflicted plugin's other type is not half-served
    with pytest.raises(PluginLoadError, match="clash is not loaded"):
        host.hook_for("Contoso.Clash/only", "dataplane_discover")
    # ... and its hooks are never called for another plugin's resources
    assert host.pm.get_plugin("clash") is None and host.pm.get_plugin("alpha") is None
    discover = host.hook_for("Contoso.Beta/widgets", "dataplane_discover")
    assert [i.name for i in discover(**DISCOVER_ARGS)] == ["b"]

    with pytest.raises(PluginLoadError, match="atg-dataplane-clash"):
        load_plugins(entry_points=eps, strict=True)
    resolved = load_plugins(entry_points=eps, disabled=["clash"], strict=True)
    assert statuses(resolved)["alpha"] == "loaded"
    assert resolved.conflicts == []


def test_hook_for_routes_to_the_owner_plus_typeless_plugins() -> None:
    host = load_plugins(
        entry_points=[sample_ep("alpha", "good"), sample_ep("beta"), sample_ep("tool")]
    )
    permissions = host.hook_for("Contoso.Alpha/things", "dataplane_permissions")
    answers = permissions(resource_type="Contoso.Alpha/things", mode=TEMPLATE, options={})
    actions = sorted(a for answer in answers for p in answer for a in p.actions + p.data_actions)
    assert actions == [
        "Contoso.Alpha/things/read",
        "Contoso.Alpha/things/write",
        "Policy/extra/read",
    ]
    assert host.hook_for("Contoso.Alpha/things", "dataplane_permissions") is permissions

    discover = host.hook_for("contoso.beta/gadgets", "dataplane_discover")
    assert [i.name for i in discover(**DISCOVER_ARGS)] == ["b"]
    with pytest.raises(PluginLoadError, match=r"no installed plugin serves resource type A\.B/c"):
        host.hook_for("A.B/c", "dataplane_discover")


def test_builtin_plugins_register_once() -> None:
    host = load_plugins(entry_points=[])
    assert host.records == []

    class Listener:
        def __init__(self) -> None:
            self.events: list[ProgressEvent] = []

        @hookimpl
        def dataplane_progress(self, event: ProgressEvent) -> None:
            self.events.append(event)

    listener = Listener()
    host.register_builtin(listener, "listener")
    host.register_builtin(Listener(), "listener")
    host.hook.dataplane_progress(event=ProgressEvent(type="run_started"))
    assert [e.type for e in listener.events] == ["run_started"]


def test_disabled_argument_and_deny_env(monkeypatch: pytest.MonkeyPatch) -> None:
    eps = [sample_ep("alpha", "good"), sample_ep("beta", "beta"), sample_ep("broken", "broken")]
    host = load_plugins(entry_points=eps, disabled=["broken"], strict=True)
    assert statuses(host) == {"alpha": "loaded", "beta": "loaded", "broken": "disabled"}
    assert host.record("broken").error == ""  # type: ignore[union-attr]

    monkeypatch.setenv("ATG_DATAPLANE_DISABLE_PLUGINS", " broken , beta,")
    host = load_plugins(entry_points=eps, strict=True)
    assert statuses(host) == {"alpha": "loaded", "beta": "disabled", "broken": "disabled"}


def test_allow_env_loads_only_the_named(monkeypatch: pytest.MonkeyPatch) -> None:
    eps = [sample_ep("alpha", "good"), sample_ep("beta", "beta"), sample_ep("broken", "broken")]
    monkeypatch.setenv("ATG_DATAPLANE_PLUGINS", "beta")
    host = load_plugins(entry_points=eps, strict=True)
    assert statuses(host) == {"alpha": "disabled", "beta": "loaded", "broken": "disabled"}
    # deny wins over allow
    monkeypatch.setenv("ATG_DATAPLANE_DISABLE_PLUGINS", "beta")
    assert statuses(load_plugins(entry_points=eps))["beta"] == "disabled"
    # the conformance fixtures can ignore both lists
    host = load_plugins(entry_points=eps[:2], use_env_lists=False)
    assert statuses(host) == {"alpha": "loaded", "beta": "loaded"}


@pytest.mark.parametrize("value", ["1", "true", "YES", "on"])
def test_strict_env_makes_load_errors_fatal(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("ATG_DATAPLANE_STRICT_PLUGINS", value)
    eps = [sample_ep("alpha", "good"), sample_ep("broken", "broken")]
    with pytest.raises(PluginLoadError) as info:
        load_plugins(entry_points=eps)
    assert "plugin load failed in strict mode: broken" in str(info.value)
    assert "RuntimeError" in str(info.value)
    # an explicit argument wins over the environment
    assert statuses(load_plugins(entry_points=eps, strict=False))["broken"] == "failed"


def test_strict_env_off_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATG_DATAPLANE_STRICT_PLUGINS", "0")
    host = load_plugins(entry_points=[sample_ep("broken", "broken")])
    assert statuses(host) == {"broken": "failed"}


def test_trace_env_logs_hook_calls(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ATG_DATAPLANE_TRACE_HOOKS", "1")
    host = load_plugins(entry_points=[sample_ep("tool", "tool")])
    host.hook.dataplane_progress(event=ProgressEvent(type="run_finished"))
    assert "dataplane_progress" in capsys.readouterr().err


def test_default_entry_points_come_from_the_installed_group(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Whatever is installed where the tests run is listed, and nothing is
    # imported when the allow-list names no installed plugin.
    installed = {ep.name for ep in importlib_metadata.entry_points(group=GROUP)}
    monkeypatch.setenv("ATG_DATAPLANE_PLUGINS", "no-such-plugin-anywhere")
    host = load_plugins()
    assert {r.name for r in host.records} == installed
    assert all(r.status == "disabled" for r in host.records)
