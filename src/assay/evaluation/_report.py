"""Evaluation reports: JSON (machine), Markdown (pull-request comment), HTML with plots (people),
JUnit XML (CI test UIs, one test case per gate and candidate) and a terminal table."""

from __future__ import annotations

import base64
import html
import io
import json
import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from assay._atomic import write_text_atomic
from assay.metrics import is_higher_better

EVALUATION_FILE = "evaluation.json"
CURVES_FILE = "curves.json"
_SHOWN = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "pr_auc",
    "log_loss",
    "brier",
    "ece",
    "rmse",
    "mae",
    "mape",
    "r2",
)


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def _shown_metrics(report: dict[str, Any], dataset: str) -> list[str]:
    seen: list[str] = []
    for cand in report["candidates"]:
        for metric in cand["metrics"].get(dataset, {}).get("all", {}):
            if metric in _SHOWN and metric not in seen:
                seen.append(metric)
    return sorted(seen, key=_SHOWN.index)


def _datasets(report: dict[str, Any]) -> list[str]:
    names: list[str] = []
    for cand in report["candidates"]:
        for name in cand["metrics"]:
            if name not in names:
                names.append(name)
    return names


def _cell(value: Any) -> str:
    """A name in a Markdown table cell: on one line, ``|`` escaped so it stays in its cell, and
    a ``<`` that could open an HTML tag escaped (``<=`` stays as it is); candidate, dataset and
    gate names come from users."""
    flat = " ".join(str(value).split()).replace("|", "\\|")
    return re.sub(r"<(?=[A-Za-z/!?])", r"\\<", flat)


def _verdict(cand: dict[str, Any], report: dict[str, Any]) -> str:
    selected = report.get("selected") or {}
    if cand["is_champion"]:
        return "champion"
    if selected.get("candidate") == cand["candidate"]:
        return "selected"
    return "passed" if cand["passed"] else "FAILED"


def _baseline_values(report: dict[str, Any], dataset: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = (
        (report.get("baseline") or {}).get("metrics", {}).get(dataset, {}).get("all"))
    return found


def _baseline_name(report: dict[str, Any]) -> str:
    return f"baseline ({report['baseline']['model']})"


def positive_class_line(report: dict[str, Any]) -> str | None:
    """The sentence naming the class that precision, recall and F1 measure (binary only)."""
    if report.get("positive_class") is None:
        return None
    how = ("pos_label" if report.get("pos_label") is not None
           else "the class that sorts last; set pos_label to choose")
    return f"Positive class: {report['positive_class']!r} ({how})."


def multiplicity_line(report: dict[str, Any]) -> str | None:
    """How interval gates against the champion account for several challengers."""
    found = report.get("multiplicity") or {}
    count = found.get("candidates", 0)
    if count < 2:
        return None
    if found.get("method") == "holm":
        return (f"Champion comparisons: Holm-adjusted over {count} challengers (the chance that "
                "any truly worse one passes stays at each gate's level).")
    return (f"Champion comparisons: not adjusted for {count} challengers (multiplicity: none); "
            "the chance that one passes by luck grows with their number.")


def to_markdown(report: dict[str, Any]) -> str:
    """A pull-request comment: metrics with deltas vs the champion, and gate verdicts."""
    lines = []
    status = "passed" if report["passed"] else "failed"
    icon = "✅" if report["passed"] else "❌"
    lines.append(f"## {icon} Evaluation `{report['stage']}` {status}")
    lines.append("")
    selected = report.get("selected")
    primary = report["primary_metric"]
    if selected:
        lines.append(
            f"Selected **{selected['candidate']}** by `{primary['name']}` on "
            f"`{primary['dataset']}`/`{primary['slice']}`."
        )
    else:
        lines.append("No candidate passed every gate.")
    champion = report.get("champion")
    lines.append(f"Champion: `{champion['ref']}`." if champion else "No champion yet.")
    for line in (positive_class_line(report), multiplicity_line(report)):
        if line:
            lines.append(line)
    lines.append("")
    for dataset in _datasets(report):
        metrics = _shown_metrics(report, dataset)
        lines.append(f"### {dataset}")
        lines.append("")
        lines.append("| candidate | verdict | " + " | ".join(metrics) + " |")
        lines.append("|---|---|" + "---|" * len(metrics))
        for cand in report["candidates"]:
            values = cand["metrics"].get(dataset, {}).get("all", {})
            comparison = cand.get("comparison", {}).get(dataset, {})
            cells = []
            for metric in metrics:
                cell = _fmt(values.get(metric))
                if metric in comparison:
                    c = comparison[metric]
                    better = (c["delta"] > 0) == is_higher_better(metric)
                    arrow = "▲" if better and c["delta"] != 0 else ("▼" if c["delta"] else "")
                    cell += f" ({c['delta']:+.4f}{arrow} [{c['low']:+.4f}, {c['high']:+.4f}])"
                cells.append(cell)
            lines.append(
                f"| {_cell(cand['candidate'])} | {_verdict(cand, report)} | " + " | ".join(cells)
                + " |"
            )
        baseline = _baseline_values(report, dataset)
        if baseline is not None:
            cells = [_fmt(baseline.get(metric)) for metric in metrics]
            lines.append(f"| {_baseline_name(report)} | baseline | " + " | ".join(cells) + " |")
        lines.append("")
    lines.append("### Gates")
    lines.append("")
    lines.append("| candidate | gate | dataset/slice | value | bound | result |")
    lines.append("|---|---|---|---|---|---|")
    for cand in report["candidates"]:
        for gate in cand["gates"]:
            result = "✅ pass" if gate["passed"] else "❌ fail"
            lines.append(
                f"| {_cell(cand['candidate'])} | {_cell(gate['gate'])} | "
                f"{_cell(gate['dataset'])}/{_cell(gate['slice'])} | "
                f"{_fmt(gate['value'])} | {gate['op']} {_fmt(gate['bound'])} | {result} |"
            )
    failed = [
        f"- **{_cell(c['candidate'])}**: "
        + "; ".join(_cell(g["detail"]) for g in c["gates"] if not g["passed"])
        for c in report["candidates"]
        if not c["passed"] and not c["is_champion"]
    ]
    if failed:
        lines += ["", "### Why candidates failed", "", *failed]
    return "\n".join(lines) + "\n"


def to_junit(report: dict[str, Any]) -> str:
    """JUnit XML: a test suite per candidate, a test case per gate."""
    suites = ET.Element("testsuites", name=f"assay evaluate {report['stage']}")
    total = failures = 0
    for cand in report["candidates"]:
        gates = cand["gates"]
        failed = sum(1 for g in gates if not g["passed"])
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=f"{report['stage']}.{cand['candidate']}",
            tests=str(len(gates)),
            failures=str(failed),
        )
        for gate in gates:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"{report['stage']}.{cand['candidate']}",
                name=f"{gate['gate']} [{gate['dataset']}/{gate['slice']}]",
            )
            if not gate["passed"]:
                node = ET.SubElement(case, "failure", message=gate["detail"])
                node.text = json.dumps(gate, default=str)
            else:
                ET.SubElement(case, "system-out").text = gate["detail"]
        total += len(gates)
        failures += failed
    suites.set("tests", str(total))
    suites.set("failures", str(failures))
    ET.indent(suites)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
    )


def _figure_png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _plots(report: dict[str, Any], curves: dict[str, Any]) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    images = []
    for dataset in _datasets(report):
        have = {c: d[dataset] for c, d in curves.items() if dataset in d}
        if have:
            fig, axes = plt.subplots(1, 3, figsize=(13, 4))
            for cand, data in have.items():
                axes[0].plot(data["roc"]["fpr"], data["roc"]["tpr"], label=cand)
                axes[1].plot(data["pr"]["recall"], data["pr"]["precision"], label=cand)
                axes[2].plot(
                    data["calibration"]["predicted"],
                    data["calibration"]["observed"],
                    "o-",
                    label=cand,
                )
            axes[0].plot([0, 1], [0, 1], "k:", linewidth=0.8)
            axes[2].plot([0, 1], [0, 1], "k:", linewidth=0.8)
            for ax, title, xl, yl in (
                (axes[0], "ROC", "false positive rate", "true positive rate"),
                (axes[1], "Precision-recall", "recall", "precision"),
                (axes[2], "Calibration", "mean predicted", "observed rate"),
            ):
                ax.set_title(f"{title} ({dataset})")
                ax.set_xlabel(xl)
                ax.set_ylabel(yl)
            axes[0].legend(fontsize=7)
            images.append((f"Curves on {dataset}", _figure_png(fig)))
            fig, axes = plt.subplots(1, len(have), figsize=(3.2 * len(have), 3), squeeze=False)
            for ax, (cand, data) in zip(axes[0], have.items(), strict=True):
                matrix = data["confusion"]
                ax.imshow(matrix, cmap="Blues")
                for i in range(2):
                    for j in range(2):
                        ax.text(j, i, str(matrix[i][j]), ha="center", va="center")
                ax.set_xticks([0, 1], ["pred 0", "pred 1"])
                ax.set_yticks([0, 1], ["true 0", "true 1"])
                ax.set_title(cand, fontsize=8)
            images.append((f"Confusion matrices on {dataset}", _figure_png(fig)))
        primary = report["primary_metric"]["name"]
        slice_names: list[str] = []
        for cand in report["candidates"]:
            for name in cand["metrics"].get(dataset, {}):
                if name not in slice_names:
                    slice_names.append(name)
        if slice_names:
            fig, ax = plt.subplots(figsize=(max(5, 1.4 * len(slice_names)), 3))
            width = 0.8 / max(len(report["candidates"]), 1)
            for i, cand in enumerate(report["candidates"]):
                values = [
                    cand["metrics"].get(dataset, {}).get(s, {}).get(primary) or 0.0
                    for s in slice_names
                ]
                ax.bar(
                    [k + i * width for k in range(len(slice_names))],
                    values,
                    width,
                    label=cand["candidate"],
                )
            ax.set_xticks([k + 0.4 - width / 2 for k in range(len(slice_names))], slice_names)
            ax.set_title(f"{primary} per slice ({dataset})")
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
            images.append((f"{primary} per slice on {dataset}", _figure_png(fig)))
        groups = {
            c["candidate"]: c["fairness"][dataset]
            for c in report["candidates"]
            if dataset in c.get("fairness", {})
        }
        if groups:
            fig, ax = plt.subplots(figsize=(6, 3))
            names = sorted({g for f in groups.values() for g in f["groups"]})
            width = 0.8 / len(groups)
            for i, (cand, fair) in enumerate(groups.items()):
                values = [fair["groups"].get(g, {}).get("selection_rate", 0.0) for g in names]
                ax.bar([k + i * width for k in range(len(names))], values, width, label=cand)
            ax.set_xticks([k + 0.4 - width / 2 for k in range(len(names))], names)
            column = next(iter(groups.values()))["column"]
            ax.set_title(f"selection rate by {column} ({dataset})")
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
            images.append((f"Groups of {column} on {dataset}", _figure_png(fig)))
    return images


def to_html(report: dict[str, Any], curves: dict[str, Any] | None = None, *,
            plots: bool = True) -> str:
    """A self-contained HTML page: tables, gate verdicts and inline PNG plots (left out, and
    said so, with ``plots=False``)."""
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>assay evaluation {esc(report['stage'])}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
        "text-align:right}th{background:#f4f4f4}td:first-child{text-align:left}"
        ".pass{color:#176f2c}.fail{color:#b00020;font-weight:bold}img{max-width:100%}</style>",
        "</head><body>",
        f"<h1>Evaluation {esc(report['stage'])}: "
        f"<span class='{'pass' if report['passed'] else 'fail'}'>"
        f"{'passed' if report['passed'] else 'failed'}</span></h1>",
    ]
    selected = report.get("selected")
    primary = report["primary_metric"]
    parts.append(
        f"<p>Selected: <b>{esc(selected['candidate'])}</b> by {esc(primary['name'])} on "
        f"{esc(primary['dataset'])}/{esc(primary['slice'])}</p>"
        if selected
        else "<p>No candidate passed every gate.</p>"
    )
    champion = report.get("champion")
    parts.append(f"<p>Champion: {esc(champion['ref'])}</p>" if champion else "<p>No champion.</p>")
    for line in (positive_class_line(report), multiplicity_line(report)):
        if line:
            parts.append(f"<p>{esc(line)}</p>")
    for dataset in _datasets(report):
        metrics = _shown_metrics(report, dataset)
        parts.append(f"<h2>{esc(dataset)}</h2><table><tr><th>candidate</th><th>verdict</th>")
        parts += [f"<th>{esc(m)}</th>" for m in metrics]
        parts.append("</tr>")
        for cand in report["candidates"]:
            values = cand["metrics"].get(dataset, {}).get("all", {})
            comparison = cand.get("comparison", {}).get(dataset, {})
            parts.append(
                f"<tr><td>{esc(cand['candidate'])}</td><td>{esc(_verdict(cand, report))}</td>"
            )
            for metric in metrics:
                cell = _fmt(values.get(metric))
                if metric in comparison:
                    c = comparison[metric]
                    cell += (
                        f"<br><small>{c['delta']:+.4f} [{c['low']:+.4f}, {c['high']:+.4f}]</small>"
                    )
                parts.append(f"<td>{cell}</td>")
            parts.append("</tr>")
        baseline = _baseline_values(report, dataset)
        if baseline is not None:
            parts.append(f"<tr><td>{esc(_baseline_name(report))}</td><td>baseline</td>")
            parts += [f"<td>{_fmt(baseline.get(m))}</td>" for m in metrics]
            parts.append("</tr>")
        parts.append("</table>")
    parts.append(
        "<h2>Gates</h2><table><tr><th>candidate</th><th>gate</th><th>where</th>"
        "<th>value</th><th>bound</th><th>result</th><th>detail</th></tr>"
    )
    for cand in report["candidates"]:
        for gate in cand["gates"]:
            klass = "pass" if gate["passed"] else "fail"
            parts.append(
                f"<tr><td>{esc(cand['candidate'])}</td><td>{esc(gate['gate'])}</td>"
                f"<td>{esc(gate['dataset'])}/{esc(gate['slice'])}</td><td>{_fmt(gate['value'])}</td>"
                f"<td>{esc(gate['op'])} {_fmt(gate['bound'])}</td>"
                f"<td class='{klass}'>{klass}</td><td>{esc(gate['detail'])}</td></tr>"
            )
    parts.append("</table>")
    for title, png in _plots(report, curves or {}) if plots else []:
        parts.append(
            f"<h3>{esc(title)}</h3><img alt='{esc(title)}' src='data:image/png;base64,{png}'>"
        )
    if not plots:
        parts.append("<p>Plots left out (<code>plots: false</code>).</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


_TERMINAL = ("accuracy", "f1", "roc_auc", "log_loss", "rmse", "mae", "r2")


def render_table(report: dict[str, Any], console: Any) -> None:
    """Print the evaluation as rich tables (one per dataset) plus failing gates."""
    from rich.table import Table

    from assay._console import escape

    primary = report["primary_metric"]["name"]
    for line in (positive_class_line(report), multiplicity_line(report)):
        if line:
            console.print(escape(line))
    for dataset in _datasets(report):
        shown = _shown_metrics(report, dataset)
        metrics = [m for m in shown if m in _TERMINAL or m == primary]
        has_comparison = any(
            primary in c.get("comparison", {}).get(dataset, {}) for c in report["candidates"]
        )
        table = Table(title=escape(f"{report['stage']}: {dataset}"))
        table.add_column("candidate", no_wrap=True)
        table.add_column("verdict", no_wrap=True)
        for metric in metrics:
            table.add_column(escape(metric), justify="right", no_wrap=True)
        if has_comparison:
            table.add_column(escape(f"{primary} vs champion"), justify="right", no_wrap=True)
        for cand in report["candidates"]:
            values = cand["metrics"].get(dataset, {}).get("all", {})
            cells = ["n/a" if values.get(m) is None else f"{values[m]:.3f}" for m in metrics]
            if has_comparison:
                c = cand.get("comparison", {}).get(dataset, {}).get(primary)
                cells.append(escape(f"{c['delta']:+.3f} [{c['low']:+.3f}, {c['high']:+.3f}]")
                             if c else "")
            verdict = _verdict(cand, report)
            style = "green" if verdict in ("selected", "passed") else "red"
            if verdict == "champion":
                style = "cyan"
            table.add_row(escape(cand["candidate"]), f"[{style}]{verdict}[/{style}]", *cells)
        baseline = _baseline_values(report, dataset)
        if baseline is not None:
            cells = ["n/a" if baseline.get(m) is None else f"{baseline[m]:.3f}" for m in metrics]
            table.add_row(escape(_baseline_name(report)), "[dim]baseline[/dim]", *cells,
                          *([""] if has_comparison else []))
        console.print(table)
    for cand in report["candidates"]:
        for gate in cand["gates"]:
            if not gate["passed"]:
                console.print(
                    f"[red]✗[/red] {escape(cand['candidate'])}: {escape(gate['gate'])}: "
                    f"{escape(gate['detail'])}"
                )
    selected = report.get("selected")
    if selected:
        console.print(
            f"[green]selected[/green] {escape(selected['candidate'])} ({escape(selected['package'])})"
        )
    else:
        console.print("[red]no candidate passed every gate[/red]")


def write_reports(
    report: dict[str, Any], directory: Path, curves: dict[str, Any] | None = None, *,
    plots: bool = True,
) -> Path:
    """Write evaluation.json, report.md, report.html (without plots when ``plots`` is False),
    junit.xml (and curves.json) atomically.

    Returns:
        The path of evaluation.json.
    """
    directory.mkdir(parents=True, exist_ok=True)
    if curves is not None:
        write_text_atomic(directory / CURVES_FILE, json.dumps(curves))
    write_text_atomic(directory / "report.md", to_markdown(report))
    write_text_atomic(directory / "report.html", to_html(report, curves, plots=plots))
    write_text_atomic(directory / "junit.xml", to_junit(report))
    target = directory / EVALUATION_FILE
    write_text_atomic(target, json.dumps(report, indent=2, sort_keys=True, default=str))
    return target


def read_evaluation(path: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Read an evaluation.json (and curves.json beside it, when present).

    Raises:
        EvaluationError: the file is missing or not an evaluation.
    """
    from assay.errors import EvaluationError

    try:
        report = json.loads(path.read_text())
    except FileNotFoundError:
        raise EvaluationError(f"{path} does not exist", path=str(path)) from None
    except ValueError as exc:
        raise EvaluationError(f"{path} is not valid JSON: {exc}", path=str(path)) from None
    if not isinstance(report, dict) or not {"stage", "candidates", "passed"} <= set(report):
        raise EvaluationError(f"{path} is not an assay evaluation", path=str(path))
    curves_path = path.with_name(CURVES_FILE)
    curves = json.loads(curves_path.read_text()) if curves_path.is_file() else None
    return report, curves
