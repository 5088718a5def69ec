"""Text for people shows user data as it is: never as markup, emoji codes or format
strings, and never a control or direction character raw (pure logic)."""

from __future__ import annotations

import html
import io
import logging

from atg_dataplane.display import console, markdown_cell, visible
from atg_dataplane.models import ReplicationMode
from atg_dataplane.redact import RedactingFilter
from atg_dataplane.report import to_html, to_markdown
from atg_dataplane.verify import ItemVerdict, VerifyReport

HOSTILE = [
    "[bold]x[/]",
    "[/]",
    "{0}%s%(x)s",
    ":smile:",
    "back\\slash",
    "esc-\x1b[31mred",
    "rtl-\u202egnp.exe",
    "bell\x07nul\x00del\x7fc1\x9b",
    "tab\tnew\nline",
    "iso\u2066late\u2069",
]


def test_controls_and_direction_marks_are_shown_escaped_and_nothing_else_changes() -> None:
    assert visible("esc-\x1b[31mred") == "esc-\\x1b[31mred"
    assert visible("rtl-\u202egnp.exe") == "rtl-\\u202egnp.exe"
    assert visible("bell\x07nul\x00del\x7fc1\x9b") == "bell\\x07nul\\x00del\\x7fc1\\x9b"
    assert visible("tab\tnew\nline", keep="\n\t") == "tab\tnew\nline"
    for plain in ("[bold]x[/]", "{0}%s%(x)s", ":smile:", "back\\slash", "ünïcode ✓"):
        assert visible(plain) == plain


def test_the_console_prints_markup_emoji_and_controls_as_text() -> None:
    buffer = io.StringIO()
    out = console(file=buffer, width=200)
    for name in HOSTILE:
        out.print(visible(name), style="red")
    text = buffer.getvalue()
    assert "\x1b" not in text and "\u202e" not in text and "\x00" not in text
    for name in HOSTILE:
        assert visible(name) in text, name
    assert "😄" not in text  # :smile: stayed a name


def test_reports_escape_names_for_their_format() -> None:
    report = VerifyReport(mode=ReplicationMode.REPLICATION)
    for n, name in enumerate(HOSTILE):
        report.add(ItemVerdict("/subscriptions/s/x/r", "T/t", "blob", name, "missing", f"d{n}"))
    page = to_html(report)
    markdown = to_markdown(report)
    assert "\x1b" not in page + markdown and "\u202e" not in page + markdown
    hostile = to_html(
        _one(VerifyReport(mode=ReplicationMode.TEMPLATE), "<script>alert(1)</script>")
    )
    assert "<script>alert" not in hostile and hostile.count("<script>") == 1  # the filter
    for name in HOSTILE:
        assert html.escape(visible(name)) in page, name
        assert markdown_cell(name) in markdown, name
    rows = [line for line in markdown.splitlines() if line.startswith("| missing")]
    assert all(row.count(" | ") == 4 for row in rows)  # a | in a name splits no cell


def _one(report: VerifyReport, name: str) -> VerifyReport:
    report.add(ItemVerdict("/subscriptions/s/x/r", "T/t", "blob", name, "missing", ""))
    return report


def test_log_lines_show_controls_escaped_and_keep_their_lines() -> None:
    record = logging.LogRecord(
        "t", logging.INFO, __file__, 1, "copied %s\nnext", ("esc\x1b[2J",), None
    )
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "copied esc\\x1b[2J\nnext"
