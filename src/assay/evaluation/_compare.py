"""Comparing two evaluation reports by their content, for ``assay run --check-repro``.

An evaluate stage's report directory differs in bytes from run to run because it measures
prediction latency (``latency_ms_per_row``, and the detail of a latency gate quotes it); the
Markdown, HTML and JUnit files render the same numbers. Two reports are equivalent when their
``evaluation.json`` documents agree: every number within the tolerance, every other value
equal, timing metrics skipped (and a gate on one compared by its verdict only).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from assay.evaluation._report import EVALUATION_FILE


def _differences(a: Any, b: Any, path: str, tolerance: float, out: list[str]) -> None:
    from assay.pipeline import is_timing_metric

    if isinstance(a, dict) and isinstance(b, dict):
        if is_timing_metric(str(a.get("metric") or "")) and "passed" in a:
            if a.get("passed") != b.get("passed"):  # a gate on a timing metric: its verdict only
                out.append(f"{path}.passed")
            return
        for key in sorted(set(a) | set(b)):
            if is_timing_metric(str(key)):
                continue
            _differences(
                a.get(key), b.get(key), f"{path}.{key}" if path else str(key), tolerance, out
            )
        return
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(path)
            return
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _differences(x, y, f"{path}[{i}]", tolerance, out)
        return
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool):
        if abs(float(a) - float(b)) > tolerance:
            out.append(path)
        return
    if a != b:
        out.append(path)


def compare_evaluations(recorded: Path, rerun: Path, *, tolerance: float = 0.0) -> dict[str, Any]:
    """Compare the ``evaluation.json`` of two report directories (timing metrics skipped).

    Returns:
        ``{equivalent, detail, differences}``; ``differences`` lists up to 10 JSON paths.
    """
    try:
        old = json.loads((recorded / EVALUATION_FILE).read_text())
        new = json.loads((rerun / EVALUATION_FILE).read_text())
    except (OSError, ValueError) as exc:
        return {"equivalent": False, "detail": f"cannot read {EVALUATION_FILE}: {exc}"}
    found: list[str] = []
    _differences(old, new, "", tolerance, found)
    if found:
        shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
        return {
            "equivalent": False,
            "detail": f"{EVALUATION_FILE} differs at {shown}",
            "differences": found[:10],
        }
    return {
        "equivalent": True,
        "detail": f"same {EVALUATION_FILE} apart from timing metrics",
        "differences": [],
    }


class EvaluationComparer:
    """The ``--check-repro`` comparer for evaluation report directories."""

    def compare(
        self, recorded: Path, rerun: Path, *, root: Path, tolerance: float
    ) -> dict[str, Any] | None:
        """``None`` unless both directories hold an evaluation.json."""
        if not ((recorded / EVALUATION_FILE).is_file() and (rerun / EVALUATION_FILE).is_file()):
            return None
        return compare_evaluations(recorded, rerun, tolerance=tolerance)
