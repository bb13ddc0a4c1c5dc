"""Fairness for a sensitive column: per-group metrics and parity differences (binary tasks)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assay.metrics import classification_metrics

if TYPE_CHECKING:
    import numpy as np

    from assay.evaluation._evaluation import Scored


def fairness_report(
    scored: Scored, groups: np.ndarray, column: str, metrics: list[str], threshold: float
) -> dict[str, Any]:
    """Per-group rows, selection rate, TPR, FPR and ``metrics``, plus the parity differences.

    ``demographic_parity_difference`` is the largest gap in selection rate between groups;
    ``equalized_odds_difference`` the larger of the gaps in TPR and FPR. A group without
    positives (or negatives) has no TPR (FPR) and does not count towards that gap.
    """
    import numpy as np

    pred = scored.score >= threshold
    positive = scored.y == 1
    by_group: dict[str, dict[str, float]] = {}
    selection, tpr, fpr = [], [], []
    for group in sorted({str(g) for g in np.unique(groups)}):
        mask = groups == group
        rows = int(mask.sum())
        stats: dict[str, float] = {"rows": float(rows)}
        if rows:
            stats["selection_rate"] = float(pred[mask].mean())
            selection.append(stats["selection_rate"])
            pos, neg = mask & positive, mask & ~positive
            if pos.any():
                stats["true_positive_rate"] = float(pred[pos].mean())
                tpr.append(stats["true_positive_rate"])
            if neg.any():
                stats["false_positive_rate"] = float(pred[neg].mean())
                fpr.append(stats["false_positive_rate"])
            assert scored.proba is not None
            found = classification_metrics(scored.y[mask], scored.proba[mask], threshold)
            stats.update({m: found[m] for m in metrics if m in found})
        by_group[group] = stats
    return {
        "column": column,
        "groups": by_group,
        "demographic_parity_difference": _spread(selection),
        "equalized_odds_difference": max(_spread(tpr), _spread(fpr)),
    }


def _spread(values: list[float]) -> float:
    return float(max(values) - min(values)) if len(values) > 1 else 0.0
