"""The one implementation of every metric, vectorised with NumPy: classification at a decision
threshold, regression, and the constant baselines a model must beat.

Every function takes arrays already checked for shape and NaNs and returns plain floats. The
train stage's metrics, the evaluation, the paired bootstrap and fairness all call these, so one
model on one data set has one value of each metric.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

CLASSIFICATION_METRICS = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "pr_auc",
    "log_loss",
    "brier",
    "ece",
    "tp",
    "fp",
    "tn",
    "fn",
)
REGRESSION_METRICS = ("rmse", "mae", "mape", "r2")
COMMON_METRICS = ("rows", "latency_ms_per_row", "model_size_mb")
FAIRNESS_METRICS = ("demographic_parity_difference", "equalized_odds_difference")
#: Every metric name an evaluation of any task can produce.
ALL_METRICS = (
    *CLASSIFICATION_METRICS,
    *REGRESSION_METRICS,
    *COMMON_METRICS,
    *FAIRNESS_METRICS,
)
LOWER_IS_BETTER = frozenset(
    {
        "log_loss",
        "brier",
        "ece",
        "fp",
        "fn",
        "rmse",
        "mae",
        "mape",
        "latency_ms_per_row",
        "model_size_mb",
        "demographic_parity_difference",
        "equalized_odds_difference",
    }
)
#: The one clipping of probabilities before a logarithm: log loss of a confident mistake is
#: -log(1e-15) = 34.5 per row, in the train stage, the evaluation and the bootstrap alike.
PROBABILITY_EPS = 1e-15


def metric_names(task: str) -> tuple[str, ...]:
    """Every metric an evaluation of ``task`` computes (gates may name any of them)."""
    own = CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS
    fairness = FAIRNESS_METRICS if task == "classification" else ()
    return own + COMMON_METRICS + fairness


def is_higher_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is an improvement."""
    return metric not in LOWER_IS_BETTER


def log_loss_terms(true_class_prob: np.ndarray) -> np.ndarray:
    """Each row's log loss from the probability the model gave the row's true class."""
    import numpy as np

    terms: np.ndarray = -np.log(np.clip(true_class_prob, PROBABILITY_EPS, 1.0))
    return terms


def binary_log_loss_terms(y: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """Each row's log loss for 0/1 labels ``y`` and positive-class probabilities ``prob``."""
    import numpy as np

    return log_loss_terms(np.where(y.astype(bool), prob, 1.0 - prob))


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve via the rank-sum (Mann-Whitney) statistic; ties count half."""
    from scipy.stats import rankdata

    pos = int(y.sum())
    neg = y.size - pos
    ranks = rankdata(score)
    return float((ranks[y == 1].sum() - pos * (pos + 1) / 2.0) / (pos * neg))


def average_precision(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the precision-recall curve as average precision (step-wise, like sklearn)."""
    import numpy as np

    order = np.argsort(-score, kind="mergesort")
    s, t = score[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tps = np.cumsum(t)[last]
    fps = (last + 1) - tps
    precision = tps / (tps + fps)
    recall_step = np.diff(np.r_[0, tps]) / max(tps[-1], 1)
    return float(np.sum(recall_step * precision))


def expected_calibration_error(y: np.ndarray, prob: np.ndarray, bins: int = 10) -> float:
    """|observed rate - mean predicted probability| averaged over equal-width bins, by weight."""
    import numpy as np

    which = np.minimum((prob * bins).astype(np.int64), bins - 1)
    predicted = np.bincount(which, weights=prob, minlength=bins)
    observed = np.bincount(which, weights=y.astype(np.float64), minlength=bins)
    return float(np.abs(observed - predicted).sum() / max(y.size, 1))


def binary_metrics(y: np.ndarray, prob: np.ndarray, threshold: float) -> dict[str, float]:
    """Classification metrics for 0/1 labels ``y`` and positive-class probabilities ``prob``.

    ROC AUC and PR AUC are ``None``-free only when both classes are present; callers check.
    """
    import numpy as np

    yb = y.astype(bool)
    pred = prob >= threshold
    tp = float(np.count_nonzero(pred & yb))
    fp = float(np.count_nonzero(pred & ~yb))
    fn = float(np.count_nonzero(~pred & yb))
    tn = float(y.size - tp - fp - fn)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    log_loss = binary_log_loss_terms(y, prob).mean()
    out = {
        "accuracy": (tp + tn) / y.size,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "log_loss": float(log_loss),
        "brier": float(np.mean((prob - y) ** 2)),
        "ece": expected_calibration_error(y, prob),
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
    }
    if 0 < tp + fn < y.size:
        out["roc_auc"] = roc_auc(y, prob)
        out["pr_auc"] = average_precision(y, prob)
    return out


def multiclass_metrics(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """Macro-averaged metrics for class indices ``y`` and probabilities ``proba`` (rows x k)."""
    import numpy as np

    k = proba.shape[1]
    pred = proba.argmax(axis=1)
    confusion = np.bincount(y * k + pred, minlength=k * k).reshape(k, k).astype(np.float64)
    tp = np.diag(confusion)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.nan_to_num(tp / confusion.sum(axis=0))
        recall = np.nan_to_num(tp / confusion.sum(axis=1))
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
    onehot = np.eye(k)[y]
    out = {
        "accuracy": float(tp.sum() / y.size),
        "precision": float(precision.mean()),
        "recall": float(recall.mean()),
        "f1": float(f1.mean()),
        "log_loss": float(log_loss_terms(proba[np.arange(y.size), y]).mean()),
        "brier": float(((proba - onehot) ** 2).sum(axis=1).mean()),
        "ece": expected_calibration_error((pred == y).astype(np.int64), proba.max(axis=1)),
    }
    present = np.unique(y)
    if present.size == k:
        out["roc_auc"] = float(
            np.mean([roc_auc((y == c).astype(np.int64), proba[:, c]) for c in range(k)])
        )
        out["pr_auc"] = float(
            np.mean([average_precision((y == c).astype(np.int64), proba[:, c]) for c in range(k)])
        )
    return out


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """RMSE, MAE, MAPE (rows with a zero target are skipped) and R2."""
    import numpy as np

    err = pred - y
    sse = float(np.sum(err**2))
    sst = float(np.sum((y - y.mean()) ** 2))
    nonzero = y != 0
    return {
        "rmse": float(np.sqrt(sse / y.size)),
        "mae": float(np.mean(np.abs(err))),
        "mape": float(np.mean(np.abs(err[nonzero] / y[nonzero]))) if nonzero.any() else 0.0,
        "r2": 1.0 - sse / sst if sst > 0 else 0.0,
    }


def classification_metrics(y: np.ndarray, proba: np.ndarray, threshold: float) -> dict[str, float]:
    """Binary or multiclass metrics from class indices ``y`` and probabilities (rows x k)."""
    if proba.shape[1] == 2:
        return binary_metrics(y, proba[:, 1], threshold)
    return multiclass_metrics(y, proba)


def baseline_predictions(task: str, y: np.ndarray, classes: int = 2) -> np.ndarray:
    """The constant model every candidate must beat, on labels (class indices) or targets ``y``.

    Classification: every row gets the class frequencies of ``y`` as its probabilities (at a
    0.5 threshold a binary one predicts the majority class; its ROC AUC is 0.5). Regression:
    every row gets the mean of ``y``. Returns probabilities (rows x ``classes``) or predictions.
    """
    import numpy as np

    if task == "classification":
        prior = np.bincount(y.astype(np.int64), minlength=classes) / max(y.size, 1)
        return np.tile(prior, (y.size, 1))
    return np.full(y.size, float(np.mean(y)) if y.size else 0.0)

