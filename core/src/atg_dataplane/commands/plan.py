"""``atg-dataplane plan``."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table
from rich.text import Text

from atg_dataplane import api, display
from atg_dataplane.commands.common import (
    MODE,
    AppState,
    Output,
    config_options,
    connect,
    handle_errors,
    leaf,
    output_of,
    print_coverage,
    visible,
    with_status,
)
from atg_dataplane.models import ReplicationMode


@click.command("plan")
@click.option("--mode", type=MODE, default="template", show_default=True)
@config_options
@click.pass_obj
@handle_errors
def plan_command(state: AppState, mode: str, output: str, **params: Any) -> None:
    """Show what would be replicated, per resource and kind, writing nothing:
    item counts, bytes, an estimated duration, and the resources no installed
    plugin serves (with the package to install)."""
    out = output_of(output, params)
    show(api.plan(connect(state, params), ReplicationMode(mode), watch=with_status), out)


def show(plan: api.Plan, out: Output) -> None:
    if out.emit(plan.to_dict()):
        return
    console = display.console()
    table = Table(title=f"plan ({plan.mode.value} mode): nothing has been written")
    for column in ("resource", "type", "kind", "items", "bytes", "not copyable"):
        table.add_column(column, overflow="fold")
    for res in plan.resources:
        name = leaf(res["source"])
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
        f"{plan.items} items, {plan.bytes} bytes, estimated {plan.estimated_seconds:.1f} s"
    )
    print_coverage(console, plan.coverage)
