"""``atg-dataplane sandbox ...``: install, start, inspect, seed and stop the local Azure sandbox.

Exit codes are the core's (``atg_dataplane.exitcodes``, listed by ``atg-dataplane --help``):
0 done; 1 failed (the message says why); 2 bad usage; 5 emulators missing (the message
gives the exact install command) or the sandbox is not running; 6 ``status`` found it
degraded (some processes down or not answering).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import click
from atg_dataplane import exitcodes
from atg_dataplane.commands.output import Output, output_option

from atg_dataplane_sandbox import sandbox as sbx
from atg_dataplane_sandbox.services import PoolSizes, cache_dir, install

EXIT_FAILED = exitcodes.ITEMS_FAILED
EXIT_MISSING = exitcodes.SANDBOX_NOT_READY
EXIT_STOPPED = exitcodes.SANDBOX_NOT_READY
EXIT_DEGRADED = exitcodes.SANDBOX_DEGRADED
DIR_ENV = "ATG_DATAPLANE_SANDBOX_DIR"

dir_option = click.option(
    "--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
    default=sbx.DEFAULT_DIR, envvar=DIR_ENV, show_default=True, show_envvar=True,
    help="Sandbox directory: certificates, topology, secrets, data, logs, pids, config.json.",
)


def _fail(message: str, code: int = EXIT_FAILED) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.group(name="sandbox")
def sandbox_group() -> None:
    """Run an offline two-tenant stand-in for Azure on 127.0.0.1.

    Real emulators (Azurite for Blob/Queue/Table, a Cosmos DB server, an OCI
    registry) plus our own Entra ID, ARM and Key Vault emulation, all over
    HTTPS with a test CA. Typical use:

    \b
      atg-dataplane sandbox install
      atg-dataplane sandbox up --dir .sandbox
      atg-dataplane sandbox seed --scenario reference
      atg-dataplane replicate --config .sandbox/config.json ...
      atg-dataplane sandbox down
    """


@sandbox_group.command("install")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="npm cache directory [default: $ATG_DATAPLANE_SANDBOX_CACHE or "
                   "~/.cache/atg-dataplane/sandbox].")
def install_command(cache: Path | None) -> None:
    """Install the emulators: Azurite and the Cosmos DB server (npm, pinned versions,
    into the cache directory) and the OCI registry (apt-get docker-registry, as root;
    otherwise the command to run is printed)."""
    cache = cache or cache_dir()
    started = time.monotonic()
    try:
        install.install_npm(cache)
    except FileNotFoundError:
        _fail("npm is not on PATH; install Node.js 20+ (apt-get install -y nodejs npm)")
    except Exception as exc:
        _fail(f"npm install failed ({exc})")
    if install.registry_binary() is None:
        if os.geteuid() == 0:
            try:
                install.install_registry()
            except Exception as exc:
                _fail(f"apt-get install {install.APT_PACKAGE} failed ({exc})")
        else:
            click.echo(f"run as root to install the OCI registry: {install.apt_install_command()}")
    missing = sbx.check_installed()
    if missing:
        for item in missing:
            click.echo(f"missing: {item}", err=True)
        sys.exit(EXIT_MISSING)
    click.echo(f"emulators installed in {time.monotonic() - started:.1f} s (cache: {cache})")


@sandbox_group.command("up")
@dir_option
@click.option("--faults", metavar="SPEC", default=None,
              help="Fault injection for the emulator (throttling, errors), passed as --faults.")
@click.option("--storage-accounts", type=click.IntRange(1, 50), default=PoolSizes.storage,
              show_default=True, help="Azurite accounts per tenant.")
@click.option("--cosmos-accounts", type=click.IntRange(1, 20), default=PoolSizes.cosmos,
              show_default=True, help="Cosmos DB accounts (endpoints) per tenant.")
@output_option
def up_command(directory: Path, faults: str | None, storage_accounts: int,
               cosmos_accounts: int, output: str, query: str | None) -> None:
    """Start the sandbox (or find it running) and write DIR/config.json."""
    started = time.monotonic()
    try:
        info = sbx.up(directory, faults=faults,
                      pools=PoolSizes(storage=storage_accounts, cosmos=cosmos_accounts))
    except sbx.EmulatorsMissing as exc:
        for item in exc.missing:
            click.echo(f"error: {item.name} is missing ({item.reason}); "
                       f"install it with: {item.command}", err=True)
        sys.exit(EXIT_MISSING)
    except sbx.SandboxError as exc:
        _fail(str(exc))
    except (OSError, RuntimeError) as exc:
        _fail(f"sandbox up failed: {exc}")
    if Output(output, query).emit(info.to_json()):
        return
    verb = "already running" if info.reused else f"up in {time.monotonic() - started:.1f} s"
    click.echo(f"sandbox {verb}: {info.dir}")
    click.echo(f"  config:    {info.config_path}")
    click.echo(f"  CA bundle: {info.ca_bundle}")
    _echo_services(info.services)


def _echo_services(services: dict[str, str]) -> None:
    width = max((len(name) for name in services), default=0)
    for name, url in sorted(services.items()):
        click.echo(f"  {name.ljust(width)}  {url}")


@sandbox_group.command("down")
@dir_option
def down_command(directory: Path) -> None:
    """Stop every sandbox process (Azurite and registry data stay in DIR)."""
    try:
        stopped = sbx.down(directory)
    except OSError as exc:
        _fail(f"sandbox down failed: {exc}")
    click.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@sandbox_group.command("status")
@dir_option
@output_option
def status_command(directory: Path, output: str, query: str | None) -> None:
    """Show which sandbox processes run and answer. Exit 0 running, 5 stopped, 6 degraded."""
    current = sbx.status(directory)
    if not Output(output, query).emit(current.to_json()):
        click.echo(f"sandbox {current.state}: {current.dir}")
        for name, pid in current.processes.items():
            health = "healthy" if current.healthy.get(name) else "not answering"
            click.echo(f"  {name:<9} " + (f"pid {pid}, {health}" if pid else "stopped"))
        if current.state != "stopped":
            _echo_services(current.services)
    codes = {"running": 0, "stopped": EXIT_STOPPED, "degraded": EXIT_DEGRADED}
    sys.exit(codes[current.state])


@sandbox_group.command("seed")
@dir_option
@click.option("--scenario", type=click.Choice(["reference", "large"]), default="reference",
              show_default=True,
              help="reference: one of every item kind; large: the measured tenant's mix x SCALE.")
@click.option("--scale", type=click.IntRange(1, 1000), default=1, show_default=True,
              help="Multiplier for the large scenario.")
@output_option
def seed_command(
    directory: Path, scenario: str, scale: int, output: str, query: str | None
) -> None:
    """Create source resources (filled) and target resources (empty) in a running sandbox."""
    from atg_dataplane_sandbox import seed

    if sbx.status(directory).state != "running":
        _fail(f"the sandbox in {directory} is not running; start it with: "
              f"atg-dataplane sandbox up --dir {directory}", EXIT_STOPPED)
    started = time.monotonic()
    try:
        report: Any = seed.seed(directory, scenario, scale=scale)
    except seed.SeedError as exc:
        _fail(str(exc))
    if not Output(output, query).emit(report.to_json()):
        click.echo(f"seeded {scenario} x{scale} in {time.monotonic() - started:.1f} s: "
                   + ", ".join(f"{count} {kind}" for kind, count in report.counts.items()))
