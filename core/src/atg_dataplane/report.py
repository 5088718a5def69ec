"""Verification reports as Markdown or HTML (no values, only names and verdicts)."""

from __future__ import annotations

import html
from pathlib import Path

from atg_dataplane.text import markdown_cell, visible
from atg_dataplane.verify import VerifyReport


def to_markdown(report: VerifyReport) -> str:
    lines = [
        f"# atg-dataplane verification ({report.mode.value} mode)",
        "",
        f"**Fidelity: {report.fidelity:.2f} %** — {report.count('matching')} of "
        f"{report.compared} copyable items match; {report.count('not_copyable')} cannot be "
        "copied.",
        "",
        "| type | kind | matching | different | missing | not copyable |",
        "|---|---|---|---|---|---|",
    ]
    for rtype, row in sorted(report.by_type().items()):
        for kind, counts in sorted(row["by_kind"].items()):
            lines.append(
                f"| {rtype} | {kind} | {counts.get('matching', 0)} | "
                f"{counts.get('different', 0)} | {counts.get('missing', 0)} | "
                f"{counts.get('not_copyable', 0)} |"
            )
    others = [v for v in report.verdicts if v.status != "matching"]
    if others:
        lines += [
            "",
            "## Items that do not match",
            "",
            "| status | resource | kind | name | detail |",
            "|---|---|---|---|---|",
        ]
        for v in others:
            cells = (v.status, v.resource_id.rsplit("/", 1)[-1], v.kind, v.name, v.detail)
            lines.append("| " + " | ".join(markdown_cell(c) for c in cells) + " |")
        if report.unlisted:
            lines += ["", f"... and {report.unlisted} more not listed."]
    if report.missing_targets:
        lines += ["", "## Resources without a target", ""]
        lines += [f"- {markdown_cell(p)}" for p in report.missing_targets]
    return "\n".join(lines) + "\n"


def to_html(report: VerifyReport) -> str:
    def esc(text: str) -> str:
        return html.escape(visible(text))

    rows = []
    for rtype, row in sorted(report.by_type().items()):
        for kind, counts in sorted(row["by_kind"].items()):
            cells = [rtype, kind] + [
                str(counts.get(k, 0)) for k in ("matching", "different", "missing", "not_copyable")
            ]
            rows.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    details = []
    for v in report.verdicts:
        if v.status != "matching":
            cells = [v.status, v.resource_id.rsplit("/", 1)[-1], v.kind, v.name, v.detail]
            details.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<title>atg-dataplane verification</title>"
        "<style>body{font-family:sans-serif}td,th{border:1px solid #ccc;padding:4px}"
        "table{border-collapse:collapse;margin-bottom:1em}</style></head><body>"
        f"<h1>Verification ({esc(report.mode.value)} mode)</h1>"
        f"<p><strong>Fidelity {report.fidelity:.2f} %</strong>: {report.count('matching')} of "
        f"{report.compared} copyable items match; {report.count('not_copyable')} cannot be "
        "copied.</p><table><tr><th>type</th><th>kind</th><th>matching</th><th>different</th>"
        "<th>missing</th><th>not copyable</th></tr>"
        + "".join(rows)
        + "</table>"
        + (
            "<h2>Items that do not match</h2><table><tr><th>status</th><th>resource</th>"
            "<th>kind</th><th>name</th><th>detail</th></tr>"
            + "".join(details)
            + "</table>"
            + (f"<p>... and {report.unlisted} more not listed.</p>" if report.unlisted else "")
            if details
            else ""
        )
        + "".join(f"<p>{esc(p)}</p>" for p in report.missing_targets)
        + "</body></html>\n"
    )


FORMATS = {".html": to_html, ".htm": to_html, ".md": to_markdown}


def check_report_path(path: Path) -> None:
    """Refuse, before any work, a report that could not be written: an unknown format or a
    folder that does not exist (:class:`atg_dataplane.config.ConfigError`)."""
    from atg_dataplane.config import ConfigError

    if path.suffix.lower() not in FORMATS:
        raise ConfigError(
            f"unsupported report format {path.suffix or '(none)'!r} for {str(path)!r}: "
            "use .html, .htm or .md"
        )
    folder = path.parent
    if not folder.is_dir():
        raise ConfigError(f"the report's folder {str(folder)!r} does not exist: create it first")
    if path.is_dir():
        raise ConfigError(f"the report path {str(path)!r} is a folder: name a file")


def write_report(report: VerifyReport, path: Path) -> None:
    path.write_text(FORMATS[path.suffix.lower()](report), encoding="utf-8")
