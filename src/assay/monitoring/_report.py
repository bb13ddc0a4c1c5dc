"""A window as a self-contained HTML page: the verdict, the table of columns, and each column's
distribution in the window beside the reference's (matplotlib, imported only here)."""

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
