"""The replication commands: permissions, plan, replicate, verify, terraform, deploy."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import signal
import sys
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from atg_dataplane import display, exitcodes
from atg_dataplane.cli import AppState, cli, fail, output_option
from atg_dataplane.config import (
    ConfigError,
    CredentialConfig,
    ReplicationConfig,
    load_config,
    with_overrides,
)
from atg_dataplane.context import DEFAULT_CONCURRENCY, Fingerprinter
from atg_dataplane.credentials import CredentialError
from atg_dataplane.engine import Engine, RunSummary, describe_error
from atg_dataplane.inventory import ResourcePair
from atg_dataplane.journal import Journal, JournalWriteError, run_identity
from atg_dataplane.models import ReplicationMode
from atg_dataplane.options import check_options
from atg_dataplane.permcheck import Gap, check_binding
from atg_dataplane.plugins import PluginLoadError, PluginSelectionError
from atg_dataplane.progress import JsonLinesProgress, RichProgress
from atg_dataplane.redact import redact
from atg_dataplane.report import check_report_path, write_report
from atg_dataplane.runtime import Runtime, open_runtime
from atg_dataplane.terraform_state import read_state, renamed, target_ids
from atg_dataplane.verify import VerifyReport, verify_pair

MODE = click.Choice([m.value for m in ReplicationMode])
visible = display.visible


def _leaf(resource_id: str) -> str:
    """A resource's name from its id, shown as text."""
    return visible(resource_id.rsplit("/", 1)[-1])


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Bad input becomes one line on stderr and a meaningful exit code; Ctrl-C and
    SIGTERM stop cleanly with 130."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        in_main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main else None
        try:
            return func(*args, **kwargs)
        except KeyboardInterrupt:
            fail("interrupted", exitcodes.INTERRUPTED)
        except (ConfigError, CredentialError) as exc:
            fail(redact(str(exc)), exitcodes.USAGE)
        except JournalWriteError as exc:
            fail(str(exc), exitcodes.ITEMS_FAILED)
        except PluginSelectionError as exc:
            fail(str(exc), exitcodes.USAGE)
        except PluginLoadError as exc:
            fail(str(exc), exitcodes.PLUGIN_ERROR)
        except Exception as exc:
            from azure.core.exceptions import AzureError

            if isinstance(exc, AzureError):
                fail(describe_error(exc), exitcodes.USAGE)
            if logging.getLogger().isEnabledFor(logging.DEBUG):
                raise
            fail(
                f"internal error: {describe_error(exc)} (run with -vv for the traceback)",
                exitcodes.INTERNAL,
            )
        finally:
            if in_main:
                signal.signal(signal.SIGTERM, previous)

    return wrapper


def _on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def config_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by every command that reads a replication config."""
    decorators = [
        click.option(
            "--config",
            "config_path",
            type=click.Path(path_type=Path),
            required=True,
            help="Replication config file (TOML, YAML or JSON).",
        ),
        click.option(
            "--type",
            "types",
            multiple=True,
            metavar="TYPE",
            help="Only this ARM resource type (repeatable).",
        ),
        click.option(
            "--source-resource-group",
            "source_groups",
            multiple=True,
            metavar="NAME",
            help="Only resources in this source resource group (repeatable).",
        ),
        click.option(
            "--resource-group",
            "--target-resource-group",
            "target_group",
            default="",
            metavar="NAME",
            help="Target resource group holding the counterparts.",
        ),
        click.option(
            "--inventory",
            default="",
            metavar="FILE",
            help="Source resources from a JSON file (az resource list / ATG export).",
        ),
        click.option(
            "--option",
            "raw_options",
            multiple=True,
            metavar="KEY=VALUE",
            help="Plugin option, e.g. keyvault.placeholder=TBD (repeatable).",
        ),
        click.option(
            "--all-versions", is_flag=True, help="Copy every version, not only the current one."
        ),
        click.option(
            "--interactive",
            is_flag=True,
            help="Allow interactive browser sign-in; choose the mode interactively.",
        ),
        click.option(
            "--concurrency",
            default=DEFAULT_CONCURRENCY,
            show_default=True,
            type=click.IntRange(1, 512),
            help="Items copied (replicate) or compared (verify) at once, overall.",
        ),
        click.option("--sp-client-id", default="", help="Target service principal client id."),
        click.option(
            "--sp-client-secret",
            default="",
            hidden=True,
            help="Deprecated: exposes the secret in the process list.",
        ),
        click.option(
            "--sp-client-secret-env",
            default="",
            metavar="VAR",
            help="Environment variable holding the target principal's secret.",
        ),
        click.option(
            "--sp-client-secret-file",
            default="",
            metavar="FILE",
            help="File holding the target principal's secret.",
        ),
        click.option("--sp-tenant-id", default="", help="Target tenant id."),
        output_option,
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def _parse_options(raw: tuple[str, ...], all_versions: bool) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for entry in raw:
        if "=" not in entry:
            raise ConfigError(f"--option {entry!r} must be KEY=VALUE")
        key, value = entry.split("=", 1)
        options[key.strip()] = {"true": True, "false": False}.get(value.lower(), value)
    if all_versions:
        options["all_versions"] = True
    return options


def build_config(params: dict[str, Any]) -> ReplicationConfig:
    config = load_config(params["config_path"])
    sp_id = params.get("sp_client_id") or ""
    credential = None
    if sp_id:
        credential = CredentialConfig(
            client_id=sp_id,
            tenant_id=params.get("sp_tenant_id") or config.target.tenant_id,
            client_secret=params.get("sp_client_secret") or "",
            client_secret_env=params.get("sp_client_secret_env") or "",
            client_secret_file=params.get("sp_client_secret_file") or "",
        )
        if not credential.explicit:
            raise ConfigError(
                "--sp-client-id needs --sp-client-secret-file or --sp-client-secret-env"
            )
    return with_overrides(
        config,
        types=tuple(params.get("types") or ()),
        source_groups=tuple(params.get("source_groups") or ()),
        target_group=params.get("target_group") or "",
        target_tenant=params.get("sp_tenant_id") or "",
        target_credential=credential,
        inventory=params.get("inventory") or "",
        options=_parse_options(
            tuple(params.get("raw_options") or ()), bool(params.get("all_versions"))
        ),
    )


def checked(state: AppState, config: ReplicationConfig) -> ReplicationConfig:
    """The config with its options checked against the installed plugins' declarations
    and converted, before any request (:mod:`atg_dataplane.options`)."""
    return replace(config, options=check_options(state.host, config.options))


def _runtime(
    state: AppState, params: dict[str, Any], config: ReplicationConfig | None = None
) -> Runtime:
    config = config or checked(state, build_config(params))
    return open_runtime(
        state.host,
        config,
        interactive=bool(params.get("interactive")),
        concurrency=int(params.get("concurrency") or DEFAULT_CONCURRENCY),
        retry=config.retry,
    )


def _state_dir(config: ReplicationConfig) -> Path:
    base = config.path.parent if config.path else Path.cwd()
    return base / ".atg-dataplane"


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


# -- permissions --------------------------------------------------------------


def collect_gaps(
    runtime: Runtime, mode: ReplicationMode, pairs: Iterable[ResourcePair] | None = None
) -> tuple[list[Gap], list[str]]:
    """Check both sides of every resource, a few permission look-ups at a time."""
    options = runtime.config.options
    checks = []
    problems: list[str] = []
    with ThreadPoolExecutor(16, thread_name_prefix="atg-permissions") as pool:
        for pair in with_status(
            runtime.pairs() if pairs is None else pairs, "checking permissions of"
        ):
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
    return gaps, problems


def blocking(gaps: list[Gap]) -> list[Gap]:
    """Gaps that stop a run (optional ones only cost a feature, with a warning)."""
    return [g for g in gaps if not g.optional]


def print_gaps(console: Console, gaps: list[Gap]) -> None:
    table = Table(title="missing permissions")
    for column in ("side", "resource", "missing", "grant with"):
        table.add_column(column, overflow="fold")
    for gap in gaps:
        label = f"{gap.kind}: {gap.name}" + (
            " (optional: a feature is skipped)" if gap.optional else ""
        )
        table.add_row(gap.side, _leaf(gap.resource_id), visible(label), gap.role)
    console.print(table)
    console.print("To fix:")
    for fix in dict.fromkeys(g.fix for g in gaps):
        console.print(f"  {visible(fix)}", soft_wrap=True)


@cli.command("permissions")
@click.option("--mode", type=MODE, default="template", show_default=True)
@config_options
@click.pass_obj
@handle_errors
def permissions_command(state: AppState, mode: str, output: str, **params: Any) -> None:
    """Check what each side needs in MODE against what the callers really have.

    Prints every missing action, data action or access policy, the built-in
    role that grants it, and the exact `az role assignment create` command.
    Exit code 3 when anything is missing.
    """
    runtime = _runtime(state, params)
    gaps, problems = collect_gaps(runtime, ReplicationMode(mode))
    if output == "json":
        _echo_json(
            {
                "ok": not blocking(gaps),
                "missing": [g.to_dict() for g in gaps],
                "missing_targets": problems,
            }
        )
    else:
        console = display.console()
        for problem in problems:
            console.print(f"warning: {visible(problem)}", style="yellow", soft_wrap=True)
        if gaps:
            print_gaps(console, gaps)
        if not blocking(gaps):
            console.print(f"All permissions for {mode} mode are in place.", style="green")
    if blocking(gaps):
        sys.exit(exitcodes.PERMISSIONS_MISSING)


# -- plan ---------------------------------------------------------------------

SECONDS_PER_ITEM = 0.05
BYTES_PER_SECOND = 50 * 1024 * 1024


def with_status(pairs: Iterable[ResourcePair], verb: str) -> Iterator[ResourcePair]:
    """Show which resource is being worked on, when stderr is a terminal."""
    console = Console(stderr=True)
    if not console.is_terminal:
        yield from pairs
        return
    with console.status(f"{verb}...") as status:
        for pair in pairs:
            status.update(f"{verb} {pair.source.resource.name} ({pair.spec.resource_type})")
            yield pair


def make_plan(runtime: Runtime, mode: ReplicationMode) -> dict[str, Any]:
    fingerprinter = Fingerprinter()
    resources = []
    total_items = total_bytes = 0
    estimate = 0.0
    for pair in with_status(runtime.pairs(), "discovering"):
        kinds: dict[str, dict[str, int]] = defaultdict(
            lambda: {"items": 0, "bytes": 0, "not_copyable": 0}
        )
        hook = runtime.host.hook_for(pair.spec.resource_type, "dataplane_discover")
        for item in (
            hook(
                resource=pair.source,
                mode=mode,
                options=runtime.config.options,
                fingerprinter=fingerprinter,
            )
            or ()
        ):
            kinds[item.kind]["items"] += 1
            kinds[item.kind]["bytes"] += item.size_bytes
            kinds[item.kind]["not_copyable"] += 0 if item.copyable else 1
        items = sum(k["items"] for k in kinds.values())
        nbytes = sum(k["bytes"] for k in kinds.values())
        parallel = min(
            runtime.source.concurrency,
            pair.spec.max_concurrency_per_resource or runtime.source.concurrency,
        )
        estimate += items * SECONDS_PER_ITEM / parallel
        if mode is ReplicationMode.REPLICATION:
            estimate += nbytes / BYTES_PER_SECOND
        total_items += items
        total_bytes += nbytes
        resources.append(
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
    return {
        "mode": mode.value,
        "items": total_items,
        "bytes": total_bytes,
        "estimated_seconds": round(estimate, 1),
        "resources": resources,
    }


def print_plan(plan: dict[str, Any]) -> None:
    console = display.console()
    table = Table(title=f"plan ({plan['mode']} mode): nothing has been written")
    for column in ("resource", "type", "kind", "items", "bytes", "not copyable"):
        table.add_column(column, overflow="fold")
    for res in plan["resources"]:
        name = _leaf(res["source"])
        if res["problem"]:
            problem = Text(visible(res["problem"]), style="yellow")
            table.add_row(name, res["type"], "-", "-", "-", problem)
        for kind, row in sorted(res["kinds"].items()):
            table.add_row(
                name,
                res["type"],
                kind,
                str(row["items"]),
                str(row["bytes"]),
                str(row["not_copyable"]),
            )
    console.print(table)
    console.print(
        f"{plan['items']} items, {plan['bytes']} bytes, estimated {plan['estimated_seconds']} s"
    )


@cli.command("plan")
@click.option("--mode", type=MODE, default="template", show_default=True)
@config_options
@click.pass_obj
@handle_errors
def plan_command(state: AppState, mode: str, output: str, **params: Any) -> None:
    """Show what would be replicated, per resource and kind, writing nothing:
    item counts, bytes and an estimated duration."""
    runtime = _runtime(state, params)
    plan = make_plan(runtime, ReplicationMode(mode))
    if output == "json":
        _echo_json(plan)
    else:
        print_plan(plan)


# -- replicate ----------------------------------------------------------------


def _choose_mode(mode: str | None, interactive: bool, yes: bool) -> ReplicationMode:
    if interactive and mode is None:
        click.echo(
            "Modes:\n  template     structure only, placeholder values (safe)\n"
            "  replication  full copy of values and contents"
        )
        mode = click.prompt("Mode", type=MODE, default="template")
    chosen = ReplicationMode(mode or "template")
    if chosen is ReplicationMode.REPLICATION and not yes:
        if not sys.stdin.isatty():
            raise ConfigError(
                "replication mode copies secret values and contents: "
                "pass --yes to confirm when not running in a terminal"
            )
        if not click.confirm(
            "Replication mode copies values (secrets, data) into the target tenant. Continue?",
            default=False,
        ):
            raise click.Abort()
    return chosen


def summary_exit_code(summary: RunSummary) -> int:
    if summary.interrupted:
        return exitcodes.INTERRUPTED
    if summary.result.failed or summary.missing_targets or summary.failed_resources:
        return exitcodes.ITEMS_FAILED
    return exitcodes.OK


def print_summary(console: Console, summary: RunSummary) -> None:
    table = Table(title=f"run {summary.run_id} ({summary.mode.value} mode)")
    for column in ("resource", "kind", "replicated", "unchanged", "skipped", "failed", "bytes"):
        table.add_column(column, overflow="fold")
    for rid, kinds in summary.by_resource.items():
        for kind, ks in sorted(kinds.items()):
            table.add_row(
                _leaf(rid),
                kind,
                str(ks.replicated),
                str(ks.unchanged),
                str(ks.skipped),
                str(ks.failed),
                str(ks.bytes),
            )
    console.print(table)
    for rid, kinds in summary.by_resource.items():
        for kind, ks in sorted(kinds.items()):
            for reason in ks.reasons:
                console.print(f"  {_leaf(rid)} {kind} {visible(reason)}", soft_wrap=True)
    for problem in (*summary.missing_targets, *summary.failed_resources):
        console.print(visible(problem), style="red", soft_wrap=True)
    result = summary.result
    console.print(
        f"{result.replicated} replicated, {result.skipped} unchanged or skipped, "
        f"{result.failed} failed, {result.bytes} bytes in {result.duration:.1f} s"
    )


@cli.command("replicate")
@click.option(
    "--mode",
    type=MODE,
    default=None,
    help="template (default: structure only) or replication (full copy).",
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask before replication mode.")
@click.option("--dry-run", is_flag=True, help="Only show the plan (same as `plan`).")
@click.option(
    "--resume",
    "resume_run",
    default="",
    metavar="RUN",
    help="Resume this run id (default: resume the last unfinished identical run).",
)
@click.option(
    "--allow-missing-targets",
    is_flag=True,
    help="Copy what has a counterpart even when some source resources have none.",
)
@click.option(
    "--skip-permission-check", is_flag=True, help="Write even when the permission check finds gaps."
)
@click.option(
    "--reset-journal",
    is_flag=True,
    help="Move a journal that cannot be read aside (kept as journal.db.broken-<time>) and "
    "start a new one.",
)
@config_options
@click.pass_obj
@handle_errors
def replicate_command(
    state: AppState,
    mode: str | None,
    yes: bool,
    dry_run: bool,
    resume_run: str,
    skip_permission_check: bool,
    allow_missing_targets: bool,
    reset_journal: bool,
    output: str,
    **params: Any,
) -> None:
    """Copy the data plane of every source resource into its target counterpart.

    Checks permissions first and stops before any write when something is
    missing. Journals every item: running the same command again (or with
    --resume RUN) skips what is done and retries what failed.
    """
    chosen = _choose_mode(mode, bool(params.get("interactive")), yes or dry_run)
    config = checked(state, build_config(params))
    console = display.console(stderr=output == "json")
    if not dry_run:
        # Local state is checked before the first request: a broken journal stops here.
        prepare_journal(config, reset=reset_journal, console=console)
    runtime = _runtime(state, params, config)
    if dry_run:
        plan = make_plan(runtime, chosen)
        _echo_json(plan) if output == "json" else print_plan(plan)
        return
    pairs = list(runtime.pairs())  # resources, not items: small
    missing = [p.problem for p in pairs if p.target is None]
    if missing and not allow_missing_targets:
        raise ConfigError(
            "; ".join(missing) + " (nothing was written; --allow-missing-targets copies the rest)"
        )
    if not skip_permission_check:
        gaps, _problems = collect_gaps(runtime, chosen, pairs)
        if gaps and not blocking(gaps) and output != "json":
            print_gaps(console, gaps)
        if blocking(gaps):
            if output == "json":
                _echo_json({"ok": False, "missing": [g.to_dict() for g in gaps]})
            else:
                print_gaps(console, gaps)
                console.print(
                    "Nothing was written. Fix the permissions above, or pass "
                    "--skip-permission-check."
                )
            sys.exit(exitcodes.PERMISSIONS_MISSING)
    summary = run_replication(
        runtime, chosen, resume_run=resume_run, output=output, console=console, pairs=pairs
    )
    if output == "json":  # JSON lines: the summary is the last line
        click.echo(json.dumps({"event": "summary", **summary.to_dict()}, default=str))
    else:
        print_summary(console, summary)
    sys.exit(summary_exit_code(summary))


def prepare_journal(config: ReplicationConfig, *, reset: bool, console: Console) -> None:
    """Open the run's journal once, so that one that cannot be used fails before any request
    (:class:`JournalError`, exit 2); ``reset`` moves a journal aside first."""
    path = _state_dir(config) / "journal.db"
    if reset:
        aside = Journal.move_aside(path)
        if aside is not None:
            console.print(f"the journal was moved aside to {visible(aside)}", soft_wrap=True)
    Journal(path).close()


def run_replication(
    runtime: Runtime,
    mode: ReplicationMode,
    *,
    resume_run: str = "",
    output: str = "text",
    console: Console | None = None,
    pairs: list[ResourcePair] | None = None,
) -> RunSummary:
    config = runtime.config
    journal = Journal(_state_dir(config) / "journal.db")
    try:
        journal.lock()
        return _run_locked(runtime, mode, journal, resume_run, output, console, pairs)
    finally:
        journal.close()


def _run_locked(
    runtime: Runtime,
    mode: ReplicationMode,
    journal: Journal,
    resume_run: str,
    output: str,
    console: Console | None,
    pairs: list[ResourcePair] | None,
) -> RunSummary:
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
    console = console or display.console(stderr=True)
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
        run_id = run.run_id
    else:
        previous = journal.unfinished_run(identity)
        if previous is not None:
            journal.reopen_run(previous.run_id)
            run_id = previous.run_id
            console.print(f"resuming run {run_id}")
        else:
            run_id = journal.start_run(identity, mode.value).run_id
    listener: Any = {"json": JsonLinesProgress, "text": RichProgress}.get(output)
    if listener is not None:
        runtime.host.register_builtin(listener(), "progress-output")
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
        summary = engine.run(runtime.pairs() if pairs is None else pairs)
    except KeyboardInterrupt:
        summary = engine.summary
        summary.interrupted = True
    except BaseException:
        # The run's own error is what the user needs; a journal that cannot record the
        # failure either (a full disk) leaves the run open, to be resumed all the same.
        with contextlib.suppress(JournalWriteError):
            journal.finish_run(run_id, "failed", engine.summary.to_dict())
        raise
    finally:
        if runtime.host.pm.get_plugin("progress-output") is not None:
            runtime.host.pm.unregister(name="progress-output")
    status = "interrupted" if summary.interrupted else "finished"
    journal.finish_run(run_id, status, summary.to_dict())
    if summary.interrupted:
        console.print(
            f"Interrupted: run {run_id} is journalled. Run the same command again to resume "
            "it: what is done is skipped, nothing is written twice.",
            soft_wrap=True,
        )
    if engine.abandoned:
        # Worker threads still hold items in flight; the journal is consistent (they are
        # replayed next time), so leave without waiting for them.
        sys.stdout.flush()
        sys.stderr.flush()
        journal.close()
        os._exit(exitcodes.INTERRUPTED)
    return summary


# -- verify -------------------------------------------------------------------


def run_verify(runtime: Runtime, mode: ReplicationMode) -> VerifyReport:
    config = runtime.config
    journal = Journal(_state_dir(config) / "journal.db")
    fingerprinter = Fingerprinter(journal.fingerprint_key())
    journal.close()
    report = VerifyReport(mode=mode, keep_matching=False)
    pool = ThreadPoolExecutor(
        max_workers=runtime.source.concurrency, thread_name_prefix="atg-verify"
    )
    try:
        for pair in with_status(runtime.pairs(), "comparing"):
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
        # Every retry wait ends now; reads still in flight are not waited for (verify
        # writes nothing, so leaving at once loses nothing).
        runtime.source.stop.set()
        runtime.target.stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        sys.stderr.write("interrupted\n")
        sys.stderr.flush()
        os._exit(exitcodes.INTERRUPTED)
    pool.shutdown(wait=True)
    return report


def print_verify(console: Console, report: VerifyReport) -> None:
    table = Table(title=f"verification ({report.mode.value} mode)")
    for column in ("type", "kind", "matching", "different", "missing", "not copyable"):
        table.add_column(column)
    for rtype, row in sorted(report.by_type().items()):
        for kind, counts in sorted(row["by_kind"].items()):
            table.add_row(
                rtype,
                kind,
                str(counts.get("matching", 0)),
                str(counts.get("different", 0)),
                str(counts.get("missing", 0)),
                str(counts.get("not_copyable", 0)),
            )
    console.print(table)
    for verdict in report.verdicts:
        if verdict.status != "matching":
            console.print(
                f"  {verdict.status}: {verdict.kind} {visible(verdict.name)} "
                f"({_leaf(verdict.resource_id)}): {visible(verdict.detail)}",
                soft_wrap=True,
            )
    if report.unlisted:
        console.print(f"  ... and {report.unlisted} more not listed")
    for problem in report.missing_targets:
        console.print(visible(problem), style="red", soft_wrap=True)
    console.print(
        f"fidelity {report.fidelity:.2f} %: {report.count('matching')} of "
        f"{report.compared} copyable items match; "
        f"{report.count('not_copyable')} cannot be copied"
    )


@cli.command("verify")
@click.option(
    "--mode",
    type=MODE,
    default=None,
    help="replication also compares contents through fingerprints. "
    "Default: the mode of the last finished run, else template.",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Write an HTML (.html) or Markdown (.md) report.",
)
@click.option(
    "--min-fidelity",
    type=click.FloatRange(0, 100),
    default=None,
    help="Exit 1 only when fidelity (0-100) is below this. Without it, verify exits 1 when "
    "any copyable item is missing or different, or a target resource is missing.",
)
@config_options
@click.pass_obj
@handle_errors
def verify_command(
    state: AppState,
    mode: str | None,
    report_path: Path | None,
    min_fidelity: float | None,
    output: str,
    **params: Any,
) -> None:
    """Discover both sides again and compare them item by item (names,
    properties, fingerprints; no value is printed).

    Exits 0 when the target holds every copyable item as the source does, 1
    when anything copyable is missing or different or a target resource is
    missing; --min-fidelity lowers that bar."""
    if report_path:
        check_report_path(report_path)
    runtime = _runtime(state, params)
    if mode is None:
        journal = Journal(_state_dir(runtime.config) / "journal.db")
        mode = journal.last_finished_mode() or ReplicationMode.TEMPLATE.value
        journal.close()
    report = run_verify(runtime, ReplicationMode(mode))
    if report_path:
        write_report(report, report_path)
    if output == "json":
        _echo_json(report.to_dict())
    else:
        print_verify(display.console(), report)
    if not verified(report, min_fidelity):
        sys.exit(exitcodes.ITEMS_FAILED)


def verified(report: VerifyReport, min_fidelity: float | None) -> bool:
    """Whether ``verify`` succeeds: everything copyable matches and every target resource
    exists, or, with ``min_fidelity``, fidelity reaches it."""
    if min_fidelity is not None:
        # The exact share, not the rounded one: one item in a million is 100.0 % rounded.
        compared = report.compared
        exact = 100.0 * report.count("matching") / compared if compared else 100.0
        return exact >= min_fidelity
    wrong = report.count("missing") + report.count("different")
    return wrong == 0 and not report.missing_targets


# -- terraform ----------------------------------------------------------------


@cli.command("terraform")
@click.option("--mode", type=MODE, default="template", show_default=True)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write one .tf file per resource here (default: stdout).",
)
@config_options
@click.pass_obj
@handle_errors
def terraform_command(
    state: AppState, mode: str, out_dir: Path | None, output: str, **params: Any
) -> None:
    """Generate Terraform that recreates the discovered items (template mode);
    secret values become sensitive variables, never literals."""
    runtime = _runtime(state, params)
    chosen = ReplicationMode(mode)
    fingerprinter = Fingerprinter()
    written = []
    for pair in runtime.pairs():
        rtype = pair.spec.resource_type
        discover = runtime.host.hook_for(rtype, "dataplane_discover")
        items = list(
            discover(
                resource=pair.source,
                mode=chosen,
                options=runtime.config.options,
                fingerprinter=fingerprinter,
            )
            or ()
        )
        hook = runtime.host.hook_for(rtype, "dataplane_terraform")
        text = hook(resource=pair.source, items=items, mode=chosen, options=runtime.config.options)
        if not text:
            continue
        if out_dir is None:
            click.echo(text)
        else:
            out_dir.mkdir(parents=True, exist_ok=True)
            resource = pair.source.resource
            kind = resource.type.split("/")[-1].lower()
            path = out_dir / f"{kind}-{resource.resource_group}-{resource.name}.tf"
            partial = path.with_suffix(".tf.partial")
            partial.write_text(text, encoding="utf-8")
            partial.replace(path)  # never a half-written file
            written.append(str(path))
    if out_dir is not None:
        _echo_json({"written": written}) if output == "json" else click.echo(
            "\n".join(f"wrote {p}" for p in written)
        )


# -- deploy (the seed's interface) ---------------------------------------------


@cli.command("deploy")
@click.option(
    "--iac-dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Terraform directory; target ids come from its terraform.tfstate.",
)
@click.option("--target-tenant-id", default="", help="Target tenant id.")
@click.option("--dataplane", is_flag=True, help="Replicate the data plane (else do nothing).")
@click.option("--dataplane-mode", type=MODE, default="template", show_default=True)
@click.option("--dry-run", is_flag=True, help="Only show the plan.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before replication mode.")
@config_options
@click.pass_obj
@handle_errors
def deploy_command(
    state: AppState,
    iac_dir: Path,
    target_tenant_id: str,
    dataplane: bool,
    dataplane_mode: str,
    dry_run: bool,
    yes: bool,
    output: str,
    **params: Any,
) -> None:
    """The seed's deploy interface on the same engine: after Terraform has
    applied IAC_DIR, fill the data plane of what it created."""
    if not dataplane:
        click.echo("--dataplane not given: nothing to do (Terraform deploys the control plane).")
        return
    if target_tenant_id and not params.get("sp_tenant_id"):
        params["sp_tenant_id"] = target_tenant_id
    config = checked(state, build_config(params))
    state_data = read_state(iac_dir)
    if not state_data:
        click.echo(f"no terraform.tfstate in {iac_dir}: finding targets by type and name", err=True)
    config = replace(
        config,
        names={**renamed(state_data), **dict(config.names)},
        target_ids={**target_ids(state_data), **dict(config.target_ids)},
    )
    chosen = _choose_mode(dataplane_mode, bool(params.get("interactive")), yes or dry_run)
    runtime = open_runtime(
        state.host,
        config,
        interactive=bool(params.get("interactive")),
        concurrency=int(params.get("concurrency") or DEFAULT_CONCURRENCY),
        retry=config.retry,
    )
    if dry_run:
        plan = make_plan(runtime, chosen)
        _echo_json(plan) if output == "json" else print_plan(plan)
        return
    gaps, _ = collect_gaps(runtime, chosen)
    console = display.console(stderr=output == "json")
    if gaps:
        print_gaps(console, gaps)
    if blocking(gaps):
        sys.exit(exitcodes.PERMISSIONS_MISSING)
    summary = run_replication(runtime, chosen, output=output, console=console)
    if output == "json":  # JSON lines, as replicate
        click.echo(json.dumps({"event": "summary", **summary.to_dict()}, default=str))
    else:
        print_summary(console, summary)
    sys.exit(summary_exit_code(summary))
