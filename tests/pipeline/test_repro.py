"""``assay run --check-repro STAGE``: rerun from the same inputs and compare."""

from __future__ import annotations

import json
import sys

import pytest

from tests.conftest import TmpProject

DETERMINISTIC = {"cmd": "echo '{\"acc\": 0.5}' > m.json; echo model > model.txt",
                 "outs": ["model.txt"], "metrics": ["m.json"]}
NOISY = {"cmd": "python -c \"import json, random; json.dump({'acc': 0.5 + random.random() * 1e-3}, "
                "open('m.json', 'w'))\"; echo model > model.txt",
         "outs": ["model.txt"], "metrics": ["m.json"]}


def test_deterministic_stage_is_reproducible(tmp_project: TmpProject) -> None:
    tmp_project.config(stages={"train": DETERMINISTIC})
    assert tmp_project.invoke("run").code == 0
    lock_before = (tmp_project.root / "assay.lock").read_text()
    result = tmp_project.invoke("run", "--check-repro", "train", "--json")
    assert result.code == 0, result.output
    body = json.loads(result.stdout)
    assert body["reproducible"] is True
    stage = body["stages"][0]
    assert stage["outs"]["model.txt"]["identical"] is True
    assert stage["metrics"]["acc"] == {"recorded": 0.5, "rerun": 0.5, "delta": 0.0, "within": True}
    assert (tmp_project.root / "assay.lock").read_text() == lock_before


def test_noisy_metrics_fail_exact_check_but_pass_within_tolerance(tmp_project: TmpProject) -> None:
    tmp_project.config(stages={"train": NOISY})
    assert tmp_project.invoke("run").code == 0
    recorded = (tmp_project.root / "m.json").read_text()
    exact = tmp_project.invoke("run", "--check-repro", "train")
    assert exact.code == 1
    assert "NOT reproducible" in exact.stdout and "DIFFERS" in exact.stdout
    assert (tmp_project.root / "m.json").read_text() == recorded  # workspace put back
    loose = tmp_project.invoke("run", "--check-repro", "train", "--tolerance", "0.01")
    assert loose.code == 0, loose.output
    assert "reproducible" in loose.stdout


def test_check_repro_of_a_stale_stage_says_run_first(tmp_project: TmpProject) -> None:
    tmp_project.config(stages={"train": DETERMINISTIC})
    result = tmp_project.invoke("run", "--check-repro", "train")
    assert result.code == 2
    assert "is stale (never run); run `assay run train` first" in result.stderr


TIMED = {"cmd": "python -c \"import json, random; json.dump({'acc': 0.5, 'fit_seconds': random.random(), "
                "'serve': {'latency_ms': random.random()}}, open('m.json', 'w'))\"; echo model > model.txt",
         "outs": ["model.txt"], "metrics": ["m.json"]}


def test_timing_metrics_are_excluded_and_listed(tmp_project: TmpProject) -> None:
    tmp_project.config(stages={"train": TIMED})
    assert tmp_project.invoke("run").code == 0
    result = tmp_project.invoke("run", "--check-repro", "train", "--json")
    assert result.code == 0, result.output
    stage = json.loads(result.stdout)["stages"][0]
    assert stage["reproducible"] is True
    assert stage["excluded_metrics"] == ["fit_seconds", "serve.latency_ms"]
    assert sorted(stage["metrics"]) == ["acc"]
    assert stage["outs"]["m.json"]["identical"] is False
    assert stage["outs"]["m.json"]["equivalent"] is True
    text = tmp_project.invoke("run", "--check-repro", "train")
    assert "not compared (timing): fit_seconds, serve.latency_ms" in text.stdout
    assert "out m.json: equivalent, bytes differ (only timing metrics differ)" in text.stdout


def _train_data(project: TmpProject) -> None:
    from tests.models.worlds import churn_frame

    (project.root / "data").mkdir(exist_ok=True)
    churn_frame(400, seed=1).write_parquet(project.root / "data" / "train.parquet")
    churn_frame(200, seed=2).write_parquet(project.root / "data" / "holdout.parquet")


TRAIN_STAGE = {
    "kind": "train",
    "estimator": "random_forest",
    "hyperparams": {"n_estimators": 15, "max_depth": 4, "n_jobs": 2},
    "data": "data/train.parquet",
    "validation": "data/holdout.parquet",
    "target": "churned",
    "features": {"exclude": ["customer_id"]},
    "seed": 3,
}


@pytest.mark.slow
def test_a_train_stage_rebuilds_the_identical_package(tmp_project: TmpProject) -> None:
    _train_data(tmp_project)
    tmp_project.config(stages={"train": TRAIN_STAGE})
    first = tmp_project.invoke("run")
    assert first.code == 0, first.output
    package_oid = json.loads((tmp_project.root / "assay.lock").read_text())["stages"]["train"][
        "out_hashes"]["models/train"]
    result = tmp_project.invoke("run", "--check-repro", "train", "--json")
    assert result.code == 0, result.output
    stage = json.loads(result.stdout)["stages"][0]
    assert stage["reproducible"] is True
    assert stage["outs"]["models/train"] == {
        "recorded": package_oid, "rerun": package_oid, "identical": True,
    }
    assert stage["excluded_metrics"] == ["train_seconds"]
    assert {"train_accuracy", "roc_auc", "model_size_mb"} <= set(stage["metrics"])
    assert all(m["within"] and m["delta"] == 0 for m in stage["metrics"].values())
    assert stage["outs"]["metrics/train.json"]["equivalent"] is True


CUSTOM_TRAIN = '''
import random
import time

import polars as pl
from sklearn.linear_model import LogisticRegression

import assay

frame = pl.read_parquet("data/train.parquet")
x = frame.select("tenure_months", "monthly_charges")
model = LogisticRegression(random_state=0).fit(x, frame["churned"].to_numpy())
# a stamp that does not change what the model predicts, but changes its bytes in every run
model.trained_at_ = time.time()
if SHAKE:
    model.coef_ = model.coef_ * (1 + random.random() / 10)
assay.log_model(model, "custom", input_example=x.head(3), path="models/custom",
                datasets=[{"name": "holdout", "path": "data/holdout.parquet", "role": "validation"}])
'''


@pytest.mark.slow
@pytest.mark.parametrize(
    ("shake", "reproducible", "detail"),
    [(False, True, "same predictions on data/holdout.parquet (200 rows, max |difference| 0)"),
     (True, False, "different predictions on data/holdout.parquet")],
    ids=["stamped-but-same-predictions", "different-predictions"],
)
def test_a_cmd_stage_model_that_differs_in_bytes_is_compared_by_predictions(
    tmp_project: TmpProject, shake: bool, reproducible: bool, detail: str
) -> None:
    _train_data(tmp_project)
    tmp_project.gen({"train.py": CUSTOM_TRAIN.replace("SHAKE", str(shake))})
    tmp_project.config(stages={"custom": {
        "cmd": f"{sys.executable} train.py", "deps": ["train.py", "data/train.parquet"],
        "outs": ["models/custom"],
    }})
    assert tmp_project.invoke("run").code == 0
    recorded = (tmp_project.root / "models" / "custom" / "model.skops").read_bytes()
    result = tmp_project.invoke("run", "--check-repro", "custom", "--json")
    assert result.code == (0 if reproducible else 1), result.output
    out = json.loads(result.stdout)["stages"][0]["outs"]["models/custom"]
    assert out["identical"] is False and out["equivalent"] is reproducible
    assert out["detail"].startswith(detail)
    assert out["files_differ"] == ["model.skops"]
    assert (tmp_project.root / "models" / "custom" / "model.skops").read_bytes() == recorded


@pytest.mark.slow
def test_an_evaluate_stage_is_reproducible_apart_from_its_latency(tmp_project: TmpProject) -> None:
    _train_data(tmp_project)
    # one thread: a forest predicting in parallel may add its trees in any order (last bits)
    single = {**TRAIN_STAGE, "hyperparams": {**TRAIN_STAGE["hyperparams"], "n_jobs": 1}}
    tmp_project.config(stages={
        "train": single,
        "evaluate": {
            "kind": "evaluate", "candidates": ["train"], "target": "churned",
            "datasets": {"holdout": "data/holdout.parquet"},
            "gates": [{"metric": "latency_ms_per_row", "max": 1000}, {"metric": "roc_auc", "min": 0.5}],
            "bootstrap": {"resamples": 50},
        },
    })
    assert tmp_project.invoke("run").code == 0
    result = tmp_project.invoke("run", "--check-repro", "evaluate", "--json")
    assert result.code == 0, result.output
    out = json.loads(result.stdout)["stages"][0]["outs"]["reports/evaluate"]
    assert (out["identical"], out["equivalent"]) == (False, True)
    assert out["detail"] == "same evaluation.json apart from timing metrics"
