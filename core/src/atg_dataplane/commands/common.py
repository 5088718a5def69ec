"""What every command shares: the top-level state, the config options, turning errors
into one line and an exit code, and printing for people or scripts."""

from __future__ import annotations

import functools
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from atg_dataplane import api, display, exitcodes
from atg_dataplane.commands.output import Output, output_option
from atg_dataplane.config import (
    ConfigError,
    CredentialConfig,
    ReplicationConfig,
    load_config,
    with_overrides,
)
from atg_dataplane.context import DEFAULT_CONCURRENCY
from atg_dataplane.coverage import Coverage
from atg_dataplane.credentials import CredentialError
from atg_dataplane.engine import describe_error
from atg_dataplane.inventory import ResourcePair
from atg_dataplane.journal import JournalWriteError
from atg_dataplane.models import ReplicationMode
from atg_dataplane.plugins import PluginHost, PluginLoadError, PluginSelectionError, load_plugins
from atg_dataplane.redact import RedactingFilter, redact
from atg_dataplane.runtime import Runtime

MODE = click.Choice([m.value for m in ReplicationMode])
visible = display.visible


@dataclass
class AppState:
    """What the top-level options decide, shared by every sub-command."""

    disabled: tuple[str, ...] = ()
    verbose: int = 0
    debug: bool = False
    commands_added: bool = False
    _host: PluginHost | None = field(default=None, repr=False)

    @property
    def host(self) -> PluginHost:
        """The plugins, loaded on first use; a selection naming nothing installed is an
        error (:class:`PluginSelectionError`)."""
        if self._host is None:
            self._host = load_plugins(disabled=self.disabled)
        self._host.check_selection()
        return self._host


def configure_logging(verbose: int, debug: bool = False) -> None:
    """Warnings by default; ``-v`` what the tool is doing (info), ``-vv`` in detail (debug);
    ``--debug`` adds the Azure SDKs' request logging. Every line passes the redactor.

    The Azure SDKs log each failed token request as a warning before we turn it into one
    clear error line, so they speak only with ``--debug``.
    """
    level = logging.DEBUG if debug else logging.WARNING - 10 * min(verbose, 2)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("azure", "msal", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if debug else logging.ERROR)


def _verbosity(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """``-v``/``--debug`` after the command (``verify ... -vv``), as before it."""
    state = ctx.find_object(AppState)
    if state is None or not value:
        return
    if param.name == "debug":
        state.debug = True
    else:
        state.verbose = max(state.verbose, int(value))
    configure_logging(state.verbose, state.debug)


def verbosity_options(func: Any) -> Any:
    func = click.option(
        "--debug",
        is_flag=True,
        expose_value=False,
        callback=_verbosity,
        help="Also the Azure SDKs' request logging.",
    )(func)
    return click.option(
        "--verbose",
        "-v",
        count=True,
        expose_value=False,
        callback=_verbosity,
        help="What the tool is doing, on stderr (-vv: in detail).",
    )(func)


def fail(message: str, code: int = exitcodes.USAGE) -> None:
    """Print one clear line to stderr and exit with ``code`` (names in ``message`` are shown,
    never interpreted: :func:`atg_dataplane.display.visible`)."""
    click.echo(f"error: {display.visible(message)}", err=True)
    sys.exit(code)


def leaf(resource_id: str) -> str:
    """A resource's name from its id, shown as text."""
    return visible(resource_id.rsplit("/", 1)[-1])


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Bad input becomes one line on stderr and a meaningful exit code; Ctrl-C and
    SIGTERM stop cleanly with 130."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        in_main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main else None
        try:
            return func(*args, **kwargs)
        except KeyboardInterrupt:
            fail("interrupted", exitcodes.INTERRUPTED)
        except (ConfigError, CredentialError) as exc:
            fail(redact(str(exc)), exitcodes.USAGE)
        except JournalWriteError as exc:
            fail(str(exc), exitcodes.ITEMS_FAILED)
        except PluginSelectionError as exc:
            fail(str(exc), exitcodes.USAGE)
        except PluginLoadError as exc:
            fail(str(exc), exitcodes.PLUGIN_ERROR)
        except Exception as exc:
            from azure.core.exceptions import AzureError

            if isinstance(exc, AzureError):
                fail(describe_error(exc), exitcodes.USAGE)
            if logging.getLogger().isEnabledFor(logging.DEBUG):
                raise
            fail(
                f"internal error: {describe_error(exc)} (run with -vv for the traceback)",
                exitcodes.INTERNAL,
            )
        finally:
            if in_main:
                signal.signal(signal.SIGTERM, previous)

    return wrapper


def _on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def config_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by every command that reads a replication config."""
    decorators = [
        click.option(
            "--config",
            "config_path",
            type=click.Path(path_type=Path),
            required=True,
            help="Replication config file (TOML, YAML or JSON).",
        ),
        click.option(
            "--type",
            "types",
            multiple=True,
            metavar="TYPE",
            help="Only this ARM resource type (repeatable).",
        ),
        click.option(
            "--source-resource-group",
            "source_groups",
            multiple=True,
            metavar="NAME",
            help="Only resources in this source resource group (repeatable).",
        ),
        click.option(
            "--resource-group",
            "--target-resource-group",
            "target_group",
            default="",
            metavar="NAME",
            help="Target resource group holding the counterparts.",
        ),
        click.option(
            "--inventory",
            default="",
            metavar="FILE",
            help="Source resources from a JSON file (az resource list / ATG export).",
        ),
        click.option(
            "--option",
            "raw_options",
            multiple=True,
            metavar="KEY=VALUE",
            help="Plugin option, e.g. keyvault.placeholder=TBD (repeatable).",
        ),
        click.option(
            "--all-versions", is_flag=True, help="Copy every version, not only the current one."
        ),
        click.option(
            "--interactive",
            is_flag=True,
            help="Allow interactive browser sign-in; choose the mode interactively.",
        ),
        click.option(
            "--concurrency",
            default=DEFAULT_CONCURRENCY,
            show_default=True,
            type=click.IntRange(1, 512),
            help="Items copied (replicate) or compared (verify) at once, overall.",
        ),
        click.option("--sp-client-id", default="", help="Target service principal client id."),
        click.option(
            "--sp-client-secret",
            default="",
            hidden=True,
            help="Deprecated: exposes the secret in the process list.",
        ),
        click.option(
            "--sp-client-secret-env",
            default="",
            metavar="VAR",
            help="Environment variable holding the target principal's secret.",
        ),
        click.option(
            "--sp-client-secret-file",
            default="",
            metavar="FILE",
            help="File holding the target principal's secret.",
        ),
        click.option("--sp-tenant-id", default="", help="Target tenant id."),
        output_option,
        verbosity_options,
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def _parse_options(raw: tuple[str, ...], all_versions: bool) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for entry in raw:
        if "=" not in entry:
            raise ConfigError(f"--option {entry!r} must be KEY=VALUE")
        key, value = entry.split("=", 1)
        options[key.strip()] = {"true": True, "false": False}.get(value.lower(), value)
    if all_versions:
        options["all_versions"] = True
    return options


def build_config(params: dict[str, Any]) -> ReplicationConfig:
    config = load_config(params["config_path"])
    sp_id = params.get("sp_client_id") or ""
    credential = None
    if sp_id:
        credential = CredentialConfig(
            client_id=sp_id,
            tenant_id=params.get("sp_tenant_id") or config.target.tenant_id,
            client_secret=params.get("sp_client_secret") or "",
            client_secret_env=params.get("sp_client_secret_env") or "",
            client_secret_file=params.get("sp_client_secret_file") or "",
        )
        if not credential.explicit:
            raise ConfigError(
                "--sp-client-id needs --sp-client-secret-file or --sp-client-secret-env"
            )
    return with_overrides(
        config,
        types=tuple(params.get("types") or ()),
        source_groups=tuple(params.get("source_groups") or ()),
        target_group=params.get("target_group") or "",
        target_tenant=params.get("sp_tenant_id") or "",
        target_credential=credential,
        inventory=params.get("inventory") or "",
        options=_parse_options(
            tuple(params.get("raw_options") or ()), bool(params.get("all_versions"))
        ),
    )


def connect(
    state: AppState, params: dict[str, Any], config: ReplicationConfig | None = None
) -> Runtime:
    """The API session for a command's options (:func:`atg_dataplane.api.connect`)."""
    return api.connect(
        config or build_config(params),
        host=state.host,
        interactive=bool(params.get("interactive")),
        concurrency=int(params.get("concurrency") or DEFAULT_CONCURRENCY),
    )


def output_of(output: str, params: dict[str, Any]) -> Output:
    return Output(output, params.get("query"))


def with_status(pairs: Iterable[ResourcePair], verb: str) -> Iterator[ResourcePair]:
    """Show which resource is being worked on, when stderr is a terminal."""
    console = Console(stderr=True)
    if not console.is_terminal:
        yield from pairs
        return
    with console.status(f"{verb}...") as status:
        for pair in pairs:
            status.update(f"{verb} {pair.source.resource.name} ({pair.spec.resource_type})")
            yield pair


def print_coverage(console: Console, coverage: Coverage) -> None:
    """The resources no installed plugin serves, with the package to install."""
    message = coverage.message()
    if message:
        console.print(f"warning: {visible(message)}", style="yellow", soft_wrap=True)


def grouped(group: dict[str, Any]) -> str:
    """``name``, or ``12 items (a, b, c, ...)`` for a reason many items share."""
    names = ", ".join(visible(n) for n in group["names"])
    if group["count"] == 1:
        return names
    more = ", ..." if group["count"] > len(group["names"]) else ""
    return f"{group['count']} items ({names}{more})"
