"""Model cards: intended use and limitations (from assay.yaml), training data versions, metrics
per dataset and slice, fairness, gates, lineage; as Markdown and as a self-contained HTML page."""

from __future__ import annotations

import html
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assay.registry._lineage import lineage
from assay.registry._refs import ModelRef
from assay.registry._versions import get_version

if TYPE_CHECKING:
    from assay.config import AssayConfig
    from assay.store import Store

_NOT_SET = "_Not stated: add it under `models: {NAME: {...}}` in assay.yaml._"


@dataclass(frozen=True)
class ModelCard:
    """A model card as structured sections, renderable as Markdown or HTML."""

    title: str
    sections: list[tuple[str, list[str] | list[list[str]]]]

    def to_markdown(self) -> str:
        """GitHub-flavoured Markdown."""
        out = [f"# {self.title}", ""]
        for heading, body in self.sections:
            out += [f"## {heading}", ""]
            if body and isinstance(body[0], list):
                rows: list[list[str]] = body  # type: ignore[assignment]
                out.append("| " + " | ".join(rows[0]) + " |")
                out.append("|" + "---|" * len(rows[0]))
                out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
            else:
                out += [str(line) for line in body]
            out.append("")
        return "\n".join(out)

    def to_html(self) -> str:
        """A standalone HTML page (no external assets)."""
        esc = html.escape
        parts = [
            "<!doctype html><html><head><meta charset='utf-8'>",
            f"<title>{esc(self.title)}</title>",
            "<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;"
            "padding:0 1rem;color:#222}table{border-collapse:collapse}td,th{border:1px solid "
            "#ccc;padding:.25rem .6rem;text-align:left}th{background:#f4f4f4}"
            ".fail{color:#b00}.pass{color:#070}</style></head><body>",
            f"<h1>{esc(self.title)}</h1>",
        ]
        for heading, body in self.sections:
            parts.append(f"<h2>{esc(heading)}</h2>")
            if body and isinstance(body[0], list):
                rows: list[list[str]] = body  # type: ignore[assignment]
                parts.append("<table><tr>" + "".join(f"<th>{esc(c)}</th>" for c in rows[0]))
                for row in rows[1:]:
                    cells = "".join(
                        f"<td class='{_cls(c)}'>{esc(c)}</td>" if _cls(c) else f"<td>{esc(c)}</td>"
                        for c in row
                    )
                    parts.append(f"<tr>{cells}</tr>")
                parts.append("</table>")
            else:
                for line in body:
                    text = str(line).strip()
                    if text.startswith("- "):
                        parts.append(f"<ul><li>{esc(text[2:].replace('`', ''))}</li></ul>")
                    elif text:
                        parts.append(f"<p>{esc(text.replace('`', '').strip('_'))}</p>")
        parts.append("</body></html>")
        return "\n".join(parts) + "\n"


def _cls(cell: str) -> str:
    return {"passed": "pass", "FAILED": "fail"}.get(cell, "")


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "n/a" if value is None else str(value).lower()
    if isinstance(value, float):
        # counts (rows, tp, fp, ...) arrive as floats from JSON metrics: show them as counts
        return f"{int(value):,}" if value.is_integer() and abs(value) >= 1 else f"{value:.4f}"
    return str(value)


CARD_METRICS = (
    "rows", "accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss", "brier",
    "ece", "rmse", "mae", "mape", "r2",
)


def _metrics_table(metrics: dict[str, Any]) -> list[list[str]]:
    seen: set[str] = set()
    for slices in metrics.values():
        for values in (slices or {}).values():
            seen.update(values or {})
    names = [m for m in CARD_METRICS if m in seen] or sorted(seen)
    rows = [["dataset", "slice", *names]]
    for dataset, slices in metrics.items():
        for slice_name, values in (slices or {}).items():
            rows.append([dataset, slice_name, *[_fmt((values or {}).get(m)) for m in names]])
    return rows


def _fairness_lines(fairness: Any) -> list[str]:
    if not fairness:
        return ["_No fairness evaluation was configured (fairness: in the evaluate stage)._"]
    lines = []
    for dataset, result in fairness.items() if isinstance(fairness, dict) else []:
        if not isinstance(result, dict):
            lines.append(f"- {dataset}: {_fmt(result)}")
            continue
        scalars = {k: v for k, v in result.items() if isinstance(v, (int, float, str))}
        text = ", ".join(f"{k} {_fmt(v)}" for k, v in scalars.items())
        lines.append(f"- {dataset}: {text or 'see evaluation report'}")
        groups = result.get("groups")
        if isinstance(groups, dict):
            for group, values in groups.items():
                if isinstance(values, dict):
                    shown = ", ".join(
                        f"{k} {_fmt(v)}" for k, v in values.items()
                        if k in ("rows", "selection_rate", "accuracy", "recall", "true_positive_rate")
                    )
                    lines.append(f"  - {group}: {shown}")
    return lines or [f"- {_fmt(fairness)}"]


def model_card(store: Store, config: AssayConfig, ref: ModelRef | str) -> ModelCard:
    """The model card of a version.

    Intended use and limitations come from ``models: {NAME: {intended_use, limitations}}`` in
    assay.yaml; everything else from the registry (evaluation results and lineage).
    """
    mv = get_version(store, ref)
    graph = lineage(store, mv.ref)
    info = config.models.get(mv.name) or {}
    evaluation = mv.evaluation
    package = mv.meta.get("package") or {}
    created = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(mv.created_at))
    overview = [
        f"- Version: {mv.version} (registered {created} by {mv.author})",
        f"- Aliases: {', '.join(mv.aliases) or 'none'}",
        f"- Flavor / task: {package.get('flavor', 'n/a')} / {package.get('task', 'n/a')}",
        f"- Package object: `{mv.model_hash}`",
        f"- Gates passed: {'yes' if mv.gates_passed else 'no'}",
    ]
    limitations = info.get("limitations")
    if isinstance(limitations, list):
        limitation_lines = [f"- {item}" for item in limitations]
    else:
        limitation_lines = [str(limitations) if limitations else _NOT_SET]
    data_rows = [["dataset", "version", "path", "object", "used as"]]
    for ds in graph["datasets"]:
        used = f"upstream of {ds['stage']}" if ds.get("stage") else str(ds.get("role") or "input")
        data_rows.append([
            str(ds.get("name")),
            f"v{ds['version']}" if ds.get("version") is not None else "not recorded",
            str(ds.get("path") or "n/a"), str(ds.get("oid") or "n/a")[:16], used,
        ])
    gate_rows = [["gate", "dataset", "slice", "value", "bound", "verdict"]]
    for gate in evaluation.get("gates") or []:
        gate_rows.append([
            str(gate.get("gate")), str(gate.get("dataset")), str(gate.get("slice")),
            _fmt(gate.get("value")), f"{gate.get('op', '')} {_fmt(gate.get('bound'))}".strip(),
            "passed" if gate.get("passed") else "FAILED",
        ])
    code = graph["code"]
    lineage_lines = [
        f"- Run: {graph.get('run_id') or 'not recorded'}",
        f"- Training stage: {graph['model'].get('stage') or 'n/a'}",
        f"- Git commit: {code.get('git_commit') or 'n/a'}",
        f"- Environment hash: {code.get('env_hash') or 'n/a'}",
        f"- Evaluation: {(graph.get('evaluation') or {}).get('stage') or 'none'}",
    ] + [f"- Param `{k}` = {_fmt(v)}" for k, v in sorted(code.get("params", {}).items())]
    sections: list[tuple[str, Any]] = [
        ("Overview", overview),
        ("Intended use", [str(info.get("intended_use") or _NOT_SET)]),
        ("Known limitations", limitation_lines),
        ("Training data", data_rows if len(data_rows) > 1 else ["_No dataset lineage recorded._"]),
        (
            "Metrics per dataset and slice",
            _metrics_table(evaluation.get("metrics") or {})
            if evaluation.get("metrics") else ["_No evaluation recorded._"],
        ),
        ("Fairness", _fairness_lines(evaluation.get("fairness"))),
        ("Gates", gate_rows if len(gate_rows) > 1 else ["_No gates recorded._"]),
        ("Lineage", lineage_lines),
    ]
    return ModelCard(title=f"Model card: {mv.name} v{mv.version}", sections=sections)
