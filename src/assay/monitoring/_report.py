"""A window as a self-contained HTML page: the verdict, the table of columns, and each column's
distribution in the window beside the reference's; and a monitor's windows as one page, each
column's drift over time (matplotlib, imported only here)."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assay.monitoring._window import ColumnResult, WindowResult


def _plot(col: ColumnResult) -> str:
    """A PNG (base64) of the reference's and the window's shares per bin or category."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    ref = np.asarray(col.reference_counts, dtype=float)
    cur = np.asarray(col.current_counts, dtype=float)
    ref = ref / ref.sum() if ref.sum() else ref
    cur = cur / cur.sum() if cur.sum() else cur
    x = np.arange(len(col.labels))
    fig, ax = plt.subplots(figsize=(7, 2.6), dpi=90)
    try:
        ax.bar(x - 0.2, ref, width=0.4, label="reference")
        ax.bar(x + 0.2, cur, width=0.4, label="window")
        ax.set_xticks(x, col.labels, rotation=60, ha="right", fontsize=7)
        ax.set_ylabel("share")
        ax.set_title(f"{col.column}: {col.status}", fontsize=10)
        ax.legend(fontsize=8)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    finally:
        plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def to_html(window: WindowResult) -> str:
    """The page (no external assets)."""
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(c.column)}</td><td>{esc(c.role)}</td><td>{esc(c.statistic or '-')}</td>"
        f"<td>{'-' if c.value is None else f'{c.value:.4g}'}</td>"
        f"<td>{'-' if c.p_value is None else f'{c.p_value:.4g}'}</td><td>{c.values}</td>"
        f"<td class='{esc(c.status)}'>{esc(c.status)}</td><td>{esc(c.reason or '')}</td></tr>"
        for c in window.columns)
    plots = "".join(
        f"<figure><img alt='{esc(c.column)}' src='data:image/png;base64,{_plot(c)}'></figure>"
        for c in window.columns if c.labels and sum(c.current_counts) > 0)
    checks = ""
    if window.data_quality is not None:
        failed = "".join(
            f"<tr><td>{esc(c['check'])}</td><td>{esc(c['severity'])}</td>"
            f"<td>{'-' if c['failed_rows'] is None else c['failed_rows']}</td>"
            f"<td>{c['rows']}</td><td>{esc(c['message'])}</td></tr>"
            for c in window.failed_checks)
        checks = (f"<h2>data quality: <span class='{esc(window.data_quality)}'>"
                  f"{esc(window.data_quality)}</span></h2><p>contract "
                  f"{esc(window.contract or '-')}: {len(window.quality_checks)} checks, "
                  f"{len(window.failed_checks)} failed</p>"
                  + ("<table><tr><th>check</th><th>severity</th><th>failed rows</th>"
                     f"<th>rows</th><th>message</th></tr>{failed}</table>" if failed else ""))
    title = f"assay monitor {window.monitor}: {window.verdict}"
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{esc(title)}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "td,th{padding:2px 8px;text-align:left}.drift,.fail{color:#b00}.pass{color:#080}"
        ".schema_mismatch{color:#a60}.insufficient_data{color:#777}</style></head><body>"
        f"<h1>{esc(title)}</h1><p>deployment {esc(window.deployment)} ({esc(window.model)} "
        f"v{esc(', '.join(window.versions) or '-')}), {window.rows} rows; reference "
        f"{esc(window.reference)}; alpha {window.alpha:g}, {esc(window.correction)}</p>"
        "<table><tr><th>column</th><th>role</th><th>statistic</th><th>value</th>"
        f"<th>p-value</th><th>values</th><th>status</th><th>note</th></tr>{rows}</table>"
        f"{checks}{plots}</body></html>")


def write_html(window: WindowResult, path: Path) -> None:
    """Write :func:`to_html` to ``path`` (atomically)."""
    from assay._atomic import write_text_atomic

    write_text_atomic(path, to_html(window))


def _over_time(windows: list[WindowResult], column: str, alpha: float) -> str:
    """A PNG (base64) of ``column``'s p-value over the windows (as -log10 p, drift in red)."""
    import math

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs: list[int] = []
    ys: list[float] = []
    drifted: list[bool] = []
    for w in windows:
        col = next((c for c in w.columns if c.column == column), None)
        if col is None or col.p_value is None or w.id is None:
            continue
        xs.append(w.id)
        ys.append(-math.log10(max(col.p_value, 1e-300)))
        drifted.append(col.status == "drift")
    fig, ax = plt.subplots(figsize=(7, 2.2), dpi=90)
    try:
        ax.plot(xs, ys, color="#555", linewidth=1)
        ax.scatter(xs, ys, c=["#b00" if d else "#080" for d in drifted], s=16, zorder=3)
        ax.axhline(-math.log10(alpha), color="#a60", linestyle="--", linewidth=1,
                   label=f"alpha {alpha:g} (before the correction)")
        ax.set_xlabel("window")
        ax.set_ylabel("-log10 p")
        ax.set_title(f"{column}: drift over time (red: drift)", fontsize=10)
        ax.legend(fontsize=7, loc="upper left")
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    finally:
        plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def history_to_html(monitor: str, windows: list[WindowResult]) -> str:
    """A monitor's windows as one page: each window's verdict, and per column its drift over
    the windows beside its distribution in the newest window (no external assets)."""
    esc = html.escape
    rows = "".join(
        f"<tr><td>{w.id}</td><td>{esc(_when(w.created_at))}</td><td>{w.rows}</td>"
        f"<td>{esc(', '.join(w.versions) or '-')}</td>"
        f"<td class='{esc(w.verdict)}'>{esc(w.verdict)}</td>"
        f"<td>{esc(', '.join(w.drifted) or '-')}</td>"
        f"<td class='{esc(w.data_quality or '')}'>{esc(w.data_quality or '-')}</td></tr>"
        for w in windows)
    newest = windows[-1] if windows else None
    sections = []
    if newest is not None:
        for col in newest.columns:
            over = _over_time(windows, col.column, newest.alpha)
            now = (f"<img alt='{esc(col.column)} in window {newest.id}' "
                   f"src='data:image/png;base64,{_plot(col)}'>"
                   if col.labels and sum(col.current_counts) > 0 else "")
            sections.append(f"<h3>{esc(col.column)}</h3><figure><img alt='{esc(col.column)} "
                            f"over time' src='data:image/png;base64,{over}'>{now}</figure>")
    title = f"assay monitor history {monitor}"
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{esc(title)}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "td,th{padding:2px 8px;text-align:left}.drift,.fail{color:#b00}.pass{color:#080}"
        ".schema_mismatch{color:#a60}.insufficient_data{color:#777}</style></head><body>"
        f"<h1>{esc(title)}</h1><p>{len(windows)} window(s), oldest first"
        + (f"; reference {esc(newest.reference)}" if newest is not None else "") + "</p>"
        "<table><tr><th>#</th><th>computed (UTC)</th><th>rows</th><th>versions</th>"
        f"<th>verdict</th><th>drifted</th><th>data quality</th></tr>{rows}</table>"
        f"{''.join(sections)}</body></html>")


def write_history_html(monitor: str, windows: list[WindowResult], path: Path) -> None:
    """Write :func:`history_to_html` to ``path`` (atomically)."""
    from assay._atomic import write_text_atomic

    write_text_atomic(path, history_to_html(monitor, windows))


def _when(ts: float | None) -> str:
    import time

    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))
