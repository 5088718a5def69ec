"""Loading plugins from the ``atg_dataplane`` entry-point group.

Each entry point is loaded on its own: one that fails to import, implements a
hook with no specification or fails pluggy's validation is recorded in the
load report and skipped, and every other plugin keeps working. We never call
``load_setuptools_entrypoints``: one broken plugin would break every command.

Environment:

* ``ATG_DATAPLANE_PLUGINS``: comma-separated allow-list of entry point names.
* ``ATG_DATAPLANE_DISABLE_PLUGINS``: comma-separated deny-list.
* ``ATG_DATAPLANE_STRICT_PLUGINS=1``: any load error is fatal (for CI), including a
  module a plugin deferred (``atg_dataplane.deferred``) that cannot be imported.
* ``ATG_DATAPLANE_TRACE_HOOKS=1``: log every hook call and result to stderr.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import importlib_metadata
import pluggy

from atg_dataplane import hookspecs
from atg_dataplane.deferred import import_deferred
from atg_dataplane.models import ResourceTypeSpec
from atg_dataplane.redact import redact

ENTRY_POINT_GROUP = "atg_dataplane"
ENV_ALLOW = "ATG_DATAPLANE_PLUGINS"
ENV_DENY = "ATG_DATAPLANE_DISABLE_PLUGINS"
ENV_STRICT = "ATG_DATAPLANE_STRICT_PLUGINS"
ENV_TRACE = "ATG_DATAPLANE_TRACE_HOOKS"

HOOK_NAMES = frozenset(name for name in dir(hookspecs) if name.startswith("dataplane_"))


class PluginLoadError(RuntimeError):
    """Raised in strict mode, or when resource types conflict and a run needs them."""


class PluginSelectionError(PluginLoadError):
    """An allow-list, deny-list or ``--disable`` that names no installed plugin (a typo
    would otherwise copy nothing, or everything, without a word): bad input."""


@dataclass
class PluginRecord:
    """One line of the load report (what ``atg-dataplane plugins`` prints)."""

    name: str
    distribution: str
    version: str
    value: str
    status: str = "loaded"
    """``loaded``, ``failed``, ``disabled`` or ``conflict``."""
    error: str = ""
    resource_types: list[str] = field(default_factory=list)
    modes: list[str] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "value": self.value,
            "resource_types": self.resource_types,
            "modes": self.modes,
            "hooks": self.hooks,
            "status": self.status,
            "error": self.error or None,
        }


def _env_list(name: str) -> set[str]:
    return {part.strip() for part in os.environ.get(name, "").split(",") if part.strip()}


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def strict_mode() -> bool:
    """Whether ``ATG_DATAPLANE_STRICT_PLUGINS`` makes every plugin error fatal."""
    return _truthy(ENV_STRICT)


def new_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    if _truthy(ENV_TRACE):
        # Hook arguments are printed: redact them like any log line.
        pm.trace.root.setwriter(lambda msg: print(redact(msg), end="", file=sys.stderr))
        pm.enable_tracing()
    return pm


def unknown_hooks(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    """Names of hook implementations in ``plugin`` that have no specification."""
    unknown = []
    for attr in dir(plugin):
        try:
            opts = pm.parse_hookimpl_opts(plugin, attr)
        except Exception:  # a property that raises is not a hook
            continue
        if opts is not None:
            hook_name = opts.get("specname") or attr
            if hook_name not in HOOK_NAMES:
                unknown.append(hook_name)
    return sorted(unknown)


class PluginHost:
    """A plugin manager plus its load report and the resource-type index."""

    def __init__(self, pm: pluggy.PluginManager, records: list[PluginRecord]) -> None:
        self.pm = pm
        self.records = records
        self.types: dict[str, tuple[str, ResourceTypeSpec]] = {}
        self.conflicts: list[str] = []
        self.unknown_names: list[tuple[str, str]] = []
        """``(where, name)`` for each plugin name a selection gave that nothing installed
        carries (see :meth:`check_selection`)."""
        self._conflict_by_type: dict[str, str] = {}
        self._subset_cache: dict[tuple[str, str], Any] = {}

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def record(self, name: str) -> PluginRecord | None:
        return next((r for r in self.records if r.name == name), None)

    def check_selection(self) -> None:
        """Raise :class:`PluginSelectionError` when a selection named a plugin that is not
        installed, naming what is (commands that run call this; help and listings do not,
        so that they still show what is installed)."""
        if not self.unknown_names:
            return
        where, name = self.unknown_names[0]
        installed = ", ".join(sorted(r.name for r in self.records)) or "none"
        raise PluginSelectionError(
            f"{where} names no installed plugin: {name!r}; installed: {installed} "
            "(atg-dataplane plugins lists them)"
        )

    def import_deferred(self) -> None:
        """Import every module the loaded plugins' entry modules named with
        :class:`~atg_dataplane.deferred.deferred` (a run imports them when first used): a
        plugin whose SDK is missing or broken is then listed failed with the import error,
        as it would be had its entry module imported the SDK itself."""
        for record in self.records:
            if record.status != "loaded":
                continue
            problem = import_deferred(record.value.split(":")[0])
            if problem:
                record.status = "failed"
                record.error = f"import failed: {problem}"

    def index_resource_types(self) -> None:
        """Ask every loaded plugin for its types; two claims on one type conflict."""
        claims: dict[str, list[tuple[str, ResourceTypeSpec]]] = {}
        for record in self.records:
            if record.status != "loaded":
                continue
            plugin = self.pm.get_plugin(record.name)
            impl = getattr(plugin, "dataplane_resource_types", None)
            if impl is None:
                continue
            try:
                specs = list(impl() or ())
                for spec in specs:
                    if not isinstance(spec, ResourceTypeSpec):
                        raise TypeError(
                            f"dataplane_resource_types returned {type(spec).__name__}, "
                            "expected ResourceTypeSpec"
                        )
            except Exception as exc:
                self._fail(record, f"dataplane_resource_types failed: {exc}")
                continue
            keys = [spec.key for spec in specs]
            repeated = sorted({s.resource_type for s in specs if keys.count(s.key) > 1})
            if repeated:
                self._fail(record, "declares resource type more than once: " + ", ".join(repeated))
                continue
            record.resource_types = [s.resource_type for s in specs]
            record.modes = sorted({m.value for s in specs for m in s.modes})
            for spec in specs:
                claims.setdefault(spec.key, []).append((record.name, spec))
        in_conflict: set[str] = set()
        for key, owners in claims.items():
            if len(owners) > 1:
                names = " and ".join(
                    f"{n} ({self.record(n).distribution})"  # type: ignore[union-attr]
                    for n, _ in owners
                )
                message = f"resource type {owners[0][1].resource_type} is claimed by {names}"
                self.conflicts.append(message)
                self._conflict_by_type[key] = message
                for name, _ in owners:
                    rec = self.record(name)
                    assert rec is not None
                    rec.status = "conflict"
                    rec.error = "; ".join(filter(None, [rec.error, message]))
                    in_conflict.add(name)
            else:
                self.types[key] = owners[0]
        # A plugin in conflict serves none of its types: the types it does not
        # share must not silently keep working half-way, and its other hooks
        # must not be called for resources of other plugins.
        for key in [k for k, (name, _) in self.types.items() if name in in_conflict]:
            rec = self.record(self.types.pop(key)[0])
            assert rec is not None
            self._conflict_by_type[key] = f"{rec.name} is not loaded: {rec.error}"
        for name in sorted(in_conflict):
            plugin = self.pm.get_plugin(name)
            if plugin is not None:
                self.pm.unregister(plugin)

    def _fail(self, record: PluginRecord, error: str) -> None:
        record.status = "failed"
        record.error = error
        plugin = self.pm.get_plugin(record.name)
        if plugin is not None:
            self.pm.unregister(plugin)

    def owner(self, resource_type: str) -> tuple[str, ResourceTypeSpec] | None:
        return self.types.get(resource_type.lower())

    def hook_for(self, resource_type: str, hook_name: str) -> Any:
        """The hook caller limited to the type's owner plus plugins that own no type.

        Raises ``PluginLoadError`` for a type no plugin serves (or a conflicted one).
        """
        owner = self.owner(resource_type)
        if owner is None:
            conflict = self._conflict_by_type.get(resource_type.lower())
            if conflict:
                raise PluginLoadError(conflict)
            raise PluginLoadError(
                f"no installed plugin serves resource type {resource_type}; "
                "`atg-dataplane plugins` lists what is installed"
            )
        key = (owner[0], hook_name)
        if key not in self._subset_cache:
            owners = {name for name, _ in self.types.values()}
            others = [
                self.pm.get_plugin(n) for n in owners if n != owner[0] and self.pm.get_plugin(n)
            ]
            self._subset_cache[key] = self.pm.subset_hook_caller(hook_name, others)
        return self._subset_cache[key]

    def register_builtin(self, plugin: object, name: str) -> None:
        """Register an in-core plugin (progress displays, journals)."""
        if self.pm.get_plugin(name) is None:
            self.pm.register(plugin, name=name)


def _dist_of(ep: Any) -> tuple[str, str]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "", ""
    try:
        return dist.metadata["Name"] or dist.name, dist.version or ""
    except Exception:  # broken metadata must not break the listing
        return getattr(dist, "_normalized_name", "") or "", ""


def load_plugins(
    *,
    disabled: Iterable[str] = (),
    strict: bool | None = None,
    entry_points: Sequence[Any] | None = None,
    use_env_lists: bool = True,
) -> PluginHost:
    """Load every plugin from the entry-point group into a fresh plugin manager.

    ``use_env_lists=False`` ignores the allow/deny environment variables (the
    conformance fixtures load one named plugin whatever the shell says).
    """
    pm = new_plugin_manager()
    allow = _env_list(ENV_ALLOW) if use_env_lists else set()
    deny = (_env_list(ENV_DENY) if use_env_lists else set()) | set(disabled)
    strict = strict_mode() if strict is None else strict
    if entry_points is None:
        entry_points = list(importlib_metadata.entry_points(group=ENTRY_POINT_GROUP))
    records: list[PluginRecord] = []
    seen: dict[str, str] = {}
    for ep in sorted(entry_points, key=lambda e: e.name):
        dist_name, version = _dist_of(ep)
        record = PluginRecord(name=ep.name, distribution=dist_name, version=version, value=ep.value)
        records.append(record)
        if ep.name in deny or (allow and ep.name not in allow):
            record.status = "disabled"
            continue
        if ep.name in seen:
            record.status = "failed"
            record.error = (
                f"entry point name {ep.name!r} is already used by distribution {seen[ep.name]!r}; "
                "entry point names must be unique"
            )
            continue
        seen[ep.name] = dist_name
        try:
            plugin = ep.load()
        except BaseException as exc:  # a plugin may raise anything at import, even SystemExit
            if isinstance(exc, KeyboardInterrupt):
                raise
            record.status = "failed"
            record.error = f"import failed: {type(exc).__name__}: {exc}"
            continue
        unknown = unknown_hooks(pm, plugin)
        if unknown:
            record.status = "failed"
            record.error = "implements hooks with no specification: " + ", ".join(unknown)
            continue
        try:
            pm.register(plugin, name=ep.name)
        except Exception as exc:
            record.status = "failed"
            record.error = f"refused by the plugin manager: {exc}"
            if pm.get_plugin(ep.name) is not None:
                pm.unregister(name=ep.name)
            continue
        record.hooks = sorted(caller.name for caller in (pm.get_hookcallers(plugin) or []))
    host = PluginHost(pm, records)
    installed = {record.name for record in records}
    for where, names in (
        (ENV_ALLOW, allow),
        (ENV_DENY, _env_list(ENV_DENY) if use_env_lists else set()),
        ("--disable", set(disabled)),
    ):
        host.unknown_names += [(where, name) for name in sorted(names - installed)]
    host.index_resource_types()
    if strict:
        host.import_deferred()
        problems = [f"{r.name} ({r.distribution}): {r.error}" for r in records if r.error]
        if problems:
            raise PluginLoadError("plugin load failed in strict mode: " + "; ".join(problems))
    return host
