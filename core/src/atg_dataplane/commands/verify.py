"""``atg-dataplane verify``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
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
    print_coverage,
    visible,
    with_status,
)
from atg_dataplane.commands.replicate import grouped
from atg_dataplane.models import ReplicationMode
from atg_dataplane.options import SHALLOW_OPTION
from atg_dataplane.report import check_report_path, write_report
from atg_dataplane.verify import VerifyReport


@click.command("verify")
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
@click.option(
    "--shallow",
    is_flag=True,
    help="Let plugins whose contents are costly to compare compare less (SQL: the schema "
    "and row counts, not every row).",
)
@click.option(
    "--require-coverage",
    is_flag=True,
    help="Exit 1 also when some source resources have no plugin installed (coverage < 100 %).",
)
@config_options
@click.pass_obj
@handle_errors
def verify_command(
    state: AppState,
    mode: str | None,
    report_path: Path | None,
    min_fidelity: float | None,
    require_coverage: bool,
    shallow: bool,
    output: str,
    **params: Any,
) -> None:
    """Discover both sides again and compare them item by item (names,
    properties, fingerprints; no value is printed).

    Exits 0 when the target holds every copyable item as the source does, 1
    when anything copyable is missing or different or a target resource is
    missing; --min-fidelity lowers that bar. Coverage (resources served by a
    plugin / resources found) is reported; --require-coverage makes less
    than 100 % exit 1 too."""
    out = output_of(output, params)
    if report_path:
        check_report_path(report_path)
    if shallow:
        params["raw_options"] = (*params.get("raw_options", ()), f"{SHALLOW_OPTION}=true")
    runtime = connect(state, params)
    try:
        report = api.verify(runtime, ReplicationMode(mode) if mode else None, watch=with_status)
    except KeyboardInterrupt:
        # Reads still in flight are not waited for: verify writes nothing, so leaving at
        # once loses nothing.
        sys.stderr.write("interrupted\n")
        sys.stderr.flush()
        os._exit(exitcodes.INTERRUPTED)
    if report_path:
        write_report(report, report_path)
    if not out.emit(report.to_dict()):
        print_verify(display.console(), report)
    if not api.verified(report, min_fidelity, require_coverage):
        sys.exit(exitcodes.ITEMS_FAILED)


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
    groups: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for verdict in report.verdicts:
        if verdict.status != "matching":
            key = (verdict.status, verdict.kind, verdict.resource_id, verdict.detail)
            group = groups.setdefault(key, {"count": 0, "names": []})
            group["count"] += 1
            if len(group["names"]) < 3:
                group["names"].append(verdict.name)
    for (status, kind, resource_id, detail), group in groups.items():
        console.print(
            f"  {status}: {kind} {grouped(group)} ({leaf(resource_id)}): {visible(detail)}",
            soft_wrap=True,
        )
    if report.unlisted:
        console.print(f"  ... and {report.unlisted} more not listed")
    for problem in report.missing_targets:
        console.print(visible(problem), style="red", soft_wrap=True)
    console.print(
        f"fidelity {report.fidelity:.2f} %: {report.count('matching')} of "
        f"{report.compared} copyable items match; "
        f"{report.count('not_copyable')} cannot be copied; "
        f"coverage {report.coverage.percent:.2f} % of {report.coverage.found} resources"
    )
    print_coverage(console, report.coverage)
