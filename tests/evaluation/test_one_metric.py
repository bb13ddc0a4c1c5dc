"""One metric, one value: the train stage and the evaluation measure one model on one data set
with the same functions (log loss with one clipping), and both measure the configured class."""

from __future__ import annotations

import json
import re

import numpy as np
import polars as pl
import pytest

from assay.errors import EvaluationError, ModelError
from assay.evaluation import Candidate, EvaluateOptions, evaluate, to_html, to_markdown
from assay.models import TrainOptions
from assay.models._train_kind import KIND
from tests.conftest import TmpProject
from tests.models.worlds import churn_frame, stage_context


@pytest.fixture
def project(tmp_project: TmpProject) -> TmpProject:
    (tmp_project.root / "data").mkdir()
    churn_frame(600, seed=1).write_parquet(tmp_project.root / "data" / "train.parquet")
    churn_frame(400, seed=2).write_parquet(tmp_project.root / "data" / "holdout.parquet")
    tmp_project.config(datasets={"train": "data/train.parquet"})
    return tmp_project


def test_train_and_evaluate_report_the_same_log_loss_for_the_same_model_and_data(
    project: TmpProject,
) -> None:
    # deep trees predict probabilities of exactly 0 and 1: the clipping decides the log loss
    options = TrainOptions.model_validate({
        "estimator": "random_forest", "hyperparams": {"n_estimators": 3, "max_depth": None},
        "data": "train", "validation": "data/holdout.parquet", "target": "churned",
        "features": {"exclude": ["customer_id"]}, "seed": 3,
    })
    ctx = stage_context(project.root, project.load().store_url, "train")
    assert KIND.run(options, ctx) == 0
    trained = json.loads((project.root / "metrics" / "train.json").read_text())
    result = evaluate(
        EvaluateOptions.model_validate({
            "candidates": ["train"], "datasets": {"holdout": "data/holdout.parquet"},
            "target": "churned", "bootstrap": {"resamples": 10},
        }),
        [Candidate("train", project.root / "models" / "train")], root=project.root,
    )
    measured = result.report["candidates"][0]["metrics"]["holdout"]["all"]
    assert trained["log_loss"] > 1.0  # confident mistakes: the clipping matters here
    for metric in ("log_loss", "accuracy", "precision", "recall", "f1", "roc_auc"):
        assert trained[metric] == pytest.approx(measured[metric], rel=1e-12), metric


def _credit(rows: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.normal(50, 15, rows)
    defaulted = rng.random(rows) < 1 / (1 + np.exp((income - 35) / 5))
    return pl.DataFrame({"income": income,
                         "status": np.where(defaulted, "defaulted", "repaid")})


def test_pos_label_makes_recall_measure_the_named_class(tmp_project: TmpProject) -> None:
    from sklearn.dummy import DummyClassifier

    from assay.models import save_model

    root = tmp_project.root
    frame = _credit(500, 0)
    (root / "data").mkdir()
    frame.write_parquet(root / "data" / "holdout.parquet")
    # a model that always answers "repaid" (the majority, and the class that sorts last)
    always = DummyClassifier(strategy="constant", constant="repaid")
    always.fit(frame.select("income").to_numpy(), frame["status"].to_numpy())
    save_model(always, root / "models" / "always", name="always",
               input_example=frame.select("income").head(3), lineage={"root": root})
    base = {"candidates": ["always"], "datasets": {"holdout": "data/holdout.parquet"},
            "target": "status", "gates": [{"metric": "recall", "min": 0.2}]}
    cands = [Candidate("always", root / "models" / "always")]

    unset = evaluate(EvaluateOptions.model_validate(base), cands, root=root)
    assert unset.report["positive_class"] == "repaid"
    assert unset.passed  # recall of "repaid" is 1.0: why the positive class must be named

    named = evaluate(EvaluateOptions.model_validate({**base, "pos_label": "defaulted"}),
                     cands, root=root)
    assert named.report["positive_class"] == "defaulted"
    metrics = named.report["candidates"][0]["metrics"]["holdout"]["all"]
    assert metrics["recall"] == 0.0 and metrics["tp"] == 0.0
    assert not named.passed

    markdown = to_markdown(named.report)
    assert "Positive class: 'defaulted' (pos_label)." in markdown
    assert "Positive class: &#x27;defaulted&#x27; (pos_label)." in to_html(named.report)
    assert "Positive class: 'repaid' (the class that sorts last" in to_markdown(unset.report)


def test_a_pos_label_that_is_not_a_class_is_a_config_error(tmp_project: TmpProject) -> None:
    root = tmp_project.root
    (root / "data").mkdir()
    _credit(200, 1).write_parquet(root / "data" / "holdout.parquet")
    options = EvaluateOptions.model_validate({
        "candidates": ["x"], "datasets": {"holdout": "data/holdout.parquet"}, "target": "status",
        "pos_label": "default"})
    with pytest.raises(EvaluationError, match=r"pos_label .*'default' is not a class of the "
                       r"target \(classes: 'defaulted', 'repaid'\)"):
        evaluate(options, [Candidate("x", root / "models" / "x")], root=root)


def test_train_measures_recall_of_the_pos_label(project: TmpProject) -> None:
    base = {"estimator": "logistic_regression", "data": "train", "target": "churned",
            "features": {"exclude": ["customer_id"]}}
    ctx = stage_context(project.root, project.load().store_url, "train")
    KIND.run(TrainOptions.model_validate(base), ctx)
    default = json.loads((project.root / "metrics" / "train.json").read_text())
    KIND.run(TrainOptions.model_validate({**base, "pos_label": 0}), ctx)
    negative = json.loads((project.root / "metrics" / "train.json").read_text())
    assert default["train_recall"] != negative["train_recall"]
    assert default["train_roc_auc"] == pytest.approx(negative["train_roc_auc"])
    with pytest.raises(ModelError, match=r"train.pos_label: 'yes' is not a class"):
        KIND.run(TrainOptions.model_validate({**base, "pos_label": "yes"}), ctx)


def test_a_pos_label_that_is_not_one_label_is_refused_with_its_line(
    tmp_project: TmpProject,
) -> None:
    tmp_project.gen({"data/holdout.csv": "x,y\n1,0\n2,1\n"})
    tmp_project.config(stages={
        "train": {"cmd": "echo", "outs": ["models/m"]},
        "evaluate": {"kind": "evaluate", "candidates": ["train"], "target": "y",
                     "datasets": {"holdout": "data/holdout.csv"}, "pos_label": [1]}})
    result = tmp_project.invoke("config", "check")
    assert result.code == 2
    assert re.search(r"assay.yaml:\d+: stages.evaluate.pos_label: pos_label must be one class "
                     r"label \(text, a number or true/false\)", result.stderr), result.stderr
