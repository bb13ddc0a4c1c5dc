"""The server's Prometheus metrics (``GET /metrics``), one registry per app.

One worker process keeps its metrics in memory. With ``--workers N`` (N > 1) the runner gives
the workers a private directory in :data:`MULTIPROC_ENV` and prometheus-client's multiprocess
mode takes over: every worker writes its values to its own memory-mapped files there, and a
scrape of any worker merges every worker's files (:class:`MultiProcessCollector`), so the
counters and histograms are the server's totals whichever worker answers the scrape.
"""

from __future__ import annotations

import glob
import os
from typing import Any

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                   5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384)
VALUE_BUCKETS = (-1000.0, -100.0, -10.0, -1.0, 0.0, 1.0, 10.0, 100.0, 1000.0)

#: prometheus-client's multiprocess directory (set by the runner for ``--workers N``, N > 1).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    """The multiprocess directory this process writes its metrics to, if any."""
    return os.environ.get(MULTIPROC_ENV) or None


class Metrics:
    """Requests by route, status, model, version and variant; latency (by the same, but
    status); batch sizes; the prediction distribution (class counts, or a histogram of
    regression values) per variant; prediction-log records written and dropped; swaps; shadow
    predictions dropped; feedback labels scored per variant (and unmatched); requests in flight, readiness and a deployment's applied revision.

    In multiprocess mode the gauges are merged over the live workers: ``in_flight`` is their
    sum, ``ready`` and ``deployment_revision`` their minimum (1 when every live worker is
    ready; the revision every live worker applies); a worker that
    stops takes its gauges out (:meth:`close`), and so does a scrape for one that died.
    """

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        self.directory = multiprocess_dir()
        own = None if self.directory else self.registry  # multiprocess: read from the files
        self.requests = Counter(
            "assay_serving_requests",
            "Requests answered, by route, status, model, version and variant (stable, "
            "candidate, shadow; empty when no model answered).",
            ["route", "status", "model", "version", "variant"], registry=own)
        self.latency = Histogram(
            "assay_serving_request_seconds",
            "Time to answer a request, by route, model, version and variant (a shadow "
            "prediction: its own time).",
            ["route", "model", "version", "variant"], buckets=LATENCY_BUCKETS, registry=own)
        self.batch_rows = Histogram(
            "assay_serving_batch_rows", "Rows per model call (micro-batches).",
            ["model"], buckets=BATCH_BUCKETS, registry=own)
        self.predicted_class = Counter(
            "assay_serving_predictions", "Predicted rows by class (classifiers).",
            ["model", "version", "variant", "label"], registry=own)
        self.predicted_value = Histogram(
            "assay_serving_prediction_value", "Predicted values (regressors).",
            ["model", "version", "variant"], buckets=VALUE_BUCKETS, registry=own)
        self.log_records = Counter(
            "assay_serving_prediction_log_records",
            "Prediction-log records by outcome (written, dropped).",
            ["model", "outcome"], registry=own)
        self.in_flight = Gauge(
            "assay_serving_in_flight", "Requests being answered now.", registry=own,
            multiprocess_mode="livesum")
        self.swaps = Counter(
            "assay_serving_swaps", "Hot swaps by outcome (swapped, failed).",
            ["model", "outcome"], registry=own)
        self.shadow_dropped = Counter(
            "assay_serving_shadow_dropped",
            "Shadow predictions not made: too many already in flight, or lost with a dead "
            "shadow process.",
            ["model"], registry=own)
        self.feedback_scored = Counter(
            "assay_serving_feedback_scored",
            "Predictions scored against a feedback label, by outcome (correct, wrong: "
            "classifiers; scored: regressors).",
            ["model", "version", "variant", "outcome"], registry=own)
        self.feedback_abs_error = Counter(
            "assay_serving_feedback_abs_error",
            "A regressor's sum of absolute errors over its scored predictions.",
            ["model", "version", "variant"], registry=own)
        self.feedback_sq_error = Counter(
            "assay_serving_feedback_sq_error",
            "A regressor's sum of squared errors over its scored predictions.",
            ["model", "version", "variant"], registry=own)
        self.feedback_unmatched = Counter(
            "assay_serving_feedback_unmatched",
            "Feedback labels stored but not scored: the request is not among this process's "
            "recent one-row answers, or the label cannot score it.",
            ["model"], registry=own)
        self.deployment_revision = Gauge(
            "assay_serving_deployment_revision",
            "The deployment's revision the server (every worker) applies.", ["deployment"],
            registry=own, multiprocess_mode="livemin")
        self.ready = Gauge(
            "assay_serving_ready", "1 when the server (every worker) is ready.", registry=own,
            multiprocess_mode="livemin")
        if self.directory:
            from prometheus_client.multiprocess import MultiProcessCollector

            MultiProcessCollector(self.registry, path=self.directory)  # type: ignore[no-untyped-call]

    def exposition(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        if self.directory:
            self._forget_dead_workers()
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def close(self) -> None:
        """This process stops: its live gauges leave the merged view (multiprocess mode)."""
        if self.directory:
            from prometheus_client.multiprocess import mark_process_dead

            mark_process_dead(os.getpid(), self.directory)  # type: ignore[no-untyped-call]

    def _forget_dead_workers(self) -> None:
        """A worker that died without stopping (killed, out of memory) left its live gauges
        behind; the library's bookkeeping for a dead process takes them out. Its counters
        and histograms stay: what it answered still counts."""
        from prometheus_client.multiprocess import mark_process_dead

        assert self.directory is not None
        pids = set()
        for path in glob.glob(os.path.join(self.directory, "gauge_live*_*.db")):
            number = os.path.basename(path)[:-3].rsplit("_", 1)[1]
            if number.isdigit():
                pids.add(int(number))
        for pid in pids:
            try:
                os.kill(pid, 0)  # our own workers: signal 0 reaches them while they live
            except OSError:  # gone (or the number now belongs to another user's process)
                mark_process_dead(pid, self.directory)  # type: ignore[no-untyped-call]

    def observe_scores(self, model: str, scores: Any) -> None:
        """Count the scores of one feedback label (None: it scored nothing here)."""
        if scores is None:
            self.feedback_unmatched.labels(model).inc()
            return
        for score in scores:
            self.feedback_scored.labels(model, score.version, score.variant,
                                        score.outcome).inc()
            if score.outcome == "scored":
                self.feedback_abs_error.labels(model, score.version,
                                               score.variant).inc(abs(score.error))
                self.feedback_sq_error.labels(model, score.version,
                                              score.variant).inc(score.error * score.error)

    def observe_predictions(self, model: str, version: str, variant: str, predictions: Any,
                            classification: bool) -> None:
        import numpy as np

        if classification:
            labels, counts = np.unique(predictions, return_counts=True)
            for label, count in zip(labels.tolist(), counts.tolist(), strict=True):
                self.predicted_class.labels(model, version, variant, str(label)).inc(count)
        else:
            histogram = self.predicted_value.labels(model, version, variant)
            for value in np.asarray(predictions, dtype=float).tolist()[:1000]:
                histogram.observe(value)
