"""Per-variant samples read from the server's Prometheus exposition, and the change between two
readings (what the guards see for one step)."""

from __future__ import annotations

import math
from collections import defaultdict

from assay.deployment._guards import VariantSample

REQUESTS = "assay_serving_requests_total"
LATENCY = "assay_serving_request_seconds_bucket"
PREDICTIONS = "assay_serving_predictions_total"
VALUES = "assay_serving_prediction_value_bucket"
SCORED = "assay_serving_feedback_scored_total"
ABS_ERROR = "assay_serving_feedback_abs_error_total"
SQ_ERROR = "assay_serving_feedback_sq_error_total"

Key = tuple[str, str]


def _le(raw: str) -> float:
    return math.inf if raw in ("+Inf", "Inf", "inf") else float(raw)


def _decumulate(buckets: dict[float, float]) -> dict[str, int]:
    counts, previous = {}, 0.0
    for le in sorted(buckets):
        counts["+Inf" if le == math.inf else f"{le:g}"] = round(buckets[le] - previous)
        previous = buckets[le]
    return counts


def samples_from_exposition(text: str, model: str) -> dict[Key, VariantSample]:
    """Every variant's sample of ``model`` in a Prometheus text exposition.

    Requests are summed over routes and statuses, errors are the variant's answers that are
    not 2xx (the server labels a request with its variant only once the model took it, so these
    are the model's failures, its timeouts and its 5xx), latency
    is summed over routes, predictions count per class label (classifiers) or per value bucket
    (regressors, counts per bucket), and predictions scored against feedback labels count
    with their outcome (``correct``/``wrong`` for classifiers; ``scored`` with the sums of
    absolute and squared errors for regressors). Samples without a variant (no model answered)
    are skipped.

    Args:
        text: the ``/metrics`` body.
        model: the model's name (its ``model`` label).

    Returns:
        Samples keyed by ``(variant, version)``.
    """
    from prometheus_client.parser import text_string_to_metric_families

    requests: dict[Key, float] = defaultdict(float)
    errors: dict[Key, float] = defaultdict(float)
    latency: dict[Key, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    labels: dict[Key, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    values: dict[Key, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    scored: dict[Key, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    errors_sum: dict[Key, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            tags = sample.labels
            if sample.name not in (REQUESTS, LATENCY, PREDICTIONS, VALUES, SCORED, ABS_ERROR,
                                   SQ_ERROR):
                continue
            if tags.get("model") != model or not tags.get("variant"):
                continue
            key = (tags["variant"], tags.get("version", ""))
            if sample.name == REQUESTS:
                requests[key] += sample.value
                if tags.get("status", "").isdigit() and not 200 <= int(tags["status"]) < 300:
                    errors[key] += sample.value
            elif sample.name == LATENCY:
                latency[key][_le(tags["le"])] += sample.value
            elif sample.name == PREDICTIONS:
                labels[key][tags.get("label", "")] += sample.value
            elif sample.name == VALUES:
                values[key][_le(tags["le"])] += sample.value
            elif sample.name == SCORED:
                scored[key][tags.get("outcome", "")] += sample.value
            else:
                errors_sum[key][sample.name == SQ_ERROR] += sample.value
    keys = {*requests, *latency, *labels, *values, *scored}
    return {key: _variant(key, requests, errors, latency, labels, values, scored, errors_sum)
            for key in sorted(keys)}


def _variant(key: Key, requests: dict[Key, float], errors: dict[Key, float],
             latency: dict[Key, dict[float, float]], labels: dict[Key, dict[str, float]],
             values: dict[Key, dict[float, float]], scored: dict[Key, dict[str, float]],
             errors_sum: dict[Key, list[float]]) -> VariantSample:
    outcomes = scored.get(key, {})
    quality = ("mae" if "scored" in outcomes else "accuracy" if outcomes else "")
    abs_error, sq_error = errors_sum.get(key, [0.0, 0.0])
    return VariantSample(
        requests=round(requests[key]),
        errors=round(errors[key]),
        latency=tuple((le, round(c)) for le, c in sorted(latency[key].items())),
        predictions=({k: round(v) for k, v in labels[key].items()} if labels[key]
                     else _decumulate(values[key])),
        labelled=round(sum(outcomes.values())),
        correct=round(outcomes.get("correct", 0.0)),
        abs_error=abs_error,
        sq_error=sq_error,
        quality=quality,
    )


def delta(now: VariantSample, before: VariantSample | None) -> VariantSample:
    """What ``now`` counted since ``before``; ``now`` itself when a counter went down (the
    server restarted since ``before``) or there is no ``before``."""
    if before is None:
        return now
    old_latency = dict(before.latency)
    latency = tuple((le, count - old_latency.get(le, 0)) for le, count in now.latency)
    predictions = {k: v - before.predictions.get(k, 0) for k, v in now.predictions.items()}
    went_down = (
        now.requests < before.requests or now.errors < before.errors
        or now.labelled < before.labelled or now.correct < before.correct
        or any(c < 0 for _, c in latency) or any(c < 0 for c in predictions.values())
        or any(k not in now.predictions for k, v in before.predictions.items() if v > 0)
    )
    if went_down:
        return now
    return VariantSample(
        requests=now.requests - before.requests,
        errors=now.errors - before.errors,
        latency=latency,
        predictions=predictions,
        labelled=now.labelled - before.labelled,
        correct=now.correct - before.correct,
        abs_error=now.abs_error - before.abs_error,
        sq_error=now.sq_error - before.sq_error,
        quality=now.quality or before.quality,
    )
