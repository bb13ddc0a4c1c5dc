"""``assay run`` with kind: train (a matrix of estimator families) and kind: evaluate."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import TmpProject, store_connection
from tests.models.worlds import churn_frame

pytestmark = pytest.mark.slow


def _pipeline(min_auc: float) -> dict[str, Any]:
    return {
        "datasets": {"train": "data/train.parquet"},
        "stages": {
            "train": {
                "kind": "train",
                "matrix": {"model": ["random_forest", "logistic_regression", "xgboost"]},
                "estimator": "${matrix.model}",
                "hyperparams_for": {
                    "random_forest": {"n_estimators": 20, "max_depth": 4, "n_jobs": 1},
                    "xgboost": {"n_estimators": 20, "n_jobs": 1},
                },
                "data": "train",
                "target": "churned",
                "features": {"exclude": ["customer_id"]},
                "seed": 7,
            },
            "evaluate": {
                "kind": "evaluate",
                "candidates": ["train"],
                "datasets": {"holdout": "data/holdout.parquet", "benchmark": "data/benchmark.parquet"},
                "target": "churned",
                "slices": {"new": "tenure_months < 12"},
                "fairness": {"column": "gender"},
                "gates": [{"metric": "roc_auc", "min": min_auc, "dataset": "holdout"}],
                "select": {"metric": "roc_auc", "dataset": "holdout"},
                "bootstrap": {"resamples": 100},
            },
        },
    }


@pytest.fixture
def project(tmp_project: TmpProject) -> TmpProject:
    data = tmp_project.root / "data"
    data.mkdir()
    churn_frame(800, seed=1).write_parquet(data / "train.parquet")
    churn_frame(400, seed=2).write_parquet(data / "holdout.parquet")
    churn_frame(400, seed=3).write_parquet(data / "benchmark.parquet")
    return tmp_project


def _write(project: TmpProject, min_auc: float) -> None:
    (project.root / "assay.yaml").write_text(yaml.safe_dump({"project": "e2e", **_pipeline(min_auc)}))


def test_run_trains_a_matrix_evaluates_and_fails_visibly_when_gates_tighten(project: TmpProject) -> None:
    _write(project, 0.6)
    first = project.run("run")
    assert first.returncode == 0, first.stdout + first.stderr
    report_path = project.root / "reports" / "evaluate" / "evaluation.json"
    report = json.loads(report_path.read_text())
    names = sorted(c["candidate"] for c in report["candidates"])
    assert names == ["train[model=logistic_regression]", "train[model=random_forest]", "train[model=xgboost]"]
    assert report["passed"] is True and report["selected"]["candidate"] in names
    flavors = {
        json.loads((project.root / c["package"] / "model.json").read_text())["flavor"]
        for c in report["candidates"]
    }
    assert flavors == {"sklearn", "xgboost"}

    _write(project, 0.999)
    second = project.run("run")
    assert second.returncode == 1
    output = second.stdout + second.stderr
    assert "evaluate" in output and "failed" in output
    report = json.loads(report_path.read_text())
    assert report["passed"] is False
    log = "\n".join(p.read_text() for p in Path(project.root, ".assay", "logs").rglob("evaluate.log"))
    assert "no candidate passed every gate" in log
    assert "roc_auc >= 0.999" in log


TRAIN_SCRIPT = '''
import polars as pl
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.compose import make_column_transformer
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import assay

frame = pl.read_parquet("data/train.parquet")
x = frame.select("tenure_months", "monthly_charges", "contract")
pre = make_column_transformer(
    (StandardScaler(), ["tenure_months", "monthly_charges"]),
    (OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["contract"]),
)
model = make_pipeline(pre, LogisticRegression()).fit(x, frame["churned"].to_numpy())
assay.log_model(model, "churn", input_example=x.head(3), path="models/custom")
'''


def test_a_cmd_stage_that_logs_a_model_is_a_candidate(project: TmpProject) -> None:
    from sqlalchemy import select

    from assay.store import open_store
    from assay.store.tables import artifacts, logged_models

    project.gen({"train_custom.py": TRAIN_SCRIPT})
    pipeline = _pipeline(0.6)
    evaluate = pipeline["stages"]["evaluate"]
    pipeline["stages"] = {
        "custom": {"cmd": f"{sys.executable} train_custom.py", "deps": ["train_custom.py", "data/train.parquet"],
                   "outs": ["models/custom"]},
        "evaluate": {**evaluate, "candidates": ["custom"]},
    }
    (project.root / "assay.yaml").write_text(yaml.safe_dump({"project": "e2e", **pipeline}))
    result = project.run("run")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((project.root / "reports" / "evaluate" / "evaluation.json").read_text())
    assert report["selected"]["candidate"] == "custom"
    store = open_store(project.load().store_url)
    with store_connection(store.url) as conn:
        logged = conn.execute(select(logged_models)).one()
        kinds = {row.kind for row in conn.execute(select(artifacts).where(artifacts.c.hash == logged.hash))}
    store.close()
    assert logged.stage_run_id is not None and "model" in kinds
