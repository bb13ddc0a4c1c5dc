"""Feedback labels score the server's recent one-row answers as they arrive: counters per
model, version, variant and outcome on ``/metrics`` (what the rollout controller's
live_quality guard reads), labels it cannot score counted as unmatched."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from assay.serving._feedback import Answers
from tests.serving.worlds import World, serving


def _counter(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        tags = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(tags.get(k) == v for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_labels_score_the_answers_they_name(world: World, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    with serving(world.root, "toy@production", "--log-dir", str(tmp_path / "log")) as server, \
            server.client() as client:
        predicted = {}
        for i in range(40):
            row = {"a": float(rng.normal()), "b": int(rng.integers(0, 10)),
                   "c": float(rng.normal())}
            answer = client.post("/predict", json={"records": [row]},
                                 headers={"X-Request-ID": f"q{i}"})
            assert answer.status_code == 200
            predicted[f"q{i}"] = answer.json()["predictions"][0]
        both = client.post("/predict", json={"records": [row, row]},
                           headers={"X-Request-ID": "two-rows"})
        assert both.status_code == 200
        # 30 labels agree with the answer, 10 do not; then three it cannot score
        labels = [{"request_id": rid, "label": p if i < 30 else 1 - p}
                  for i, (rid, p) in enumerate(predicted.items())]
        labels += [{"request_id": "never-asked", "label": 1},
                   {"request_id": "two-rows", "label": 0},
                   {"request_id": "q0", "label": 1}]  # q0 was scored already
        sent = client.post("/feedback", json={"labels": labels})
        metrics = client.get("/metrics").text
    assert sent.status_code == 202
    assert sent.json()["accepted"] == 43 and sent.json()["scored"] == 40
    name = "assay_serving_feedback_scored_total"
    assert _counter(metrics, name, model="toy", version="1", outcome="correct") == 30
    assert _counter(metrics, name, model="toy", version="1", outcome="wrong") == 10
    assert _counter(metrics, "assay_serving_feedback_unmatched_total", model="toy") == 3


def test_a_regressor_scores_absolute_and_squared_errors() -> None:
    answers = Answers(capacity=2)
    answers.remember("m", "r1", "3", "stable", np.array([2.5]), False)
    answers.remember("m", "r1", "4", "shadow", np.array([1.0]), False)  # the shadow's
    answers.remember("m", "r2", "3", "stable", np.array([0.0]), False)
    answers.remember("m", "r3", "3", "stable", np.array([0.0]), False)  # r1 is forgotten
    assert answers.score("m", "r1", "2.0") is None
    scores = answers.score("m", "r2", "-1.5")
    assert scores is not None and [(s.variant, s.outcome, s.error) for s in scores] == [
        ("stable", "scored", 1.5)]
    assert answers.score("m", "r3", '"text"') is None  # not a number: cannot score
    assert len(answers) == 0


def test_a_shadow_prediction_is_scored_with_the_answer() -> None:
    answers = Answers()
    answers.remember("m", "r", "1", "stable", np.array([1]), True)
    answers.remember("m", "r", "2", "shadow", np.array(["1"], dtype=object), True)
    answers.remember("m", "s", "1", "stable", np.array([1, 0]), True)  # two rows: not kept
    scores = answers.score("m", "r", "1")
    assert scores is not None
    assert [(s.version, s.variant, s.outcome) for s in scores] == [
        ("1", "stable", "correct"), ("2", "shadow", "correct")]
    assert answers.score("m", "s", "1") is None and answers.score("m", "r", "1") is None


@pytest.mark.parametrize(("prediction", "label", "same"), [
    (1, 1, True), (1, 1.0, True), (1, True, True), (0, False, True), (1, 0, False),
    ("yes", "yes", True), ("yes", "no", False), (1, "1", True), ("1", 1, True),
    (np.int64(2), 2, True), (np.float64(2.5), "2.5", True), (1.0, "1", False)])
def test_one_rule_for_a_correct_class(prediction: object, label: object, same: bool) -> None:
    """The server's live scoring, monitoring's realised quality and pos_label share it."""
    from assay.metrics import same_class

    assert same_class(prediction, label) is same
