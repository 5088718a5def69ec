"""The conformance suite every plugin package's tests subclass."""

from __future__ import annotations

from typing import ClassVar

import pytest

from atg_dataplane.models import Permission, ReplicationMode, ResourceTypeSpec
from atg_dataplane.plugins import HOOK_NAMES, PluginHost, unknown_hooks


class PluginConformance:
    """Checks that hold for every plugin. Subclass it and set the class attributes.

    ``entry_point_name`` (required) and ``distribution`` (the distribution
    that must own the entry point). Sandbox-backed checks (re-running a
    replication is a no-op) live in the engine's conformance mixin.
    """

    entry_point_name: ClassVar[str] = ""
    distribution: ClassVar[str] = ""

    def _record(self, host: PluginHost):  # type: ignore[no-untyped-def]
        record = host.record(self.entry_point_name)
        assert record is not None, f"entry point {self.entry_point_name!r} was not found"
        return record

    def test_entry_point_discoverable_and_owned(self, dataplane_host: PluginHost) -> None:
        record = self._record(dataplane_host)
        assert record.status == "loaded", f"{record.name} did not load: {record.error}"
        if self.distribution:
            assert record.distribution.lower().replace("_", "-") == self.distribution.lower(), (
                f"entry point {record.name!r} belongs to {record.distribution!r}, "
                f"not {self.distribution!r}"
            )
        assert record.version, "the owning distribution has no version"

    def test_no_unknown_hooks(self, dataplane_host: PluginHost) -> None:
        plugin = dataplane_host.pm.get_plugin(self.entry_point_name)
        assert plugin is not None
        assert unknown_hooks(dataplane_host.pm, plugin) == []
        record = self._record(dataplane_host)
        assert set(record.hooks) <= HOOK_NAMES

    def _specs(self, host: PluginHost) -> list[ResourceTypeSpec]:
        return [spec for owner, spec in host.types.values() if owner == self.entry_point_name]

    def test_descriptors_valid(self, dataplane_host: PluginHost) -> None:
        specs = self._specs(dataplane_host)
        record = self._record(dataplane_host)
        assert not dataplane_host.conflicts, dataplane_host.conflicts
        if not specs:
            assert "dataplane_resource_types" not in record.hooks
            pytest.skip("this plugin serves no resource type (a tool plugin)")
        for spec in specs:
            assert isinstance(spec, ResourceTypeSpec)
            assert len(set(spec.item_kinds)) == len(spec.item_kinds), "duplicate item kinds"
            assert spec.modes, "no supported mode"

    def test_permissions_declared_for_both_modes(self, dataplane_host: PluginHost) -> None:
        specs = self._specs(dataplane_host)
        if not specs:
            pytest.skip("this plugin serves no resource type")
        for spec in specs:
            hook = dataplane_host.hook_for(spec.resource_type, "dataplane_permissions")
            for mode in ReplicationMode:
                answers = hook(resource_type=spec.resource_type, mode=mode, options={})
                perms = [p for answer in answers for p in (answer or ())]
                if mode not in spec.modes:
                    continue
                assert perms, f"{spec.resource_type}: no permissions declared for {mode}"
                assert all(isinstance(p, Permission) for p in perms)
                sides = {p.side for p in perms}
                assert sides == {"source", "target"}, (
                    f"{spec.resource_type} {mode}: permissions must cover both sides, got {sides}"
                )
                for perm in perms:
                    assert perm.actions or perm.data_actions, f"empty permission {perm}"

    def test_replication_rerun_is_a_no_op(
        self, request: pytest.FixtureRequest, dataplane_host: PluginHost
    ) -> None:
        """Against the sandbox: template, then replication, then replication again
        writes nothing the second time."""
        specs = self._specs(dataplane_host)
        if not specs:
            pytest.skip("this plugin serves no resource type")
        try:
            sandbox = request.getfixturevalue("sandbox")
        except pytest.FixtureLookupError:
            pytest.skip("atg-dataplane-sandbox is not installed")
        from atg_dataplane import api
        from atg_dataplane.config import load_config, with_overrides
        from atg_dataplane.runtime import open_runtime

        sandbox.seed("reference")
        config = with_overrides(
            load_config(sandbox.config_path), types=tuple(s.resource_type for s in specs)
        )
        from atg_dataplane.testing.recorder import ProgressRecorder

        recorder = ProgressRecorder()
        dataplane_host.register_builtin(recorder, "conformance-recorder")
        runtime = open_runtime(dataplane_host, config)
        try:
            if not any(True for _ in runtime.pairs()):
                pytest.skip("the sandbox's reference scenario has no resource of this type")
            modes = [m for m in ReplicationMode if all(m in s.modes for s in specs)]
            for mode in modes:
                api.replicate(runtime, mode, permission_check=False)
            last = modes[-1]
            again = api.replicate(runtime, last, permission_check=False).summary
        finally:
            runtime.close()
        assert again.result.replicated == 0, (
            f"re-running {last} wrote {again.result.replicated} items: {again.result.warnings[:5]}"
        )
        assert not again.missing_targets, again.missing_targets
        # every item reported its outcome to the progress hooks
        assert recorder.types.count("run_started") == recorder.types.count("run_finished") > 0
        item_events = [e for e in recorder.events if e.type.startswith("item_") and e.item_name]
        assert len(item_events) >= again.result.discovered > 0
