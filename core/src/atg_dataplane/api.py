"""The Python API: what the command line does, for programs (Azure Tenant Grapher's
``deploy --dataplane``, notebooks, CI jobs).

Nothing here prints, prompts or ends the process: functions return result objects and
raise typed errors (:class:`ConfigError` for bad input, :class:`CredentialError` for a
sign-in that fails, :class:`PermissionsMissing` when a side lacks a role, plugin errors
from :mod:`atg_dataplane.plugins`). Progress reaches the caller through ``progress=``: an
object implementing the ``dataplane_progress`` hook, registered for the run. The command
line (:mod:`atg_dataplane.commands`) is a thin layer over these functions.

A session::

    from atg_dataplane import api

    runtime = api.connect("replication.json")
    plan = api.plan(runtime, api.ReplicationMode.TEMPLATE)
    run = api.replicate(runtime, api.ReplicationMode.TEMPLATE)
    report = api.verify(runtime)
    runtime.close()
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from atg_dataplane import hookimpl
from atg_dataplane.__about__ import __version__
from atg_dataplane.config import ConfigError, ReplicationConfig, load_config, with_overrides
from atg_dataplane.context import DEFAULT_CONCURRENCY, Fingerprinter
from atg_dataplane.coverage import Coverage
from atg_dataplane.credentials import CredentialError
from atg_dataplane.engine import Engine, RunSummary, describe_error
from atg_dataplane.inventory import ResourcePair, unserved
from atg_dataplane.journal import Journal, JournalWriteError, run_identity
from atg_dataplane.models import AzureResource, ReplicationMode
from atg_dataplane.options import check_options
from atg_dataplane.permcheck import Gap, check_binding
from atg_dataplane.plugins import PluginHost, load_plugins
from atg_dataplane.runtime import Runtime, open_runtime
from atg_dataplane.terraform_state import read_state, renamed, target_ids
from atg_dataplane.verify import VerifyReport, verify_pair

__all__ = [
    "ConfigError",
    "CredentialError",
    "PermissionReport",
    "PermissionsMissing",
    "Plan",
    "Replication",
    "ReplicationMode",
    "Runtime",
    "check_executor",
    "check_permissions",
    "connect",
    "hookimpl",
    "load_config",
    "plan",
    "replicate",
    "state_dir",
    "terraform",
    "verified",
    "verify",
    "with_overrides",
    "with_terraform_state",
]

SECONDS_PER_ITEM = 0.05
BYTES_PER_SECOND = 50 * 1024 * 1024
Watch = Callable[[Iterable[ResourcePair], str], Iterable[ResourcePair]]
"""Wraps the resource pairs a step walks through (the command line shows which one it is
on); ``(pairs, verb) -> pairs``."""


def _unwatched(pairs: Iterable[ResourcePair], verb: str) -> Iterable[ResourcePair]:
    return pairs


class PermissionsMissing(Exception):
    """A side lacks a role the mode needs; nothing was written."""

    def __init__(self, report: PermissionReport) -> None:
        super().__init__(
            f"{len(report.blocking)} permission(s) missing; nothing was written: "
            + "; ".join(dict.fromkeys(g.fix for g in report.blocking))
        )
        self.report = report


# -- session --------------------------------------------------------------------------
def connect(
    config: ReplicationConfig | str | os.PathLike[str],
    *,
    host: PluginHost | None = None,
    interactive: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> Runtime:
    """Load the config (a path or a :class:`ReplicationConfig`), check its plugin options
    against the installed plugins' declarations (before any request), sign in to both
    tenants and return the :class:`Runtime` every other function takes. Close it when done.
    """
    host = host or load_plugins()
    host.check_selection()
    if not isinstance(config, ReplicationConfig):
        config = load_config(Path(config))
    config = replace(config, options=check_options(host, config.options))
    return open_runtime(
        host, config, interactive=interactive, concurrency=concurrency, retry=config.retry
    )


def state_dir(config: ReplicationConfig) -> Path:
    """Where runs are journalled: ``.atg-dataplane/`` beside the config."""
    base = config.path.parent if config.path else Path.cwd()
    return base / ".atg-dataplane"


def coverage(runtime: Runtime, served: Counter[str]) -> Coverage:
    """``served`` (resources a plugin serves, by type) and what no installed plugin serves.
    A listing that fails leaves the unserved count unknown (a warning in the log): the run
    or comparison it comes after is not lost for it."""
    try:
        missing = unserved(runtime.host, runtime.config, runtime.source)
    except Exception as exc:
        logging.getLogger(__name__).warning(
            "coverage unknown: listing the types no plugin serves failed: %s",
            describe_error(exc),
        )
        missing = Counter()
    return Coverage(served=served, unserved=missing)


# -- plan -----------------------------------------------------------------------------
@dataclass
class Plan:
    mode: ReplicationMode
    items: int = 0
    bytes: int = 0
    estimated_seconds: float = 0.0
    resources: list[dict[str, Any]] = field(default_factory=list)
    coverage: Coverage = field(default_factory=Coverage)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "items": self.items,
            "bytes": self.bytes,
            "estimated_seconds": round(self.estimated_seconds, 1),
            **self.coverage.to_dict(),
            "resources": self.resources,
        }


def plan(runtime: Runtime, mode: ReplicationMode, *, watch: Watch = _unwatched) -> Plan:
    """What would be replicated, per resource and kind, writing nothing: item counts,
    bytes, an estimated duration, and the resources no installed plugin serves."""
    fingerprinter = Fingerprinter()
    result = Plan(mode)
    served: Counter[str] = Counter()
    for pair in watch(runtime.pairs(), "discovering"):
        served[pair.spec.resource_type] += 1
        kinds: dict[str, dict[str, int]] = defaultdict(
            lambda: {"items": 0, "bytes": 0, "not_copyable": 0}
        )
        hook = runtime.host.hook_for(pair.spec.resource_type, "dataplane_discover")
        found = hook(
            resource=pair.source,
            mode=mode,
            options=runtime.config.options,
            fingerprinter=fingerprinter,
        )
        for item in found or ():
            kinds[item.kind]["items"] += 1
            kinds[item.kind]["bytes"] += item.size_bytes
            kinds[item.kind]["not_copyable"] += 0 if item.copyable else 1
        items = sum(k["items"] for k in kinds.values())
        nbytes = sum(k["bytes"] for k in kinds.values())
        parallel = min(
            runtime.source.concurrency,
            pair.spec.max_concurrency_per_resource or runtime.source.concurrency,
        )
        result.estimated_seconds += items * SECONDS_PER_ITEM / parallel
        if mode is ReplicationMode.REPLICATION:
            result.estimated_seconds += nbytes / BYTES_PER_SECOND
        result.items += items
        result.bytes += nbytes
        result.resources.append(
            {
                "source": pair.source.resource.id,
                "target": pair.target.resource.id if pair.target else None,
                "type": pair.spec.resource_type,
                "problem": pair.problem or None,
                "kinds": dict(kinds),
                "items": items,
                "bytes": nbytes,
            }
        )
    result.coverage = coverage(runtime, served)
    return result


# -- permissions ----------------------------------------------------------------------
@dataclass
class PermissionReport:
    gaps: list[Gap]
    missing_targets: list[str]

    @property
    def blocking(self) -> list[Gap]:
        """Gaps that stop a run (optional ones only cost a feature, with a warning)."""
        return [g for g in self.gaps if not g.optional]

    @property
    def ok(self) -> bool:
        return not self.blocking

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "missing": [g.to_dict() for g in self.gaps],
            "missing_targets": list(self.missing_targets),
        }


def check_permissions(
    runtime: Runtime,
    mode: ReplicationMode,
    pairs: Iterable[ResourcePair] | None = None,
    *,
    watch: Watch = _unwatched,
) -> PermissionReport:
    """What each side needs in ``mode`` against what the callers really have (a few
    look-ups at a time)."""
    options = runtime.config.options
    checks = []
    problems: list[str] = []
    with ThreadPoolExecutor(16, thread_name_prefix="atg-permissions") as pool:
        walked = runtime.pairs() if pairs is None else pairs
        for pair in watch(walked, "checking permissions of"):
            rtype = pair.spec.resource_type
            sides = [(pair.source, "source")]
            if pair.target is None:
                problems.append(pair.problem)
            else:
                sides.append((pair.target, "target"))
            for binding, side in sides:
                claims = runtime.claims[side]  # type: ignore[index]
                checks.append(
                    pool.submit(check_binding, runtime.host, binding, rtype, mode, claims, options)
                )
        gaps = [gap for check in checks for gap in check.result()]
    return PermissionReport(gaps, problems)


# -- replicate ------------------------------------------------------------------------
@dataclass
class Replication:
    """A finished (or interrupted) run: its summary, whether it resumed an earlier run, the
    permissions that are missing but only cost a feature, and the coverage."""

    summary: RunSummary
    resumed: bool = False
    optional_gaps: list[Gap] = field(default_factory=list)
    coverage: Coverage = field(default_factory=Coverage)
    abandoned: bool = False
    """Worker threads still hold items in flight after an interruption: the journal is
    consistent (they are replayed next time); a program should exit without joining them."""

    @property
    def success(self) -> bool:
        s = self.summary
        return not (s.interrupted or s.result.failed or s.missing_targets or s.failed_resources)

    def to_dict(self) -> dict[str, Any]:
        return {"success": self.success, **self.summary.to_dict(), **self.coverage.to_dict()}


def prepare_journal(config: ReplicationConfig, *, reset: bool = False) -> Path | None:
    """Open the run's journal once, so that one that cannot be used fails before any request
    (:class:`JournalError`); ``reset`` first moves a journal aside (returns where)."""
    path = state_dir(config) / "journal.db"
    aside = Journal.move_aside(path) if reset else None
    Journal(path).close()
    return aside


def replicate(
    runtime: Runtime,
    mode: ReplicationMode,
    *,
    resume_run: str = "",
    allow_missing_targets: bool = False,
    permission_check: bool = True,
    progress: Any = None,
    watch: Watch = _unwatched,
    notify: Callable[[str], None] | None = None,
    executor: str = "threads",
    scheduler: str = "",
) -> Replication:
    """Copy the data plane of every source resource into its target counterpart.

    Stops before any write when a target resource is missing (:class:`ConfigError`, unless
    ``allow_missing_targets``) or a permission is (:class:`PermissionsMissing`, unless
    ``permission_check`` is False). Journals every item: the same call again (or with
    ``resume_run``) skips what is done and retries what failed. Ctrl-C ends the run as
    ``interrupted`` (``success`` False), resumable. ``notify`` receives what a person
    should know as it happens (``resuming run ...``).

    ``executor="dask"`` spreads the resources over the Dask cluster ``scheduler`` names
    (``local:N`` or ``tcp://HOST:PORT``; :mod:`atg_dataplane.cluster`), else they run on
    this process's threads.
    """
    cluster = check_executor(runtime.config, executor, scheduler)
    pairs = list(runtime.pairs())  # resources, not items: small
    missing = [p.problem for p in pairs if p.target is None]
    if missing and not allow_missing_targets:
        raise ConfigError(
            "; ".join(missing) + " (nothing was written; --allow-missing-targets copies the rest)"
        )
    optional: list[Gap] = []
    if permission_check:
        report = check_permissions(runtime, mode, pairs, watch=watch)
        if not report.ok:
            raise PermissionsMissing(report)
        optional = report.gaps
    journal = Journal(state_dir(runtime.config) / "journal.db")
    try:
        journal.lock()
        run = _run_locked(runtime, mode, journal, resume_run, progress, pairs, notify, cluster)
    finally:
        journal.close()
    run.optional_gaps = optional
    run.coverage = coverage(runtime, Counter(p.spec.resource_type for p in pairs))
    return run


def check_executor(config: ReplicationConfig, executor: str, scheduler: str) -> str:
    """The scheduler of a cluster run, or "" for threads; a :class:`ConfigError` when they
    do not go together, Dask is missing, or the config holds a secret value (it would
    travel in every task). ``replicate`` checks it too; a caller may check before it
    signs in."""
    if executor == "threads":
        if scheduler:
            raise ConfigError("--scheduler needs --executor dask")
        return ""
    if executor != "dask":
        raise ConfigError(f"unknown executor {executor!r}: choose threads or dask")
    from atg_dataplane import cluster

    cluster.parse_scheduler(scheduler)
    cluster.check_available()
    cluster.secret_free(config)
    return scheduler


def _run_locked(
    runtime: Runtime,
    mode: ReplicationMode,
    journal: Journal,
    resume_run: str,
    progress: Any,
    pairs: list[ResourcePair],
    notify: Callable[[str], None] | None,
    scheduler: str = "",
) -> Replication:
    config = runtime.config
    identity = run_identity(
        str(config.path),
        config.source,
        config.target,
        mode.value,
        sorted(config.types),
        dict(config.options),
        dict(config.names),
        dict(config.target_ids),
        config.inventory,
    )
    resumed = False
    if resume_run:
        run = journal.get_run(resume_run)
        if run is None:
            raise ConfigError(f"no run {resume_run!r} in {journal.path}")
        if run.identity != identity:
            raise ConfigError(
                f"run {resume_run} was started with other settings; "
                "use the same config, mode and options"
            )
        journal.reopen_run(run.run_id)
        run_id, resumed = run.run_id, True
    else:
        previous = journal.unfinished_run(identity)
        if previous is not None:
            journal.reopen_run(previous.run_id)
            run_id, resumed = previous.run_id, True
            if notify is not None:
                notify(f"resuming run {run_id}")
        else:
            run_id = journal.start_run(identity, mode.value).run_id
    if resumed:
        # A cluster run's driver that was killed left its shards' segments: what they
        # finished counts, whichever executor resumes the run.
        journal.merge_leftovers(state_dir(config) / "shards" / run_id, run_id)
    if progress is not None:
        runtime.host.register_builtin(progress, "progress-output")
    engine: Any
    if scheduler:
        from atg_dataplane.cluster import ClusterEngine

        engine = ClusterEngine(
            runtime.host,
            mode=mode,
            journal=journal,
            run_id=run_id,
            config=config,
            state_dir=state_dir(config),
            scheduler=scheduler,
            concurrency=runtime.source.concurrency,
            retry=runtime.source.retry,
            notify=notify,
        )
    else:
        engine = Engine(
            runtime.host,
            mode=mode,
            journal=journal,
            run_id=run_id,
            options=config.options,
            concurrency=runtime.source.concurrency,
            retry=runtime.source.retry,
        )
    try:
        summary = engine.run(pairs)
    except KeyboardInterrupt:
        summary = engine.summary
        summary.interrupted = True
    except BaseException:
        # The run's own error is what the caller needs; a journal that cannot record the
        # failure either (a full disk) leaves the run open, to be resumed all the same.
        with contextlib.suppress(JournalWriteError):
            journal.finish_run(run_id, "failed", engine.summary.to_dict())
        raise
    finally:
        if progress is not None and runtime.host.pm.get_plugin("progress-output") is not None:
            runtime.host.pm.unregister(name="progress-output")
    status = "interrupted" if summary.interrupted else "finished"
    journal.finish_run(run_id, status, summary.to_dict())
    return Replication(summary, resumed=resumed, abandoned=engine.abandoned)


# -- verify ---------------------------------------------------------------------------
def verify(
    runtime: Runtime, mode: ReplicationMode | None = None, *, watch: Watch = _unwatched
) -> VerifyReport:
    """Discover both sides again and compare them item by item (names, properties,
    fingerprints; no value is kept). ``mode`` defaults to the mode of the last finished
    run, else template. The report's coverage counts what no plugin served.

    On Ctrl-C every retry wait ends and ``KeyboardInterrupt`` propagates at once (verify
    writes nothing); reads still in flight are not waited for.
    """
    config = runtime.config
    journal = Journal(state_dir(config) / "journal.db")
    last = journal.last_finished_run()
    if mode is None:
        mode = ReplicationMode(last[1]) if last else ReplicationMode.TEMPLATE
    fingerprinter = Fingerprinter(journal.fingerprint_key())
    journal.close()
    report = VerifyReport(mode=mode, keep_matching=False, context=_context(runtime, last))
    served: Counter[str] = Counter()
    pool = ThreadPoolExecutor(
        max_workers=runtime.source.concurrency, thread_name_prefix="atg-verify"
    )
    try:
        for pair in watch(runtime.pairs(), "comparing"):
            served[pair.spec.resource_type] += 1
            verify_pair(
                runtime.host,
                pair,
                mode=mode,
                options=config.options,
                fingerprinter=fingerprinter,
                report=report,
                pool=pool,
            )
    except KeyboardInterrupt:
        runtime.source.stop.set()
        runtime.target.stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    report.coverage = coverage(runtime, served)
    return report


def _context(runtime: Runtime, last: tuple[str, str] | None) -> dict[str, Any]:
    config = runtime.config
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "run_id": last[0] if last else None,
        "tool": f"atg-dataplane {__version__}",
        "plugins": [
            f"{r.name} ({r.distribution} {r.version})"
            for r in runtime.host.records
            if r.status == "loaded"
        ],
        "source": {
            "tenant_id": config.source.tenant_id,
            "subscription_id": config.source.subscription_id,
        },
        "target": {
            "tenant_id": config.target.tenant_id,
            "subscription_id": config.target.subscription_id,
        },
    }


def verified(
    report: VerifyReport, min_fidelity: float | None = None, require_coverage: bool = False
) -> bool:
    """Whether a verification succeeds: everything copyable matches and every target
    resource exists, or, with ``min_fidelity``, fidelity reaches it; with
    ``require_coverage``, every resource found is also served by a plugin."""
    if require_coverage and report.coverage.unserved:
        return False
    if min_fidelity is not None:
        # The exact share, not the rounded one: one item in a million is 100.0 % rounded.
        compared = report.compared
        exact = 100.0 * report.count("matching") / compared if compared else 100.0
        return exact >= min_fidelity
    wrong = report.count("missing") + report.count("different")
    return wrong == 0 and not report.missing_targets


# -- terraform ------------------------------------------------------------------------
def terraform(
    runtime: Runtime, mode: ReplicationMode = ReplicationMode.TEMPLATE
) -> Iterator[tuple[AzureResource, str]]:
    """Terraform that recreates each resource's discovered items: ``(resource, text)`` per
    resource whose plugin writes any; secret values are sensitive variables, never
    literals."""
    fingerprinter = Fingerprinter()
    options = runtime.config.options
    for pair in runtime.pairs():
        rtype = pair.spec.resource_type
        discover = runtime.host.hook_for(rtype, "dataplane_discover")
        found = discover(
            resource=pair.source, mode=mode, options=options, fingerprinter=fingerprinter
        )
        items = list(found or ())
        hook = runtime.host.hook_for(rtype, "dataplane_terraform")
        text = hook(resource=pair.source, items=items, mode=mode, options=options)
        if text:
            yield pair.source.resource, text


# -- deploy ---------------------------------------------------------------------------
def with_terraform_state(config: ReplicationConfig, iac_dir: Path) -> ReplicationConfig:
    """The config with the target ids and renames of ``iac_dir/terraform.tfstate`` (what
    Terraform just created), as Azure Tenant Grapher's ``deploy --dataplane`` needs; the
    config's own names and ids win. Without a state file targets are found by type and
    name."""
    state = read_state(iac_dir)
    return replace(
        config,
        names={**renamed(state), **dict(config.names)},
        target_ids={**target_ids(state), **dict(config.target_ids)},
    )
