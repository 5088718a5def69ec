"""``atg-dataplane permissions``."""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from atg_dataplane import api, display, exitcodes
from atg_dataplane.commands.common import (
    MODE,
    AppState,
    config_options,
    connect,
    handle_errors,
    leaf,
    output_of,
    visible,
    with_status,
)
from atg_dataplane.models import ReplicationMode
from atg_dataplane.permcheck import Gap


@click.command("permissions")
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
    out = output_of(output, params)
    runtime = connect(state, params)
    report = api.check_permissions(runtime, ReplicationMode(mode), watch=with_status)
    if not out.emit(report.to_dict()):
        console = display.console()
        for problem in report.missing_targets:
            console.print(f"warning: {visible(problem)}", style="yellow", soft_wrap=True)
        if report.gaps:
            print_gaps(console, report.gaps)
        if report.ok:
            console.print(f"All permissions for {mode} mode are in place.", style="green")
    if not report.ok:
        sys.exit(exitcodes.PERMISSIONS_MISSING)


def print_gaps(console: Console, gaps: list[Gap]) -> None:
    table = Table(title="missing permissions")
    for column in ("side", "resource", "missing", "grant with"):
        table.add_column(column, overflow="fold")
    for gap in gaps:
        label = f"{gap.kind}: {gap.name}" + (
            " (optional: a feature is skipped)" if gap.optional else ""
        )
        table.add_row(gap.side, leaf(gap.resource_id), visible(label), gap.role)
    console.print(table)
    console.print("To fix:")
    for fix in dict.fromkeys(g.fix for g in gaps):
        console.print(f"  {visible(fix)}", soft_wrap=True)
