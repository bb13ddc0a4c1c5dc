"""The server's Prometheus metrics (``GET /metrics``), one registry per app."""

from __future__ import annotations

from typing import Any

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                   5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384)
VALUE_BUCKETS = (-1000.0, -100.0, -10.0, -1.0, 0.0, 1.0, 10.0, 100.0, 1000.0)


class Metrics:
    """Requests by route, status, model and version; latency; batch sizes; the prediction
    distribution (class counts, or a histogram of regression values); prediction-log records
    written and dropped; swaps."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "assay_serving_requests", "Requests answered, by route, status, model and version.",
            ["route", "status", "model", "version"], registry=self.registry)
        self.latency = Histogram(
            "assay_serving_request_seconds", "Time to answer a request, by route.",
            ["route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_rows = Histogram(
            "assay_serving_batch_rows", "Rows per model call (micro-batches).",
            ["model"], buckets=BATCH_BUCKETS, registry=self.registry)
        self.predicted_class = Counter(
            "assay_serving_predictions", "Predicted rows by class (classifiers).",
            ["model", "version", "label"], registry=self.registry)
        self.predicted_value = Histogram(
            "assay_serving_prediction_value", "Predicted values (regressors).",
            ["model", "version"], buckets=VALUE_BUCKETS, registry=self.registry)
        self.log_records = Counter(
            "assay_serving_prediction_log_records",
            "Prediction-log records by outcome (written, dropped).",
            ["model", "outcome"], registry=self.registry)
        self.in_flight = Gauge(
            "assay_serving_in_flight", "Requests being answered now.", registry=self.registry)
        self.swaps = Counter(
            "assay_serving_swaps", "Hot swaps by outcome (swapped, failed).",
            ["model", "outcome"], registry=self.registry)
        self.ready = Gauge(
            "assay_serving_ready", "1 when the server is ready.", registry=self.registry)

    def exposition(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def observe_predictions(self, model: str, version: str, predictions: Any,
                            classification: bool) -> None:
        import numpy as np

        if classification:
            labels, counts = np.unique(predictions, return_counts=True)
            for label, count in zip(labels.tolist(), counts.tolist(), strict=True):
                self.predicted_class.labels(model, version, str(label)).inc(count)
        else:
            histogram = self.predicted_value.labels(model, version)
            for value in np.asarray(predictions, dtype=float).tolist()[:1000]:
                histogram.observe(value)
