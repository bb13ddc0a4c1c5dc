"""Metrics: the one implementation of each metric (classification, regression, calibration) and
of the constant baselines, used by the train stage, the evaluation and its bootstrap alike.

>>> from assay.metrics import classification_metrics
>>> classification_metrics(y, proba, 0.5)["log_loss"]  # doctest: +SKIP
"""

from __future__ import annotations

from assay.metrics._classes import (
    binary_positive_last,
    check_pos_label,
    class_indices,
    positive_class_index,
    same_class,
)
from assay.metrics._functions import (
    ALL_METRICS,
    CLASSIFICATION_METRICS,
    COMMON_METRICS,
    FAIRNESS_METRICS,
    LOWER_IS_BETTER,
    PROBABILITY_EPS,
    REGRESSION_METRICS,
    average_precision,
    baseline_predictions,
    binary_log_loss_terms,
    binary_metrics,
    classification_metrics,
    expected_calibration_error,
    is_higher_better,
    log_loss_terms,
    metric_names,
    multiclass_metrics,
    regression_metrics,
    roc_auc,
)

__all__ = [
    "ALL_METRICS",
    "CLASSIFICATION_METRICS",
    "COMMON_METRICS",
    "FAIRNESS_METRICS",
    "LOWER_IS_BETTER",
    "PROBABILITY_EPS",
    "REGRESSION_METRICS",
    "average_precision",
    "baseline_predictions",
    "binary_log_loss_terms",
    "binary_metrics",
    "binary_positive_last",
    "check_pos_label",
    "class_indices",
    "classification_metrics",
    "expected_calibration_error",
    "is_higher_better",
    "log_loss_terms",
    "metric_names",
    "multiclass_metrics",
    "positive_class_index",
    "regression_metrics",
    "roc_auc",
    "same_class",
]
