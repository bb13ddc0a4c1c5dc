"""Per-variant samples read from a real prometheus_client registry's exposition, and deltas
between two readings (a restarted server resets its counters)."""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from assay.deployment import VariantSample, delta, samples_from_exposition

BUCKETS = (0.05, 0.1, 0.25, 1.0)


class Server:
    """The deployment metrics of DEPLOY_SPEC.md in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("assay_serving_requests_total", "Requests.",
                                ["route", "status", "model", "version", "variant"],
                                registry=self.registry)
        self.seconds = Histogram("assay_serving_request_seconds", "Latency.",
                                 ["route", "model", "version", "variant"], buckets=BUCKETS,
                                 registry=self.registry)
        self.labels = Counter("assay_serving_predictions_total", "Predictions.",
                              ["model", "version", "variant", "label"], registry=self.registry)
        self.values = Histogram("assay_serving_prediction_value", "Predicted values.",
                                ["model", "version", "variant"], buckets=(0.0, 10.0),
                                registry=self.registry)

    def answer(self, *, model: str = "churn", version: str, variant: str, status: int = 200,
               seconds: float = 0.02, label: str | None = None, route: str = "/predict",
               count: int = 1) -> None:
        for _ in range(count):
            self.requests.labels(route, str(status), model, version, variant).inc()
            if variant:
                self.seconds.labels(route, model, version, variant).observe(seconds)
            if label is not None:
                self.labels.labels(model, version, variant, label).inc()

    def exposition(self) -> str:
        return generate_latest(self.registry).decode()


def test_samples_per_variant_from_a_real_registry() -> None:
    server = Server()
    server.answer(version="3", variant="stable", label="no", count=7)
    server.answer(version="3", variant="stable", label="yes", count=2, seconds=0.2,
                  route="/v1/models/churn:predict")
    server.answer(version="3", variant="stable", status=500, seconds=2.0, count=1)
    server.answer(version="4", variant="candidate", label="yes", count=3, seconds=0.07)
    server.answer(version="4", variant="candidate", status=504, count=2)  # its timeouts
    server.answer(version="4", variant="candidate", status=422, count=1)  # its model refused
    server.answer(version="", variant="", status=503, count=5)  # admission: no model answered
    server.answer(model="other", version="1", variant="stable", label="x", count=4)
    samples = samples_from_exposition(server.exposition(), "churn")
    assert samples == {
        ("candidate", "4"): VariantSample(
            requests=6, errors=3,
            latency=((0.05, 3), (0.1, 6), (0.25, 6), (1.0, 6), (math.inf, 6)),
            predictions={"yes": 3}),
        ("stable", "3"): VariantSample(
            requests=10, errors=1,
            latency=((0.05, 7), (0.1, 7), (0.25, 9), (1.0, 9), (math.inf, 10)),
            predictions={"no": 7, "yes": 2}),
    }


def test_regressor_values_are_counted_per_bucket() -> None:
    server = Server()
    for value in (-3.0, 4.0, 5.0, 50.0):
        server.values.labels("price", "2", "candidate").observe(value)
    server.requests.labels("/predict", "200", "price", "2", "candidate").inc(4)
    sample = samples_from_exposition(server.exposition(), "price")[("candidate", "2")]
    assert (sample.requests, dict(sample.predictions)) == (4, {"0": 1, "10": 2, "+Inf": 1})


def test_delta_counts_since_the_snapshot() -> None:
    server = Server()
    server.answer(version="4", variant="candidate", label="yes", count=5)
    before = samples_from_exposition(server.exposition(), "churn")[("candidate", "4")]
    server.answer(version="4", variant="candidate", label="no", count=3, seconds=0.5)
    server.answer(version="4", variant="candidate", status=500, count=1)
    now = samples_from_exposition(server.exposition(), "churn")[("candidate", "4")]
    assert delta(now, before) == VariantSample(
        requests=4, errors=1,
        latency=((0.05, 1), (0.1, 1), (0.25, 1), (1.0, 4), (math.inf, 4)),
        predictions={"yes": 0, "no": 3})
    assert delta(now, None) == now


def test_delta_after_a_restart_is_the_new_count() -> None:
    old = Server()
    old.answer(version="4", variant="candidate", label="yes", count=50)
    before = samples_from_exposition(old.exposition(), "churn")[("candidate", "4")]
    restarted = Server()
    restarted.answer(version="4", variant="candidate", label="yes", count=7)
    now = samples_from_exposition(restarted.exposition(), "churn")[("candidate", "4")]
    assert delta(now, before) == now
    assert now.requests == 7
