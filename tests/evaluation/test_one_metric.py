"""One metric, one value: the train stage and the evaluation measure one model on one data set
with the same functions (log loss with one clipping), and both measure the configured class."""

from __future__ import annotations

import json

import pytest

from assay.evaluation import Candidate, EvaluateOptions, evaluate
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
