"""The ``atg-dataplane`` command line.

Plugins are loaded when a command runs (or when help lists the commands),
never at import, so ``--help`` and ``plugins`` work even when a plugin is
broken. Exit codes are listed in :mod:`atg_dataplane.exitcodes`.
"""

from __future__ import annotations

import gc
import json
from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from atg_dataplane import display, exitcodes
from atg_dataplane.__about__ import __version__
from atg_dataplane.commands import COMMANDS
from atg_dataplane.commands.common import AppState, configure_logging, fail, output_option
from atg_dataplane.commands.output import Output
from atg_dataplane.config import ConfigError
from atg_dataplane.plugins import (
    PluginHost,
    PluginLoadError,
    PluginSelectionError,
    load_plugins,
    strict_mode,
)

PLUGIN_COMMANDS = {
    "sandbox": "pip install atg-dataplane-sandbox (from this repository: "
    "pip install -e packages/sandbox), then atg-dataplane sandbox install",
}
"""Commands that our own plugins add, and how to get them."""


class PluginAwareGroup(click.Group):
    """A group that adds plugin sub-commands the first time commands are looked up."""

    def add_plugin_commands(self, ctx: click.Context, *, for_listing: bool) -> None:
        state = ctx.ensure_object(AppState)
        if state.commands_added:
            return
        state.disabled = tuple(ctx.params.get("disable") or state.disabled)
        try:
            host = state.host
        except PluginLoadError as exc:
            if not for_listing:
                usage = isinstance(exc, PluginSelectionError)
                fail(str(exc), exitcodes.USAGE if usage else exitcodes.PLUGIN_ERROR)
            # Help must work even in strict mode: list what does load.
            host = load_plugins(disabled=state.disabled, strict=False)
        state.commands_added = True
        for record in host.records:
            if record.status != "loaded":
                continue
            plugin = host.pm.get_plugin(record.name)
            impl = getattr(plugin, "dataplane_register_commands", None)
            if impl is None:
                continue
            before = dict(self.commands)
            try:
                impl(cli=self)
            except Exception as exc:
                record.status = "failed"
                record.error = f"dataplane_register_commands failed: {exc}"
            taken = [n for n in before if self.commands.get(n) is not before[n]]
            if taken:  # a plugin may add commands, never replace one
                self.commands.update({n: before[n] for n in taken})
                record.status = "failed"
                record.error = f"dataplane_register_commands replaced commands: {', '.join(taken)}"
        failed = [r for r in host.records if r.error.startswith("dataplane_register_commands")]
        if failed and not for_listing and strict_mode():
            problems = "; ".join(f"{r.name} ({r.distribution}): {r.error}" for r in failed)
            fail(f"plugin commands failed in strict mode: {problems}", exitcodes.PLUGIN_ERROR)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self.add_plugin_commands(ctx, for_listing=True)
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None:
            self.add_plugin_commands(ctx, for_listing=False)
            command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in PLUGIN_COMMANDS:
            fail(
                f"'{cmd_name}' comes with a plugin that is not installed: "
                f"{PLUGIN_COMMANDS[cmd_name]}"
            )
        return command


EXIT_CODES = """Exit codes:

\b
  0    everything asked for was done
  1    some items failed, or verify found items missing or different
  2    bad input: options, config, inventory, credentials
  3    missing permissions: nothing was written
  4    plugins could not be loaded, or two claim one type
  5    sandbox not running, or its emulators not installed
  6    sandbox degraded: some processes down or not answering
  70   internal error (-vv shows the traceback)
  130  interrupted (Ctrl-C, SIGTERM): run the same command to resume
"""


@click.group(
    cls=PluginAwareGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=EXIT_CODES,
)
@click.version_option(__version__, "--version", prog_name="atg-dataplane")
@click.option(
    "--disable",
    multiple=True,
    is_eager=True,
    metavar="NAME",
    help="Do not load the plugin with this entry point name (repeatable). "
    "See also ATG_DATAPLANE_DISABLE_PLUGINS and ATG_DATAPLANE_PLUGINS.",
)
@click.option(
    "--verbose", "-v", count=True, help="What the tool is doing, on stderr (-vv: in detail)."
)
@click.option("--debug", is_flag=True, help="Also the Azure SDKs' request logging.")
@click.pass_context
def cli(ctx: click.Context, disable: tuple[str, ...], verbose: int, debug: bool) -> None:
    """Copy the data plane of an Azure tenant (secrets, blobs, images, documents, ...)
    into another tenant, after Terraform has recreated the control plane.

    Two modes: `template` (structure only, placeholder values: the safe default)
    and `replication` (full copy, explicit opt-in). Each resource type comes from
    a plugin: `atg-dataplane plugins` lists what is installed.
    """
    state = ctx.ensure_object(AppState)
    state.disabled = tuple(disable)
    state.verbose = verbose
    state.debug = debug
    configure_logging(verbose, debug)


@cli.command("plugins")
@output_option
@click.option(
    "--options",
    "list_options",
    is_flag=True,
    help="List the options each plugin reads ([options] in the config, --option KEY=VALUE).",
)
@click.pass_context
def plugins_command(
    ctx: click.Context, output: str, query: str | None, list_options: bool
) -> None:
    """List installed plugins: distribution, version, resource types, modes, status.

    A plugin that failed to load (or whose SDK, imported by a run only when
    first needed, cannot be imported) is listed with its error; the exit code
    is still 0 (set ATG_DATAPLANE_STRICT_PLUGINS=1 to make load errors fatal).
    With --options: every option the plugins declare, its kind, default and meaning.
    """
    state = ctx.ensure_object(AppState)
    try:
        host = state.host
    except PluginLoadError as exc:
        usage = isinstance(exc, PluginSelectionError)
        fail(str(exc), exitcodes.USAGE if usage else exitcodes.PLUGIN_ERROR)
        return
    # A run imports a plugin's SDK when it first needs it; the listing imports them all, so
    # that a missing or broken SDK is listed here as a load error.
    host.import_deferred()
    if isinstance(ctx.parent and ctx.parent.command, PluginAwareGroup):
        # so that a plugin whose commands fail to register is listed as failed
        ctx.parent.command.add_plugin_commands(ctx.parent, for_listing=False)  # type: ignore[union-attr]
    try:
        out = Output(output, query)
    except ConfigError as exc:
        fail(str(exc))
        return
    if list_options:
        _print_options(host, out)
        return
    rows = [record.to_dict() for record in host.records]
    if out.emit(rows):
        return
    console = display.console()
    if not rows:
        console.print("No plugins installed. Install one, e.g. pip install atg-dataplane-keyvault.")
        return
    table = Table(title="atg-dataplane plugins")
    for column in ("name", "distribution", "version", "resource types", "modes", "status"):
        table.add_column(column)
    for row in rows:
        status = row["status"]
        style = {"loaded": "green", "disabled": "yellow"}.get(status, "red")
        table.add_row(
            row["name"],
            row["distribution"],
            row["version"],
            "\n".join(row["resource_types"]) or "-",
            ", ".join(row["modes"]) or "-",
            Text(status, style=style),
        )
    console.print(table)
    for row in rows:
        if row["error"]:
            console.print(display.visible(f"{row['name']}: {row['error']}"), style="red")


def _print_options(host: PluginHost, out: Output) -> None:
    rows = [
        {"plugin": plugin, "resource_type": spec.resource_type, **option.to_dict()}
        for plugin, spec in sorted(host.types.values(), key=lambda p: p[0])
        for option in spec.options
    ]
    if out.emit(rows):
        return
    table = Table(title="plugin options ([options] in the config, or --option KEY=VALUE)")
    table.add_column("option", overflow="fold")  # a name is never cut short
    for column in ("kind", "default", "meaning"):
        table.add_column(column)
    for row in rows:
        kind = row["kind"] + (f" ({', '.join(row['choices'])})" if row["choices"] else "")
        aliases = f" (also {', '.join(row['aliases'])})" if row["aliases"] else ""
        table.add_row(row["name"], kind, json.dumps(row["default"]), row["help"] + aliases)
    display.console().print(table if rows else "No installed plugin declares options.")


@cli.command("new-plugin")
@click.argument("name")
@click.option(
    "--resource-type",
    required=True,
    help="The ARM resource type the plugin serves, e.g. Microsoft.Web/sites.",
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder in which the package folder atg-dataplane-NAME is created.",
)
@click.option("--item-kind", "item_kinds", multiple=True, help="Item kind (repeatable).")
def new_plugin_command(
    name: str, resource_type: str, directory: Path, item_kinds: tuple[str, ...]
) -> None:
    """Generate a plugin package that installs, is listed by `plugins`, and
    passes the conformance suite out of the box.
    """
    from atg_dataplane.template import TemplateError, render_plugin

    try:
        created = render_plugin(
            name, resource_type=resource_type, directory=directory, item_kinds=item_kinds
        )
    except TemplateError as exc:
        fail(str(exc))
        return
    click.echo(f"created {created}")
    click.echo(f"next: pip install -e {created} && atg-dataplane plugins")


def main() -> None:
    try:
        cli(prog_name="atg-dataplane")
    finally:
        # What is left is freed by the exit itself: without this, the interpreter's last
        # garbage collection walks every object of a long run (a quarter of a second).
        gc.freeze()


for _command in COMMANDS:
    cli.add_command(_command)
