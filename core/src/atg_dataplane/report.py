"""Verification reports as Markdown or HTML (no values, only names and verdicts).

Both carry the same: when and against what the comparison ran (date, run id, tool and
plugin versions, both tenants and subscriptions, mode), fidelity and coverage overall and
per type (a bar chart in HTML), the counts per kind, and every item that does not match
with its reason and remedy (a filterable table in HTML). The HTML is one self-contained
file: no script or style is fetched from anywhere.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from atg_dataplane.coverage import install_hint
from atg_dataplane.text import markdown_cell, visible
from atg_dataplane.verify import VerifyReport

STATUSES = ("matching", "different", "missing", "not_copyable")


def _types(report: VerifyReport) -> list[dict[str, Any]]:
    """One row per resource type: fidelity, coverage (resources served / found), counts."""
    by_type = report.by_type()
    coverage = report.coverage
    names = sorted(set(by_type) | set(coverage.served) | set(coverage.unserved))
    rows = []
    for name in names:
        row = by_type.get(name, {})
        served, unserved = coverage.served.get(name, 0), coverage.unserved.get(name, 0)
        found = served + unserved
        rows.append(
            {
                "type": name,
                "fidelity": row.get("fidelity") if name in by_type else None,
                "coverage": round(100.0 * served / found, 2) if found else 100.0,
                "resources": found,
                **{status: row.get(status, 0) for status in STATUSES},
            }
        )
    return rows


def _header(report: VerifyReport) -> list[tuple[str, str]]:
    context = report.context
    rows = [("date", context.get("date", "")), ("run", context.get("run_id") or "none yet")]
    rows.append(("mode", report.mode.value))
    rows.append(("tool", context.get("tool", "")))
    rows.append(("plugins", ", ".join(context.get("plugins", [])) or "none"))
    for side in ("source", "target"):
        ids = context.get(side) or {}
        rows.append(
            (
                side,
                f"tenant {ids.get('tenant_id', '?')}, "
                f"subscription {ids.get('subscription_id', '?')}",
            )
        )
    return rows


def _summary(report: VerifyReport) -> str:
    coverage = report.coverage
    return (
        f"Fidelity {report.fidelity:.2f} %: {report.count('matching')} of {report.compared} "
        f"copyable items match; {report.count('not_copyable')} cannot be copied. "
        f"Coverage {coverage.percent:.2f} %: {sum(coverage.served.values())} of "
        f"{coverage.found} resources are served by an installed plugin."
    )


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} %"


def to_markdown(report: VerifyReport) -> str:
    lines = ["# atg-dataplane verification", "", "| | |", "|---|---|"]
    lines += [f"| {key} | {markdown_cell(value)} |" for key, value in _header(report)]
    lines += ["", f"**{_summary(report)}**", "", "## By type", ""]
    lines += [
        "| type | fidelity | coverage | resources | matching | different | missing | "
        "not copyable |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in _types(report):
        bar = "█" * round((row["fidelity"] or 0) / 10)
        lines.append(
            f"| {markdown_cell(row['type'])} | {_percent(row['fidelity'])} {bar} | "
            f"{_percent(row['coverage'])} | {row['resources']} | {row['matching']} | "
            f"{row['different']} | {row['missing']} | {row['not_copyable']} |"
        )
    lines += ["", "## By kind", "", "| type | kind | " + " | ".join(STATUSES) + " |"]
    lines.append("|---|---|" + "---|" * len(STATUSES))
    for rtype, row in sorted(report.by_type().items()):
        for kind, counts in sorted(row["by_kind"].items()):
            cells = [str(counts.get(s, 0)) for s in STATUSES]
            lines.append(
                f"| {markdown_cell(rtype)} | {markdown_cell(kind)} | " + " | ".join(cells) + " |"
            )
    others = [v for v in report.verdicts if v.status != "matching"]
    if others:
        lines += ["", "## Items that do not match", ""]
        lines += [
            "| status | resource | kind | name | reason and remedy |",
            "|---|---|---|---|---|",
        ]
        for v in others:
            found = (v.status, v.resource_id.rsplit("/", 1)[-1], v.kind, v.name, v.detail)
            lines.append("| " + " | ".join(markdown_cell(c) for c in found) + " |")
        if report.unlisted:
            lines += ["", f"... and {report.unlisted} more not listed."]
    if report.coverage.unserved:
        lines += ["", "## Resources no installed plugin serves", ""]
        lines += [
            f"- {markdown_cell(t)}: {n} -> `{install_hint(t)}`"
            for t, n in sorted(report.coverage.unserved.items())
        ]
    if report.missing_targets:
        lines += ["", "## Resources without a target", ""]
        lines += [f"- {markdown_cell(p)}" for p in report.missing_targets]
    return "\n".join(lines) + "\n"


_STYLE = (
    "body{font-family:sans-serif;margin:2em;color:#222}td,th{border:1px solid #ccc;"
    "padding:4px 8px;text-align:left}table{border-collapse:collapse;margin-bottom:1.5em}"
    ".bar{background:#eee;width:200px;height:12px;display:inline-block;vertical-align:middle}"
    ".bar span{display:block;height:12px}.ok{background:#2e7d32}.low{background:#c62828}"
    ".cov{background:#1565c0}th{background:#f5f5f5}"
)
_FILTER = (
    "function f(){var q=document.getElementById('q').value.toLowerCase(),"
    "s=document.getElementById('s').value;document.querySelectorAll('#items tr.item')"
    ".forEach(function(r){var t=r.textContent.toLowerCase();r.style.display="
    "(t.indexOf(q)>=0&&(!s||r.dataset.status==s))?'':'none'})}"
)


def to_html(report: VerifyReport) -> str:
    def esc(text: Any) -> str:
        return html.escape(visible(text))

    def bar(value: float | None, kind: str) -> str:
        if value is None:
            return "-"
        css = kind if kind == "cov" else "ok" if value >= 100 else "low"
        return (
            f"<span class='bar'><span class='{css}' style='width:{value:.0f}%'></span></span> "
            f"{value:.2f} %"
        )

    head = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in _header(report))
    types = "".join(
        f"<tr><td>{esc(r['type'])}</td><td>{bar(r['fidelity'], 'fid')}</td>"
        f"<td>{bar(r['coverage'], 'cov')}</td><td>{r['resources']}</td>"
        + "".join(f"<td>{r[s]}</td>" for s in STATUSES)
        + "</tr>"
        for r in _types(report)
    )
    kinds = "".join(
        f"<tr><td>{esc(rtype)}</td><td>{esc(kind)}</td>"
        + "".join(f"<td>{counts.get(s, 0)}</td>" for s in STATUSES)
        + "</tr>"
        for rtype, row in sorted(report.by_type().items())
        for kind, counts in sorted(row["by_kind"].items())
    )
    others = [v for v in report.verdicts if v.status != "matching"]
    items = "".join(
        f"<tr class='item' data-status='{esc(v.status)}'><td>{esc(v.status)}</td>"
        f"<td>{esc(v.resource_id.rsplit('/', 1)[-1])}</td><td>{esc(v.kind)}</td>"
        f"<td>{esc(v.name)}</td><td>{esc(v.detail)}</td></tr>"
        for v in others
    )
    options = "".join(f"<option value='{s}'>{s}</option>" for s in STATUSES[1:] if report.count(s))
    unserved = "".join(
        f"<li>{esc(t)}: {n} &rarr; <code>{esc(install_hint(t))}</code></li>"
        for t, n in sorted(report.coverage.unserved.items())
    )
    status_cols = "".join(f"<th>{s.replace('_', ' ')}</th>" for s in STATUSES)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        "<title>atg-dataplane verification</title>",
        f"<style>{_STYLE}</style><script>{_FILTER}</script></head><body>",
        "<h1>atg-dataplane verification</h1>",
        f"<table>{head}</table>",
        f"<p><strong>{esc(_summary(report))}</strong></p>",
        "<h2>By type</h2><table><tr><th>type</th><th>fidelity</th><th>coverage</th>"
        f"<th>resources</th>{status_cols}</tr>{types}</table>",
        f"<h2>By kind</h2><table><tr><th>type</th><th>kind</th>{status_cols}</tr>{kinds}</table>",
    ]
    if others:
        parts += [
            "<h2>Items that do not match</h2>",
            "<p><input id='q' placeholder='filter by any text' oninput='f()'> "
            f"<select id='s' onchange='f()'><option value=''>every status</option>{options}"
            "</select></p>",
            "<table id='items'><tr><th>status</th><th>resource</th><th>kind</th><th>name</th>"
            f"<th>reason and remedy</th></tr>{items}</table>",
        ]
        if report.unlisted:
            parts.append(f"<p>... and {report.unlisted} more not listed.</p>")
    if unserved:
        parts.append(f"<h2>Resources no installed plugin serves</h2><ul>{unserved}</ul>")
    if report.missing_targets:
        parts.append("<h2>Resources without a target</h2><ul>")
        parts += [f"<li>{esc(p)}</li>" for p in report.missing_targets]
        parts.append("</ul>")
    parts.append("</body></html>\n")
    return "".join(parts)


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
