"""The issue's bad inputs, end to end through ``assay run``: each ends as a reason, not a crash.

One project holds one evaluate stage per bad input (so training happens once); the run keeps
going past failures and every stage's outcome, exit code and log line is checked.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from sklearn.linear_model import LogisticRegression

from tests.conftest import TmpProject
from tests.models.worlds import churn_frame, save_candidate

pytestmark = pytest.mark.slow

FEATURES = ["tenure_months", "monthly_charges", "contract"]

BREAK = '''
import shutil
shutil.copytree("models/train", "models/broken")
open("models/broken/model.skops", "wb").write(b"not a zip file")
'''

NAN_MODEL = '''
import numpy as np


class NanModel:
    classes_ = np.array([0, 1])

    def predict(self, data):
        return np.zeros(data.height)

    def predict_proba(self, data):
        p = np.full(data.height, 0.5)
        p[::7] = np.nan
        return np.column_stack([1 - p, p])
'''

MAKE_NAN = '''
import polars as pl

import assay
from nanmodel import NanModel

x = pl.read_parquet("data/holdout.parquet").select("tenure_months").head(3)
assay.log_model(NanModel(), "nan", input_example=x, path="models/nan", allow_pickle=True)
'''


def _evaluate(**overrides: Any) -> dict[str, Any]:
    stage: dict[str, Any] = {
        "kind": "evaluate",
        "candidates": ["train"],
        "datasets": {"holdout": "data/holdout.parquet"},
        "target": "churned",
        "gates": [{"metric": "roc_auc", "min": 0.5}],
        "bootstrap": {"resamples": 50},
    }
    return {**stage, **overrides}


STAGES: dict[str, Any] = {
    "train": {
        "kind": "train", "estimator": "random_forest",
        "hyperparams": {"n_estimators": 10, "max_depth": 4, "n_jobs": 1},
        "data": "data/train.parquet", "target": "churned", "features": FEATURES, "seed": 1,
    },
    "broken": {"cmd": f"{sys.executable} break.py", "deps": ["break.py", "models/train"],
               "outs": ["models/broken"]},
    "nan": {"cmd": f"{sys.executable} make_nan.py", "deps": ["make_nan.py", "nanmodel.py"],
            "outs": ["models/nan"]},
    "eval_load": _evaluate(candidates=["train", "broken"]),
    "eval_missing_feature": _evaluate(datasets={"holdout": "data/nofeature.parquet"}),
    "eval_dtype": _evaluate(datasets={"holdout": "data/wrongtype.parquet"}),
    "eval_one_class": _evaluate(datasets={"holdout": "data/oneclass.parquet"}),
    "eval_nan": _evaluate(candidates=["nan"], allow_pickle=True),
    "eval_empty_slice": _evaluate(slices={"nobody": "tenure_months > 1000"}),
    "eval_champion": _evaluate(
        champion="models/old",
        gates=[{"beats_champion": {"metric": "roc_auc", "min_delta": -1.0}}],
    ),
}


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("bad-input") / "project"
    (root / ".assay").mkdir(parents=True)
    project = TmpProject(root)
    (root / "data").mkdir()
    churn_frame(600, seed=1).write_parquet(root / "data" / "train.parquet")
    holdout = churn_frame(300, seed=2)
    holdout.write_parquet(root / "data" / "holdout.parquet")
    holdout.drop("contract").write_parquet(root / "data" / "nofeature.parquet")
    holdout.with_columns(pl.col("monthly_charges").cast(pl.String)).write_parquet(
        root / "data" / "wrongtype.parquet"
    )
    holdout.with_columns(pl.lit(0, dtype=pl.Int64).alias("churned")).write_parquet(
        root / "data" / "oneclass.parquet"
    )
    # a champion from an older feature set: it needs a column today's data no longer has
    older = churn_frame(600, seed=3).with_columns(pl.col("tenure_months").alias("support_calls"))
    save_candidate(root, "models/old", LogisticRegression(), older,
                   features=["tenure_months", "support_calls"], name="old")
    project.gen({"break.py": BREAK, "nanmodel.py": NAN_MODEL, "make_nan.py": MAKE_NAN})
    project.config(stages=STAGES)
    result = project.run("run", "--keep-going", "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    body = json.loads(result.stdout)
    return root, body


def _outcome(ran: tuple[Path, dict[str, Any]], stage: str) -> tuple[dict[str, Any], str]:
    root, body = ran
    outcome = next(s for s in body["stages"] if s["stage"] == stage)
    log = (root / ".assay" / "logs" / body["run_id"] / f"{stage}.log").read_text()
    assert "Traceback" not in log
    return outcome, log


def _report(ran: tuple[Path, dict[str, Any]], stage: str) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(
        (ran[0] / "reports" / stage / "evaluation.json").read_text()
    )
    return report


def test_a_candidate_that_fails_to_load_is_reported_and_the_others_still_compete(
    ran: tuple[Path, dict[str, Any]],
) -> None:
    outcome, _ = _outcome(ran, "eval_load")
    assert outcome["status"] == "succeeded"
    report = _report(ran, "eval_load")
    broken = next(c for c in report["candidates"] if c["package"] == "models/broken")
    assert broken["passed"] is False
    assert broken["gates"][0]["gate"] == "load"
    assert broken["gates"][0]["detail"].startswith(
        "cannot load the model: broken/model.skops is not a skops file (not a zip archive)"
    )
    assert report["selected"]["candidate"] == "train"


@pytest.mark.parametrize(
    ("stage", "reason"),
    [
        ("eval_missing_feature", "train: predict: The input does not match the model signature: "
                                 "missing column 'contract'"),
        ("eval_dtype", "train: predict: The input does not match the model signature: column "
                       "'monthly_charges' is String, the model expects Float64"),
        ("eval_nan", "nan: predict: 43 NaN or infinite predictions from nan on dataset 'holdout'"),
        ("eval_champion", "train: beats_champion(roc_auc, min_delta=-1): the champion models/old "
                          "could not be evaluated: The input does not match the model signature: "
                          "missing column 'support_calls'"),
    ],
    ids=["missing-feature", "wrong-dtype", "nan-predictions", "champion-feature-set"],
)
def test_a_candidate_stopped_by_bad_input_fails_the_stage_with_the_reason(
    ran: tuple[Path, dict[str, Any]], stage: str, reason: str
) -> None:
    outcome, log = _outcome(ran, stage)
    assert (outcome["status"], outcome["exit_code"]) == ("failed", 1)
    assert "no candidate passed every gate" in log
    assert any(line.startswith(reason) for line in log.splitlines()), log
    assert _report(ran, stage)["passed"] is False


def test_a_single_class_target_is_a_setup_error(ran: tuple[Path, dict[str, Any]]) -> None:
    outcome, log = _outcome(ran, "eval_one_class")
    assert (outcome["status"], outcome["exit_code"]) == ("failed", 2)
    assert log.strip().splitlines()[-1] == (
        "error: The target 'churned' in dataset 'holdout' has one class only (0); "
        "classification metrics need both classes"
    )


def test_a_slice_selecting_no_rows_is_noted_and_does_not_fail(
    ran: tuple[Path, dict[str, Any]],
) -> None:
    outcome, log = _outcome(ran, "eval_empty_slice")
    assert outcome["status"] == "succeeded"
    assert "note: slice 'nobody' selected no rows on holdout" in log.splitlines()
    train = next(c for c in _report(ran, "eval_empty_slice")["candidates"])
    assert train["metrics"]["holdout"]["nobody"] == {"rows": 0}


def test_a_misspelt_gate_metric_stops_the_run_before_anything_trains(
    tmp_project: TmpProject,
) -> None:
    stages = {"train": STAGES["train"],
              "evaluate": _evaluate(gates=[{"metric": "roc_acu", "min": 0.5}])}
    (tmp_project.root / "assay.yaml").write_text(yaml.safe_dump({"project": "t", "stages": stages}))
    result = tmp_project.run("run")
    assert result.returncode == 2
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: assay.yaml:"), line
    assert ": stages.evaluate.gates.0.metric: " in line
    assert "unknown metric 'roc_acu'; did you mean 'roc_auc'?" in line
    assert "Traceback" not in result.stderr
    assert not (tmp_project.root / "models").exists()
