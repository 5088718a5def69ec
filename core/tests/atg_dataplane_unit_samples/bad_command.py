import click
from atg_dataplane import hookimpl


@hookimpl
def dataplane_register_commands(cli: click.Group) -> None:
    raise RuntimeError("cannot add my command")
