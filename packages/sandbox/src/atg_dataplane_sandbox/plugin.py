"""Registers ``atg-dataplane sandbox ...`` with the core's command line."""

from __future__ import annotations

import click
from atg_dataplane import hookimpl


@hookimpl
def dataplane_register_commands(cli: click.Group) -> None:
    from atg_dataplane_sandbox.cli import sandbox_group

    cli.add_command(sandbox_group)
