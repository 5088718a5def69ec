"""``atg-dataplane replicate`` and ``deploy`` (the seed's interface): one flow."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from atg_dataplane import api, display, exitcodes
from atg_dataplane.commands import plan as plan_command
from atg_dataplane.commands.common import (
    MODE,
    AppState,
    Output,
    build_config,
    config_options,
    connect,
    grouped,
    handle_errors,
    leaf,
    output_of,
    print_coverage,
    visible,
    with_status,
)
from atg_dataplane.commands.permissions import print_gaps
from atg_dataplane.config import ConfigError, ReplicationConfig
from atg_dataplane.engine import RunSummary
from atg_dataplane.models import ReplicationMode
from atg_dataplane.progress import JsonLinesProgress, RichProgress
from atg_dataplane.terraform_state import read_state


@click.command("replicate")
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
@click.option(
    "--executor",
    type=click.Choice(["threads", "dask"]),
    default="threads",
    show_default=True,
    help="threads: this process copies everything; dask: each resource is a shard run on "
    "the workers of a Dask cluster (pip install 'atg-dataplane[dask]').",
)
@click.option(
    "--scheduler",
    default="",
    metavar="ADDRESS",
    help="With --executor dask: local:N (N worker processes here) or tcp://HOST:PORT (a "
    "running scheduler; its workers must see the config's folder at the same path).",
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
    executor: str,
    scheduler: str,
    output: str,
    **params: Any,
) -> None:
    """Copy the data plane of every source resource into its target counterpart.

    Checks permissions first and stops before any write when something is
    missing. Journals every item: running the same command again (or with
    --resume RUN) skips what is done and retries what failed. With
    --executor dask the resources are spread over a Dask cluster; --concurrency
    is then per resource.
    """
    chosen = choose_mode(mode, bool(params.get("interactive")), yes or dry_run)
    run(
        state,
        params,
        build_config(params),
        chosen,
        out=output_of(output, params),
        dry_run=dry_run,
        reset_journal=reset_journal,
        resume_run=resume_run,
        allow_missing_targets=allow_missing_targets,
        permission_check=not skip_permission_check,
        executor=executor,
        scheduler=scheduler,
    )


@click.command("deploy")
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
    config = build_config(params)
    if not read_state(iac_dir):
        click.echo(f"no terraform.tfstate in {iac_dir}: finding targets by type and name", err=True)
    chosen = choose_mode(dataplane_mode, bool(params.get("interactive")), yes or dry_run)
    config = api.with_terraform_state(config, iac_dir)
    run(state, params, config, chosen, out=output_of(output, params), dry_run=dry_run)


def run(
    state: AppState,
    params: dict[str, Any],
    config: ReplicationConfig,
    mode: ReplicationMode,
    *,
    out: Output,
    dry_run: bool = False,
    reset_journal: bool = False,
    **replicate: Any,
) -> None:
    """The replicate flow both commands share: the journal checked before any request,
    the plan or the run, its summary, and the exit code."""
    console = display.console(stderr=not out.for_people)
    if "executor" in replicate:
        api.check_executor(config, replicate["executor"], replicate["scheduler"])
    if not dry_run:
        aside = api.prepare_journal(config, reset=reset_journal)
        if aside is not None:
            console.print(f"the journal was moved aside to {visible(aside)}", soft_wrap=True)
    runtime = connect(state, params, config)
    if dry_run:
        plan_command.show(api.plan(runtime, mode, watch=with_status), out)
        return
    # JSON lines of progress for --output json (not with a query: one answer), a live
    # display for people, nothing for the other formats.
    streaming = out.format == "json" and not out.query
    listener = JsonLinesProgress() if streaming else RichProgress() if out.for_people else None
    try:
        result = api.replicate(
            runtime,
            mode,
            progress=listener,
            watch=with_status,
            notify=lambda message: console.print(visible(message), soft_wrap=True),
            **replicate,
        )
    except api.PermissionsMissing as missing:
        if not out.emit(missing.report.to_dict()):
            print_gaps(console, missing.report.gaps)
            console.print(
                "Nothing was written. Fix the permissions above, or pass --skip-permission-check."
            )
        sys.exit(exitcodes.PERMISSIONS_MISSING)
    if streaming:  # JSON lines: the summary is the last line
        click.echo(json.dumps({"event": "summary", **result.to_dict()}, default=str))
    elif not out.emit(result.to_dict()):
        if result.optional_gaps:
            print_gaps(console, result.optional_gaps)
        print_summary(console, result)
    if result.summary.interrupted:
        console.print(
            f"Interrupted: run {result.summary.run_id} is journalled. Run the same command "
            "again to resume it: what is done is skipped, nothing is written twice.",
            soft_wrap=True,
        )
    if result.abandoned:
        # Worker threads still hold items in flight; the journal is consistent (they are
        # replayed next time), so leave without waiting for them.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(exitcodes.INTERRUPTED)
    sys.exit(exit_code(result.summary))


def choose_mode(mode: str | None, interactive: bool, yes: bool) -> ReplicationMode:
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


def exit_code(summary: RunSummary) -> int:
    if summary.interrupted:
        return exitcodes.INTERRUPTED
    if summary.result.failed or summary.missing_targets or summary.failed_resources:
        return exitcodes.ITEMS_FAILED
    return exitcodes.OK


def print_summary(console: Console, run: api.Replication) -> None:
    summary = run.summary
    table = Table(title=f"run {summary.run_id} ({summary.mode.value} mode)")
    for column in ("resource", "kind", "replicated", "unchanged", "skipped", "failed", "bytes"):
        table.add_column(column, overflow="fold")
    for rid, kinds in summary.by_resource.items():
        for kind, ks in sorted(kinds.items()):
            table.add_row(
                leaf(rid),
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
            for reason, group in ks.grouped.items():
                console.print(
                    f"  {leaf(rid)} {kind} {grouped(group)}: {visible(reason)}", soft_wrap=True
                )
    for problem in (*summary.missing_targets, *summary.failed_resources):
        console.print(visible(problem), style="red", soft_wrap=True)
    result = summary.result
    resumed = f" (run {summary.run_id}, resumed)" if run.resumed else ""
    console.print(
        f"{result.replicated} replicated, {result.skipped} unchanged or skipped, "
        f"{result.failed} failed, {result.bytes} bytes in {result.duration:.1f} s{resumed}"
    )
    print_coverage(console, run.coverage)
