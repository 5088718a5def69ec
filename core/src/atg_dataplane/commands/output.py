"""Output as the az CLI gives it: ``-o/--output json|jsonc|yaml|table|tsv|none`` and
``--query`` (JMESPath) on every command that prints data.

``table`` (alias ``text``, the default) is for people: each command's own tables and
lines, or, with ``--query``, the queried data as one table. The others are for scripts:
``json`` (``replicate`` streams one JSON line per progress event, then its summary),
``jsonc`` (coloured when stdout is a terminal), ``yaml``, ``tsv`` (one line per element,
tab-separated values, no header) and ``none`` (nothing: the exit code says it all).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

import click

from atg_dataplane import display
from atg_dataplane.config import ConfigError

FORMATS = ("table", "text", "json", "jsonc", "yaml", "tsv", "none")
PEOPLE = ("table", "text")


def output_option(func: Any) -> Any:
    func = click.option(
        "--query",
        default=None,
        metavar="JMESPATH",
        help='JMESPath query applied to the output data, e.g. "by_type.*.fidelity".',
    )(func)
    return click.option(
        "--output",
        "-o",
        type=click.Choice(FORMATS),
        default="table",
        show_default=True,
        help="table (text) for people; json, jsonc, yaml, tsv for scripts; none for nothing.",
    )(func)


@dataclass(frozen=True)
class Output:
    format: str = "table"
    query: str | None = None

    def __post_init__(self) -> None:
        if self.query:  # checked before any work, not after it
            import jmespath
            from jmespath.exceptions import JMESPathError

            try:
                jmespath.compile(self.query)
            except JMESPathError as exc:
                raise ConfigError(f"--query {self.query!r} is not valid JMESPath: {exc}") from None

    @property
    def for_people(self) -> bool:
        return self.format in PEOPLE

    def emit(self, data: Any) -> bool:
        """Print ``data`` unless the output is for people without a query (then the command
        renders it its own way and this returns False)."""
        if self.query:
            import jmespath

            data = jmespath.search(self.query, _plain(data))
        elif self.for_people:
            return False
        if self.format == "none":
            return True
        click.echo(render(_plain(data), self.format), nl=False)
        return True


def render(data: Any, fmt: str) -> str:
    """``data`` (JSON-like) as text in ``fmt``, ending with a newline."""
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    if fmt == "jsonc":
        text = json.dumps(data, indent=2)
        if sys.stdout.isatty():
            from rich.console import Console

            with (console := Console(highlight=False, markup=False)).capture() as captured:
                console.print_json(text)
            return captured.get()
        return text + "\n"
    if fmt == "yaml":
        import yaml

        return str(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    if fmt == "tsv":
        rows = data if isinstance(data, list) else [data]
        return "".join("\t".join(_cells(row)) + "\n" for row in rows)
    return _table(data)


def _plain(data: Any) -> Any:
    """JSON types only (dates, paths and enums as strings)."""
    return json.loads(json.dumps(data, default=str))


def _cells(row: Any) -> list[str]:
    values = row.values() if isinstance(row, dict) else [row]
    return [
        display.visible(v if isinstance(v, str) else json.dumps(v) if v is not None else "")
        for v in values
    ]


def _table(data: Any) -> str:
    """The queried data as one table: a list of objects gets a column per key."""
    from rich.table import Table

    rows = data if isinstance(data, list) else [data]
    keys: list[str] = []
    for row in rows:
        for key in row if isinstance(row, dict) else ["value"]:
            if key not in keys:
                keys.append(key)
    table = Table(show_edge=False)
    for key in keys:
        table.add_column(display.visible(key), overflow="fold")
    for row in rows:
        cells = row if isinstance(row, dict) else {"value": row}
        table.add_row(*_cells({k: cells.get(k) for k in keys}))
    console = display.console()
    with console.capture() as captured:
        console.print(table)
    return captured.get()
