"""Metrics agree with scikit-learn; the paired bootstrap is calibrated, paired and deterministic."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from assay.errors import EvaluationError
from assay.evaluation import classification_metrics, paired_bootstrap, regression_metrics


def _binary(n: int, seed: int, strength: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(np.int64)
    p = np.clip(0.3 + strength * 0.3 * (y - 0.3) + rng.normal(0, 0.2, n), 0.001, 0.999)
    return y, p


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(20, 400), threshold=st.floats(0.2, 0.8))
def test_binary_metrics_match_sklearn(seed: int, n: int, threshold: float) -> None:
    y, p = _binary(n, seed)
    if y.min() == y.max():
        return
    ours = classification_metrics(y, np.column_stack([1 - p, p]), threshold)
    pred = (p >= threshold).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(y, pred, labels=[0, 1]).ravel()
    expected = {
        "accuracy": skm.accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred, zero_division=0),
        "recall": skm.recall_score(y, pred, zero_division=0),
        "f1": skm.f1_score(y, pred, zero_division=0),
        "roc_auc": skm.roc_auc_score(y, p),
        "pr_auc": skm.average_precision_score(y, p),
        "log_loss": skm.log_loss(y, p),
        "brier": skm.brier_score_loss(y, p),
        "tp": tp, "fp": fp, "tn": tn, "fn": fn,
    }
    for key, value in expected.items():
        assert ours[key] == pytest.approx(value, abs=1e-9), key
    assert 0 <= ours["ece"] <= 1


def test_multiclass_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 500)
    proba = rng.dirichlet([1, 1, 1], 500)
    proba[np.arange(500), y] += 0.5
    proba /= proba.sum(axis=1, keepdims=True)
    ours = classification_metrics(y, proba, 0.5)
    pred = proba.argmax(axis=1)
    assert ours["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert ours["f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert ours["log_loss"] == pytest.approx(skm.log_loss(y, proba))
    assert ours["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr"))


def test_regression_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(10, 3, 300)
    pred = y + rng.normal(0, 1, 300)
    ours = regression_metrics(y, pred)
    assert ours["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, pred)))
    assert ours["mae"] == pytest.approx(skm.mean_absolute_error(y, pred))
    assert ours["mape"] == pytest.approx(skm.mean_absolute_percentage_error(y, pred))
    assert ours["r2"] == pytest.approx(skm.r2_score(y, pred))


def test_bootstrap_of_a_clear_improvement_excludes_zero() -> None:
    y, better = _binary(20_000, 1, strength=1.0)
    _, worse = _binary(20_000, 2, strength=0.5)
    worse = np.where(y == 1, worse, worse)  # same rows, weaker signal
    found = paired_bootstrap(
        y, better, worse, task="classification", metrics=["roc_auc", "accuracy", "log_loss"],
        resamples=500,
    )
    assert found["roc_auc"].low > 0
    assert found["log_loss"].high < 0
    assert found["roc_auc"].low <= found["roc_auc"].delta <= found["roc_auc"].high


def test_bootstrap_interval_matches_a_naive_index_bootstrap() -> None:
    y, a = _binary(5_000, 3)
    _, b = _binary(5_000, 4, strength=0.8)
    ours = paired_bootstrap(y, a, b, task="classification", metrics=["roc_auc"], resamples=2000)
    rng = np.random.default_rng(0)
    naive = []
    for _ in range(400):
        idx = rng.integers(0, y.size, y.size)
        naive.append(skm.roc_auc_score(y[idx], a[idx]) - skm.roc_auc_score(y[idx], b[idx]))
    width = np.quantile(naive, 0.975) - np.quantile(naive, 0.025)
    ours_width = ours["roc_auc"].high - ours["roc_auc"].low
    assert ours_width == pytest.approx(width, rel=0.2)


def test_identical_models_give_an_interval_around_zero_and_the_seed_fixes_it() -> None:
    y, p = _binary(3_000, 5)
    first = paired_bootstrap(y, p, p, task="classification", metrics=["accuracy", "roc_auc"], seed=4)
    again = paired_bootstrap(y, p, p, task="classification", metrics=["accuracy", "roc_auc"], seed=4)
    assert first == again
    assert first["roc_auc"].low == pytest.approx(0, abs=1e-9)
    assert first["roc_auc"].high == pytest.approx(0, abs=1e-9)


def test_regression_bootstrap_false_alarm_rate_is_near_nominal() -> None:
    rng = np.random.default_rng(7)
    alarms = 0
    trials = 60
    for trial in range(trials):
        y = rng.normal(0, 1, 400)
        a = y + rng.normal(0, 1, 400)
        b = y + rng.normal(0, 1, 400)  # same quality: any "significant" difference is a false alarm
        iv = paired_bootstrap(y, a, b, task="regression", metrics=["rmse"], resamples=400, seed=trial)
        alarms += iv["rmse"].low > 0 or iv["rmse"].high < 0
    assert alarms / trials <= 0.15


def test_bootstrap_refuses_metrics_it_cannot_compare() -> None:
    y, p = _binary(100, 0)
    with pytest.raises(EvaluationError, match="Cannot compare ece against the champion"):
        paired_bootstrap(y, p, p, task="classification", metrics=["ece"])


def test_fairness_parity_differences_on_a_hand_made_example() -> None:
    from assay.evaluation._evaluation import Scored
    from assay.evaluation._fairness import fairness_report

    y = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.1, 0.9, 0.2, 0.1, 0.1])
    groups = np.array(["a", "a", "a", "a", "b", "b", "b", "b"])
    found = fairness_report(Scored(y=y, score=p, proba=np.column_stack([1 - p, p])), groups,
                            "g", ["accuracy"], 0.5)
    assert found["groups"]["a"]["selection_rate"] == 0.75  # 3 of 4 predicted positive
    assert found["groups"]["b"]["selection_rate"] == 0.25
    assert found["demographic_parity_difference"] == pytest.approx(0.5)
    # TPR a = 1.0, b = 0.5; FPR a = 0.5, b = 0.0
    assert found["equalized_odds_difference"] == pytest.approx(0.5)
    assert found["groups"]["a"]["accuracy"] == pytest.approx(0.75)


def _reference_bootstrap(
    y: np.ndarray, a: np.ndarray, b: np.ndarray, *, task: str, metrics: list[str],
    resamples: int, seed: int, threshold: float = 0.5,
) -> dict[str, tuple[float, float, float]]:
    """The slow definition: one resample at a time, each a half-sample of the rows (the same
    resamples as the vectorised code), scored with the plain metric functions."""
    from assay.evaluation._bootstrap import resample_weights

    diffs: dict[str, list[float]] = {m: [] for m in metrics}
    for block in resample_weights(y.size, resamples, seed=seed):
        for column in block.T:
            rows = column.astype(bool)
            if task == "classification":
                mine = classification_metrics(y[rows], np.column_stack([1 - a[rows], a[rows]]), threshold)
                theirs = classification_metrics(y[rows], np.column_stack([1 - b[rows], b[rows]]), threshold)
            else:
                mine, theirs = regression_metrics(y[rows], a[rows]), regression_metrics(y[rows], b[rows])
            for metric in metrics:
                diffs[metric].append(mine[metric] - theirs[metric])
    out = {}
    for metric, values in diffs.items():
        array = np.asarray(values)
        low, high = np.quantile(array, [0.025, 0.975])
        out[metric] = (float(array.mean()), float(low), float(high))
    return out


@pytest.mark.parametrize(
    ("task", "metrics"),
    [("classification", ["accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss",
                         "brier"]),
     ("regression", ["rmse", "mae", "mape", "r2"])],
    ids=["classification", "regression"],
)
def test_vectorised_bootstrap_equals_the_one_resample_at_a_time_definition(
    task: str, metrics: list[str]
) -> None:
    rng = np.random.default_rng(11)
    n = 300
    if task == "classification":
        y, a = _binary(n, 12)
        _, b = _binary(n, 13, strength=0.6)
        a, b = np.round(a, 2), np.round(b, 2)  # at most 100 distinct scores: AUC bins are exact
    else:
        y = np.round(rng.normal(0, 2, n))  # some targets are exactly 0: MAPE skips those rows
        a = y + rng.normal(0, 1, n)
        b = y + rng.normal(0, 1.5, n)
    fast = paired_bootstrap(y, a, b, task=task, metrics=metrics, resamples=203, seed=5,
                            threshold=0.4 if task == "classification" else 0.5)
    slow = _reference_bootstrap(y, a, b, task=task, metrics=metrics, resamples=203, seed=5,
                                threshold=0.4)
    for metric in metrics:
        delta, low, high = slow[metric]
        found = fast[metric]
        # float32 sums on the classification side: equal to ~7 significant digits
        assert (found.delta, found.low, found.high) == (
            pytest.approx(delta, rel=1e-5, abs=1e-6),
            pytest.approx(low, rel=1e-5, abs=1e-6),
            pytest.approx(high, rel=1e-5, abs=1e-6),
        ), metric
