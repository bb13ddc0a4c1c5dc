"""Plotting a metric's history to PNG, or to a self-contained HTML page (inline SVG)."""

from __future__ import annotations

import html
import io
from pathlib import Path

from assay._atomic import write_bytes_atomic, write_text_atomic


def plot_history(history: list[tuple[int, float, float]], key: str, dest: Path) -> None:
    """Draw value over step; ``dest`` ending in .png gives a PNG, .html an HTML page."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([s for s, _, _ in history], [v for _, v, _ in history], marker="o", markersize=3)
    ax.set_xlabel("step")
    ax.set_ylabel(key)
    ax.set_title(key)
    ax.grid(alpha=0.3)
    buffer = io.BytesIO()
    if dest.suffix.lower() == ".png":
        fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        plt.close(fig)
        write_bytes_atomic(dest, buffer.getvalue())
        return
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    svg = buffer.getvalue().decode()
    svg = svg[svg.index("<svg"):]
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(key)}"
            f"</title></head><body><h1>{html.escape(key)}</h1>{svg}</body></html>\n")
    write_text_atomic(dest, page)
