"""A monitor's ``min_accuracy``: a window whose accuracy is shown below the bound raises a
quality finding (alert and trigger cause). Seeded simulations: a model exactly at the bound
raises it at most alpha (+2 points) of the time, from labels and from the label-free estimate,
in small and large windows; a clear drop is caught."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from assay.monitoring._quality import quality_alarm
from tests.conftest import TmpProject
from tests.monitoring.worlds import live, make_project, training_frame, write_log

TRIALS = 2000
ALPHA = 0.05


@pytest.mark.parametrize("labels", [200, 5000])
def test_labels_at_the_bound_alarm_at_most_alpha(labels: int) -> None:
    rng = np.random.default_rng(labels)
    bound = 0.8
    alarms = 0
    for correct in rng.binomial(labels, bound, size=TRIALS):
        found = quality_alarm(bound, {"metric": "accuracy", "value": correct / labels,
                                      "labels": labels}, None, alpha=ALPHA)
        assert found is not None and found["source"] == "realised"
        alarms += found["alarm"]
    assert alarms / TRIALS <= ALPHA + 0.02


@pytest.mark.parametrize("rows", [200, 5000])
@pytest.mark.parametrize("classes", [2, 4])
def test_the_estimate_at_the_bound_alarms_at_most_alpha(rows: int, classes: int) -> None:
    """Calibrated probabilities of a model whose accuracy on this traffic is exactly the bound
    (the bound is that accuracy, measured on a million rows of the same traffic)."""
    rng = np.random.default_rng(rows * classes)
    bound = float(np.mean(rng.dirichlet(np.full(classes, 0.7), size=1_000_000).max(axis=1)))
    alarms = 0
    for _ in range(TRIALS):
        confidence = rng.dirichlet(np.full(classes, 0.7), size=rows).max(axis=1)
        estimate = {"metric": "accuracy", "value": float(confidence.mean()), "low": 0.0,
                    "high": 1.0, "coverage": 0.95, "rows": rows}
        found = quality_alarm(bound, None, estimate, alpha=ALPHA)
        assert found is not None and found["source"] == "estimated"
        alarms += found["alarm"]
    assert alarms / TRIALS <= ALPHA + 0.02


def test_a_drop_of_ten_points_is_caught_from_300_labels() -> None:
    rng = np.random.default_rng(7)
    caught = sum(quality_alarm(0.8, {"metric": "accuracy", "value": c / 300, "labels": 300},
                               None, alpha=ALPHA)["alarm"]  # type: ignore[index]
                 for c in rng.binomial(300, 0.7, size=TRIALS))
    assert caught / TRIALS >= 0.95


def test_too_few_labels_fall_back_to_the_estimate_and_regressors_get_none() -> None:
    estimate = {"metric": "accuracy", "value": 0.9, "low": 0.85, "high": 0.95,
                "coverage": 0.95, "rows": 400}
    few = quality_alarm(0.8, {"metric": "accuracy", "value": 0.1, "labels": 29}, estimate,
                        alpha=ALPHA)
    assert few is not None and few["source"] == "estimated" and not few["alarm"]
    assert quality_alarm(0.8, {"metric": "mae", "value": 3.0, "labels": 500}, None,
                         alpha=ALPHA) is None


def test_a_window_below_the_bound_raises_a_finding_and_a_trigger_cause(
    tmp_project: TmpProject,
) -> None:
    import time

    from assay.alerts import finding_of
    from assay.store import open_store
    from assay.triggers import arm, due

    world = make_project(tmp_project, min_accuracy=0.9)
    config = yaml.safe_load((world.root / "assay.yaml").read_text())
    config["triggers"] = {"retrain": {"monitor": "drift", "severity": "error"}}
    (world.root / "assay.yaml").write_text(yaml.safe_dump(config))
    frame = live(training_frame(300, seed=11))
    answers = (frame["a"] + frame["c"] * 0.5 > 0).cast(int).to_list()
    # the labels say the model is right on 60% of the rows: far below 0.9
    labels = {i: (answers[i] if i % 5 < 3 else 1 - answers[i]) for i in range(frame.height)}
    write_log(world.root, frame, rows_per_request=1, labels=labels)
    loaded = world.load()
    with open_store(loaded.store_url) as store:
        armed = arm(store, "retrain", loaded.config.triggers["retrain"], actor="t")
        time.sleep(0.01)
        done = world.invoke("monitor", "drift", "--json")
        assert done.code == 1, done.output
        window = json.loads(done.stdout)
        alarm = window["quality_alarm"]
        assert alarm["source"] == "realised" and alarm["alarm"] and alarm["n"] == 300
        assert abs(alarm["value"] - 0.6) < 1e-9
        from assay.monitoring import windows

        [stored] = windows(store, "drift")
        assert stored.quality_alarm == alarm
        finding = finding_of(stored, loaded.config)
        assert finding is not None and finding.severity == "error"
        assert finding.summary.startswith("low accuracy on drift (toy-prod, toy v1): realised "
                                          "0.600 below 0.9")
        assert finding.to_alert()["quality_alarm"]["bound"] == 0.9
        cause = due(store, loaded.config, loaded.config.triggers["retrain"], armed=armed,
                    last_at=None, now=time.time())
        assert cause is not None and cause.key == f"window:{stored.id}"
    text = world.invoke("monitor", "drift").output
    assert "quality: realised accuracy 0.600 below the bound 0.9" in text
