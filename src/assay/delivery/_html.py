"""The delivery report as one self-contained HTML file: the figures as tables and three plots
(weekly deployments, the lead time distribution, the weekly change failure rate) drawn with
matplotlib and embedded as base64 PNGs. Every string from the store is escaped."""

from __future__ import annotations

import base64
import html
import io
import statistics
from typing import TYPE_CHECKING, Any

from assay.delivery._text import figure_rows

if TYPE_CHECKING:
    from assay.delivery._report import DeliveryReport

_STYLE = """body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}td,th{padding:.3rem .8rem;border-bottom:1px solid
#ddd;text-align:left}th{background:#f4f4f4}img{max-width:100%;margin:1rem 0}
.band-elite{color:#176b2c;font-weight:bold}.band-high{color:#2a7a2a}.band-medium{color:#9a6a00}
.band-low{color:#b02020}"""


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _plots(report: DeliveryReport) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    weeks = [w.week for w in report.weeks]
    at = list(range(len(weeks)))
    out = []
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.bar(at, [w.figures.deployments for w in report.weeks], color="#3b6ea8")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xticks(at, weeks, rotation=45)
    ax.set_ylabel("production deployments")
    ax.set_title("Deployments per ISO week")
    out.append(("Deployments per week", _png(fig)))
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 3))
    hours = [s / 3600 for s in report.current.lead]
    if hours:
        ax.hist(hours, bins=min(20, max(5, len(hours))), color="#5a9b5a", edgecolor="white")
        ax.axvline(statistics.median(hours), color="#222", linestyle="--", label="median")
        ax.legend()
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("lead time for changes (hours, commit to production)")
    ax.set_ylabel("changes")
    ax.set_title("Lead time distribution")
    out.append(("Lead time distribution", _png(fig)))
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 3))
    rates = [w.figures.failure_rate for w in report.weeks]
    ax.bar(at, [0.0 if r is None else 100 * r for r in rates], color="#b04040")
    for x, rate in zip(at, rates, strict=True):
        if rate is None:
            ax.text(x, 2, "-", ha="center", color="#888")
    ax.set_ylim(0, 100)
    ax.set_xticks(at, weeks, rotation=45)
    ax.set_ylabel("change failure rate (%)")
    ax.set_title("Change failure rate per ISO week (-: nothing finished)")
    out.append(("Change failure rate per week", _png(fig)))
    plt.close(fig)
    return out


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(text: str) -> str:
    css = f' class="band-{text}"' if text in ("elite", "high", "medium", "low") else ""
    return f"<td{css}>{html.escape(text)}</td>"


def render_html(report: DeliveryReport, *, title: str = "Delivery report") -> str:
    """The report as one HTML page (plots need matplotlib: ``pip install 'assay[plots]'``)."""
    headers, rows = figure_rows(report)
    scope = report.scope
    parts = [
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>Window {html.escape(report.current.window.label)}"
        + (f" compared with {html.escape(report.compare.window.label)}"
           if report.compare is not None else "")
        + (f"; model {html.escape(scope.model)}" if scope.model else "")
        + (f"; deployment {html.escape(scope.deployment)}" if scope.deployment else "")
        + ". Definitions and bands: docs/delivery.md.</p>",
        "<h2>Figures</h2>", _table(headers, rows),
    ]
    if report.current.serving:
        parts += ["<h2>In production</h2>", _table(
            ["deployment", "model", "version", "serving since", "age (days)"],
            [[str(s["deployment"]), str(s["model"]), str(s["version"]), str(s["serving_since"]),
              f"{s['age_seconds'] / 86400:.1f}"] for s in report.current.serving])]
    parts.append("<h2>Trend</h2>")
    for caption, png in _plots(report):
        parts.append(f'<figure><img alt="{html.escape(caption)}" '
                     f'src="data:image/png;base64,{png}"><figcaption>{html.escape(caption)}'
                     "</figcaption></figure>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
