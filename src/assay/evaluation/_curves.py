"""Curve points for the HTML report: ROC, precision-recall, calibration, confusion matrix."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.evaluation._evaluation import Scored


def curve_points(scored: Scored, threshold: float) -> dict[str, Any]:
    """Downsampled ROC, PR and calibration curves and the confusion matrix, for the HTML report."""
    import numpy as np

    y, p = scored.y, scored.score
    order = np.argsort(-p, kind="mergesort")
    ys = y[order]
    tps = np.cumsum(ys)
    fps = np.arange(1, ys.size + 1) - tps
    pos, neg = max(int(tps[-1]), 1), max(int(fps[-1]), 1)
    pick = np.unique(np.linspace(0, ys.size - 1, min(200, ys.size)).astype(np.int64))
    bins = np.minimum((p * 10).astype(np.int64), 9)
    count = np.bincount(bins, minlength=10)
    mean_p = np.bincount(bins, weights=p, minlength=10) / np.maximum(count, 1)
    observed = np.bincount(bins, weights=y.astype(np.float64), minlength=10) / np.maximum(count, 1)
    pred = p >= threshold
    return {
        "roc": {
            "fpr": [0.0, *(fps[pick] / neg).tolist()],
            "tpr": [0.0, *(tps[pick] / pos).tolist()],
        },
        "pr": {
            "recall": (tps[pick] / pos).tolist(),
            "precision": (tps[pick] / (pick + 1)).tolist(),
        },
        "calibration": {
            "predicted": mean_p[count > 0].tolist(),
            "observed": observed[count > 0].tolist(),
        },
        "confusion": [
            [int(np.sum(~pred & (y == 0))), int(np.sum(pred & (y == 0)))],
            [int(np.sum(~pred & (y == 1))), int(np.sum(pred & (y == 1)))],
        ],
    }
