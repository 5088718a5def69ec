"""Text for people that never interprets user data: tenants' names, metadata and reasons
with every control and direction character shown escaped (:func:`visible`), and as a
Markdown table cell (:func:`markdown_cell`). Pure functions: no console here
(:mod:`atg_dataplane.display` builds on them)."""

from __future__ import annotations

import re
from typing import Any

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


def markdown_cell(text: Any) -> str:
    """A Markdown table cell: visible, with ``|`` and the characters Markdown would
    format escaped."""
    return re.sub(r"([\\|`*_\[\]<>#])", r"\\\1", visible(text))
