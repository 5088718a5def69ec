"""``atg-dataplane terraform``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from atg_dataplane import api
from atg_dataplane.commands.common import (
    MODE,
    AppState,
    config_options,
    connect,
    handle_errors,
    output_of,
)
from atg_dataplane.models import ReplicationMode


@click.command("terraform")
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
    out = output_of(output, params)
    written = []
    for resource, text in api.terraform(connect(state, params), ReplicationMode(mode)):
        if out_dir is None:
            click.echo(text)
            continue
        out_dir.mkdir(parents=True, exist_ok=True)
        kind = resource.type.split("/")[-1].lower()
        path = out_dir / f"{kind}-{resource.resource_group}-{resource.name}.tf"
        partial = path.with_suffix(".tf.partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)  # never a half-written file
        written.append(str(path))
    if out_dir is not None and not out.emit({"written": written}):
        click.echo("\n".join(f"wrote {p}" for p in written))
