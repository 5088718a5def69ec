"""Text for people that never interprets user data.

Names, metadata, tags, paths and reasons come from the tenants: a blob may be called
``[bold]x[/]``, ``%s{0}``, ``:smile:`` or hold an escape sequence or a right-to-left
override. Text output shows them as they are, never as console markup, emoji codes or
format strings, and shows characters that would move the cursor, recolour the terminal
or reverse the line as visible escapes (``\\x1b``, ``\\u202e``); JSON output carries them
exactly (JSON escapes them itself).

Every console of the command line comes from :func:`console`: markup, emoji codes and
highlighting are off, so a string is printed as it is, and style is given as a style.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from atg_dataplane.text import markdown_cell, visible

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["console", "markdown_cell", "visible"]

WIDTH_OFF_TERMINAL = 1000
"""Columns for text written to a file or a pipe (a CI log), where rich would assume 80,
squeeze tables and fold names across lines: wide enough that no cell is ever folded (a
table is as wide as its content); ``COLUMNS`` still decides when set."""


def console(*, stderr: bool = False, **kwargs: Any) -> Console:
    """A rich console that prints strings as they are: no markup, no emoji codes, no
    highlighting (give style with ``style=``)."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if "width" not in kwargs and not os.environ.get("COLUMNS") and not stream.isatty():
        kwargs["width"] = WIDTH_OFF_TERMINAL
    return Console(stderr=stderr, markup=False, emoji=False, highlight=False, **kwargs)
