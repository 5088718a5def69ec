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
import re
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

# C0 and C1 controls (tab and newline kept where a layout needs them is the caller's
# choice: none of ours does), DEL, and the bidirectional embeddings, overrides and
# isolates that reorder what a terminal shows.
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: Any, keep: str = "") -> str:
    """``text`` as a string with every control and direction character shown escaped (but
    those in ``keep``, e.g. the newlines of a multi-line log record)."""
    if keep:
        return _INVISIBLE.sub(lambda m: m.group() if m.group() in keep else _escape(m), str(text))
    return _INVISIBLE.sub(_escape, str(text))


WIDTH_OFF_TERMINAL = 160
"""Columns for text written to a file or a pipe (a CI log), where rich would assume 80 and
squeeze tables; ``COLUMNS`` still decides when set."""


def console(*, stderr: bool = False, **kwargs: Any) -> Console:
    """A rich console that prints strings as they are: no markup, no emoji codes, no
    highlighting (give style with ``style=``)."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if "width" not in kwargs and not os.environ.get("COLUMNS") and not stream.isatty():
        kwargs["width"] = WIDTH_OFF_TERMINAL
    return Console(stderr=stderr, markup=False, emoji=False, highlight=False, **kwargs)


def markdown_cell(text: Any) -> str:
    """A Markdown table cell: visible, with ``|`` and the characters Markdown would
    format escaped."""
    return re.sub(r"([\\|`*_\[\]<>#])", r"\\\1", visible(text))
