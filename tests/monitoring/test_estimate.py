"""The label-free accuracy estimate (confidence-based, as NannyML's CBPE): on simulated
traffic with calibrated probabilities, its 95% interval covers the accuracy the labels then
show at its stated rate, in small and large windows; on a stored window it is reported."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from assay.monitoring._quality import COVERAGE, estimated_accuracy
from tests.conftest import TmpProject
from tests.monitoring.worlds import live, make_project, training_frame, write_log

WINDOWS = 2000


@pytest.mark.parametrize("rows", [50, 1000])
@pytest.mark.parametrize("classes", [2, 4])
def test_the_interval_covers_the_realised_accuracy_at_its_rate(rows: int, classes: int) -> None:
    rng = np.random.default_rng(rows + classes)
    covered = 0
    for _ in range(WINDOWS):
        # calibrated probabilities: each row's class is drawn from its own probabilities
        probabilities = rng.dirichlet(np.full(classes, 0.7), size=rows)
        truth = (probabilities.cumsum(axis=1) > rng.random((rows, 1))).argmax(axis=1)
        realised = float(np.mean(probabilities.argmax(axis=1) == truth))
        found = estimated_accuracy(pl.Series(probabilities).cast(pl.List(pl.Float64)))
        assert found is not None and found.rows == rows
        covered += found.low <= realised <= found.high
    rate = covered / WINDOWS
    # the stated 95%, within 3 Monte Carlo standard errors (small windows are discrete)
    assert abs(rate - COVERAGE) <= 3 * (COVERAGE * (1 - COVERAGE) / WINDOWS) ** 0.5 + 0.01, rate


def test_no_probabilities_no_estimate() -> None:
    assert estimated_accuracy(pl.Series("p", [None, None], dtype=pl.List(pl.Float64))) is None


def test_a_window_reports_its_estimate(tmp_project: TmpProject) -> None:
    world = make_project(tmp_project)
    write_log(world.root, live(training_frame(400, seed=3)), rows_per_request=1)
    done = world.invoke("monitor", "drift", "--json")
    import json

    estimate = json.loads(done.output)["estimate"]
    # the writer logs 0.8 for the class it answers (and 0.2, or 1.0 and 0.0, for the other)
    assert estimate["metric"] == "accuracy" and estimate["rows"] == 400
    assert 0.8 <= estimate["value"] <= 1.0 and estimate["low"] <= estimate["value"]
    text = world.invoke("monitor", "drift").output
    assert "estimated accuracy without labels" in text
