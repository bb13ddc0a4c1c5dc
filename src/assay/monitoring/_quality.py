"""Realised quality: the window's answers scored against the labels clients sent to the
server's ``POST /feedback`` (stored beside the log, under ``<model>/feedback/``).

A label names a request; only one-row requests can be scored (a label of a request of several
rows cannot say which row it is), the same rule as the server's live scoring
(:mod:`assay.serving`). Classifiers: accuracy (a class equals its label as numbers when both
are numbers, as text otherwise); regressors: the mean absolute error over numeric labels. A
monitor with ``min_accuracy:`` decides on it (:func:`quality_alarm`), or on the label-free
estimate when labels are few.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.metrics import same_class

#: The interval of the label-free estimate covers the realised accuracy this often.
COVERAGE = 0.95

if TYPE_CHECKING:
    import polars as pl


@dataclass(frozen=True)
class Quality:
    """The window's realised quality on its labelled one-row requests."""

    metric: str
    """``accuracy`` (classifiers) or ``mae`` (regressors)."""
    value: float
    labels: int


def labels_of(folder: Path) -> pl.DataFrame | None:
    """``request_id`` and ``label`` (JSON text, the newest per request) of the model's feedback
    segments; None when there are none."""
    import polars as pl

    segments = sorted((folder / "feedback").glob("segment-*.parquet"))
    if not segments:
        return None
    return (pl.concat([pl.scan_parquet(s).select("request_id", "ts", "label") for s in segments],
                      how="vertical_relaxed")
            .sort("ts").unique("request_id", keep="last")
            .select(pl.col("request_id").cast(pl.String), pl.col("label").cast(pl.String))
            .collect())


def realised_quality(window: pl.LazyFrame, labels: pl.DataFrame | None,
                     *, classified_column: str, prediction: str) -> Quality | None:
    """The window's answers to one-row requests scored against their labels (None: no label
    matches a one-row request of the window). Only the window's labelled rows are collected
    (a semi-join with the labels, on the streaming engine), never the whole window."""
    import polars as pl

    if labels is None or prediction not in window.collect_schema():
        return None
    labelled = (window.join(labels.lazy().select("request_id"), on="request_id", how="semi")
                .select("request_id", prediction, classified_column)
                .collect(engine="streaming"))
    single = labelled.group_by("request_id").len().filter(pl.col("len") == 1).select("request_id")
    scored = (labelled.join(single, on="request_id")
              .join(labels, on="request_id")
              .select(prediction, "label", classified_column))
    if scored.height == 0:
        return None
    classified = bool(scored[classified_column].any())
    correct = 0
    errors: list[float] = []
    for value, text, _ in scored.iter_rows():
        label = json.loads(text)
        if label is None:
            continue
        if classified:
            errors.append(0.0)
            correct += same_class(value, label)
        elif isinstance(label, (int, float)) and not isinstance(label, bool) and value is not None:
            error = abs(float(value) - float(label))
            if math.isfinite(error):
                errors.append(error)
    if not errors:
        return None
    if classified:
        return Quality("accuracy", correct / len(errors), len(errors))
    return Quality("mae", sum(errors) / len(errors), len(errors))


@dataclass(frozen=True)
class Estimate:
    """A classifier's accuracy on the window estimated without labels, from its probabilities."""

    metric: str
    value: float
    low: float
    high: float
    coverage: float
    rows: int


#: Labels a window needs before its realised accuracy decides a quality alarm (fewer: the
#: label-free estimate decides).
MIN_LABELS = 30


def quality_alarm(bound: float, quality: dict[str, Any] | None,
                  estimate: dict[str, Any] | None, *, alpha: float) -> dict[str, Any] | None:
    """Whether the window's accuracy is shown below ``bound`` at level ``alpha``.

    - With at least :data:`MIN_LABELS` scored labels: the exact one-sided binomial test of
      accuracy >= ``bound`` on the labelled rows (p = P(X <= correct | n, bound)); a window whose
      accuracy is exactly ``bound`` raises it with probability at most ``alpha``.
    - Else, with the label-free estimate (:func:`estimate_from`, the mean confidence c of n
      rows): p = Phi((estimate - bound) / sqrt(estimate (1 - estimate) / n)); at most ``alpha``
      too when the model's probabilities are calibrated on this traffic (the mean confidence
      then varies by var(c) / n, at most the binomial A (1 - A) / n of its accuracy A).

    Returns ``{source, metric, value, bound, n, p_value, alarm}``; None when neither decides
    (a regressor, no labels and no probabilities).
    """
    from scipy.special import ndtr
    from scipy.stats import binom

    if quality is not None and quality.get("metric") == "accuracy" and \
            int(quality.get("labels") or 0) >= MIN_LABELS:
        n = int(quality["labels"])
        correct = round(float(quality["value"]) * n)
        p = float(binom.cdf(correct, n, bound))
        return {"source": "realised", "metric": "accuracy", "value": float(quality["value"]),
                "bound": bound, "n": n, "p_value": p, "alarm": p < alpha}
    if estimate is not None and int(estimate.get("rows") or 0) >= MIN_LABELS:
        value, n = float(estimate["value"]), int(estimate["rows"])
        # the mean confidence varies across windows by var(c) / n <= A (1 - A) / n (the
        # binomial spread of the accuracy A itself, since var(c) + E[c (1 - c)] = A (1 - A)):
        # the binomial standard error is conservative
        se = math.sqrt(max(value * (1.0 - value), 0.0) / n)
        p = float(ndtr((value - bound) / se)) if se > 0 else (0.0 if value < bound else 1.0)
        return {"source": "estimated", "metric": "accuracy", "value": value, "bound": bound,
                "n": n, "p_value": p, "alarm": p < alpha}
    return None


def confidence_sums(probabilities: pl.Expr) -> list[pl.Expr]:
    """What :func:`estimate_from` needs of a column of probabilities, as three sums the
    streaming engine folds in bounded memory: the rows with a finite largest probability ``c``,
    the sum of ``c`` and the sum of ``c (1 - c)``."""
    import polars as pl

    top = probabilities.list.max().cast(pl.Float64)
    confidence = pl.when(top.is_finite()).then(top)
    return [confidence.count(), confidence.sum(), (confidence * (1 - confidence)).sum()]


def estimate_from(sums: list[float | None], *, coverage: float = COVERAGE) -> Estimate | None:
    """Confidence-based performance estimation (as NannyML's CBPE, for accuracy): with calibrated
    probabilities, the row's answer (its most likely class) is right with probability ``c``, its
    largest probability, so the window's accuracy is the mean of Bernoulli(c_i): estimated by
    mean(c), with variance sum(c_i (1 - c_i)) / n^2 around it. The interval (normal, at
    ``coverage``) covers the accuracy the labels will show that often, as long as the model is
    as calibrated on this traffic as it was when trained; a miscalibrated model (or one whose
    inputs drifted far) gives a biased estimate. ``sums`` are :func:`confidence_sums`,
    collected; None: no row has probabilities.
    """
    from scipy.special import ndtri

    n, total, spread = int(sums[0] or 0), float(sums[1] or 0.0), float(sums[2] or 0.0)
    if n == 0:
        return None
    value = total / n
    half = float(ndtri(0.5 + coverage / 2) * math.sqrt(max(0.0, spread)) / n)
    return Estimate("accuracy", value, max(0.0, value - half), min(1.0, value + half), coverage,
                    n)


def estimated_accuracy(probabilities: pl.Series, *, coverage: float = COVERAGE) -> Estimate | None:
    """:func:`estimate_from` of one column of probabilities held in memory."""
    import polars as pl

    frame = pl.DataFrame({"p": probabilities})
    sums = frame.select(e.alias(str(i)) for i, e in enumerate(confidence_sums(pl.col("p"))))
    return estimate_from(list(sums.row(0)), coverage=coverage)
