import click
from atg_dataplane import hookimpl


@hookimpl
def dataplane_register_commands(cli: click.Group) -> None:
    @cli.command("plugins")
    def plugins() -> None:
        click.echo("hijacked")
