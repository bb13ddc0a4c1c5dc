"""Render a :class:`ContractReport`: terminal table, JSON, Markdown, HTML, JUnit XML."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape, quoteattr

from assay._atomic import write_text_atomic
from assay.contracts._result import CheckResult, ContractReport

if TYPE_CHECKING:
    from rich.console import Console

_MARK = {"pass": "PASS", "fail": "FAIL", "insufficient": "N/A", "skipped": "SKIP"}


def _status(check: CheckResult) -> str:
    if check.status == "fail":
        return "FAIL" if check.severity == "error" else "WARN"
    return _MARK[check.status]


def _observed(check: CheckResult) -> str:
    value = check.observed
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _rows(check: CheckResult) -> str:
    if check.failing_rows is None:
        return ""
    frac = f" ({check.failing_fraction:.2%})" if check.failing_fraction is not None else ""
    return f"{check.failing_rows:,}{frac}"


def summary_line(report: ContractReport) -> str:
    """``contract 'churn' on data/x.parquet: 12 checks, 2 errors, 1 warning (0.21s)``."""
    verdict = "passed" if report.passed else "FAILED"
    rows = f"{report.rows:,} rows, " if report.rows is not None else ""
    skipped = f", {report.skipped} skipped" if report.skipped else ""
    return (
        f"contract '{report.contract}' {verdict} on {report.data}: {rows}{len(report.checks)} checks, "
        f"{report.errors} errors, {report.warnings} warnings, {report.insufficient} insufficient"
        f"{skipped} ({report.duration_s:.2f}s, {report.engine})"
    )


def print_report(report: ContractReport, console: Console, *, verbose: bool = False) -> None:
    """A rich table of the checks that did not pass (every check when ``verbose``), then a summary.

    Sample failing rows are shown compactly: the check's column next to the first column.
    """
    from rich.table import Table

    from assay._console import escape as markup_escape

    shown = [c for c in report.checks if verbose or c.status != "pass"]
    if shown:
        table = Table(title=markup_escape(f"contract {report.contract}: {report.data}"),
                      title_justify="left")
        for column in ("status", "check", "expected", "observed", "failing rows"):
            table.add_column(column, no_wrap=True)
        table.add_column("message")
        styles = {"FAIL": "bold red", "WARN": "yellow", "PASS": "green", "N/A": "dim",
                  "SKIP": "dim"}
        for check in shown:
            status = _status(check)
            table.add_row(f"[{styles[status]}]{status}[/]", markup_escape(check.id),
                          markup_escape(check.expected), markup_escape(_observed(check)),
                          _rows(check), markup_escape(check.message))
        console.print(table)
    for check in report.checks:
        if check.failed and check.samples:
            first = report.columns[0] if report.columns else None
            keys = [k for k in (first, *(check.column or "").split(",")) if k]
            compact = [{k: row.get(k) for k in dict.fromkeys(keys) if k in row} or row
                       for row in check.samples[:3]]
            console.print(markup_escape(f"  {check.id}: e.g. " + "; ".join(
                json.dumps(r, default=str) for r in compact)), soft_wrap=True)
    console.print(markup_escape(summary_line(report)), soft_wrap=True)


def to_json(report: ContractReport) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=True, default=str)


def to_markdown(report: ContractReport) -> str:
    """A Markdown summary for pull-request comments."""
    icon = {"FAIL": ":x:", "WARN": ":warning:", "PASS": ":white_check_mark:", "N/A": ":grey_question:",
            "SKIP": ":fast_forward:"}
    lines = [
        f"### Data contract `{report.contract}`: {'passed' if report.passed else 'FAILED'}",
        "",
        f"Data `{report.data}`, {report.rows if report.rows is not None else '?'} rows; "
        f"{report.errors} errors, {report.warnings} warnings, {report.insufficient} insufficient"
        f"{f', {report.skipped} skipped' if report.skipped else ''}.",
        "",
        "| | check | expected | observed | failing rows | message |",
        "|---|---|---|---|---|---|",
    ]
    for check in report.checks:
        cells = [icon[_status(check)], f"`{check.id}`", check.expected, _observed(check),
                 _rows(check), check.message]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def to_junit(report: ContractReport) -> str:
    """JUnit XML, one test case per check (warnings are reported as passing with output)."""
    failures = report.errors
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f"<testsuites><testsuite name={quoteattr('contract.' + report.contract)} "
        f'tests="{len(report.checks)}" failures="{failures}" errors="0" '
        f'skipped="{report.insufficient + report.skipped}" time="{report.duration_s:.3f}">',
    ]
    for check in report.checks:
        out.append(f"<testcase classname={quoteattr('contract.' + report.contract)} "
                   f"name={quoteattr(check.id)} time=\"0\">")
        text = f"{check.message} (expected {check.expected}; observed {_observed(check)})"
        if check.is_error:
            out.append(f"<failure message={quoteattr(check.message)} type=\"{check.kind}\">"
                       f"{escape(text)}\n{escape(json.dumps(check.samples, default=str))}</failure>")
        elif check.status in ("insufficient", "skipped"):
            out.append(f"<skipped message={quoteattr(check.message)}/>")
        elif check.failed:
            out.append(f"<system-out>{escape('WARNING: ' + text)}</system-out>")
        out.append("</testcase>")
    out.append("</testsuite></testsuites>")
    return "\n".join(out) + "\n"


def _plot(check: CheckResult) -> str | None:
    """An inline PNG (base64) of reference vs current shares for a drift check."""
    details = check.details
    if "reference_counts" not in details:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    ref = np.asarray(details["reference_counts"], dtype=float)
    cur = np.asarray(details["current_counts"], dtype=float)
    ref = ref / ref.sum() if ref.sum() else ref
    cur = cur / cur.sum() if cur.sum() else cur
    labels: list[str] = details.get("labels") or [str(i) for i in range(len(ref))]
    x = np.arange(len(ref))
    fig, ax = plt.subplots(figsize=(7, 2.8), dpi=80)
    ax.bar(x - 0.2, ref, width=0.4, label="reference", color="#7f9cc7")
    ax.bar(x + 0.2, cur, width=0.4, label="current", color="#e08a5b")
    ax.set_xticks(x)
    ax.set_xticklabels(labels, rotation=45 if len(labels) > 6 else 0, ha="right", fontsize=7)
    ax.set_ylabel("share")
    ax.set_title(f"{check.column}: {check.message}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def to_html(report: ContractReport, *, plots: bool = True) -> str:
    """A self-contained HTML page (inline CSS and PNG plots, no external requests);
    ``plots=False`` leaves the plots out (and says so), as a light CI profile may ask."""
    esc = html.escape
    rows = []
    for check in report.checks:
        status = _status(check)
        samples = ""
        if check.samples:
            samples = "<details><summary>sample rows</summary><pre>" + esc(
                "\n".join(json.dumps(r, default=str) for r in check.samples)) + "</pre></details>"
        rows.append(
            f'<tr class="{status.lower().replace("/", "")}"><td>{status}</td><td>{esc(check.id)}</td>'
            f"<td>{esc(check.severity)}</td><td>{esc(check.owner or '')}</td>"
            f"<td>{esc(check.expected)}</td><td>{esc(_observed(check))}</td>"
            f"<td>{esc(_rows(check))}</td><td>{esc(check.message)}{samples}</td></tr>"
        )
    images = []
    for check in report.checks if plots else []:
        image = _plot(check)
        if image:
            images.append(f'<figure><img alt="{esc(check.id)}" src="data:image/png;base64,{image}">'
                         f"<figcaption>{esc(check.id)}</figcaption></figure>")
    verdict = "passed" if report.passed else "FAILED"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>contract {esc(report.contract)}: {verdict}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}
table{{border-collapse:collapse;width:100%;font-size:13px}}
td,th{{border:1px solid #ddd;padding:4px 6px;vertical-align:top;text-align:left}}
tr.fail td:first-child{{background:#f8d7da;font-weight:bold}}
tr.warn td:first-child{{background:#fff3cd}}
tr.pass td:first-child{{background:#d4edda}}
tr.na td:first-child,tr.skip td:first-child{{background:#eee}}
figure{{display:inline-block;margin:0.5em}}
</style></head><body>
<h1>Data contract <code>{esc(report.contract)}</code>: {verdict}</h1>
<p>Data <code>{esc(report.data)}</code>{' vs reference <code>' + esc(report.reference) + '</code>' if report.reference else ''};
{report.rows if report.rows is not None else '?'} rows; {len(report.checks)} checks:
{report.errors} errors, {report.warnings} warnings, {report.insufficient} insufficient,
{report.skipped} skipped; {report.duration_s:.2f}s ({esc(report.engine)} engine); data hash <code>{esc(report.data_hash or '-')}</code>.</p>
<table><thead><tr><th>status</th><th>check</th><th>severity</th><th>owner</th><th>expected</th>
<th>observed</th><th>failing rows</th><th>message</th></tr></thead><tbody>
{''.join(rows)}
</tbody></table>
{'<h2>Distributions vs reference</h2>' + ''.join(images) if images else ''}
{'' if plots else '<p>Plots left out (<code>plots: false</code>).</p>'}
</body></html>
"""


def write_reports(report: ContractReport, *, json_path: Path | None = None,
                  html_path: Path | None = None, markdown_path: Path | None = None,
                  junit_path: Path | None = None, plots: bool = True) -> dict[str, str]:
    """Write the requested report files atomically (the HTML one without plots when ``plots``
    is False); returns {format: path}."""
    written: dict[str, str] = {}
    targets: list[tuple[str, Path | None, Any]] = [
        ("html", html_path, to_html), ("markdown", markdown_path, to_markdown),
        ("junit", junit_path, to_junit), ("json", json_path, None),
    ]
    for fmt, path, render in targets:
        if path is None:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        written[fmt] = str(path)
        report.report_paths[fmt] = str(path)
        text = (to_json(report) if render is None
                else to_html(report, plots=plots) if fmt == "html" else render(report))
        write_text_atomic(path, text)
    return written
