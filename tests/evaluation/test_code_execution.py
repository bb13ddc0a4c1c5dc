"""The reported attack, through every path that loads a model: no code runs, the error is clear.

A skops ``Pipeline`` of ``FunctionTransformer(numpy.full_like)``, ``(numpy.sum)`` and
``(builtins.exec)`` would create the canary file at ``predict_proba``. It is offered as an
evaluate candidate, as the champion by alias and by path, to ``assay.load_model`` and to
``assay run --check-repro``; the canary must never appear.
"""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Any

import pytest
from sklearn.linear_model import LogisticRegression

import assay
from assay.errors import GateFailed, ModelError
from assay.evaluation import EvaluateOptions
from assay.evaluation._evaluate_kind import KIND
from assay.models import read_package, store_package
from tests.conftest import TmpProject
from tests.models.worlds import (
    churn_frame,
    hostile_package,
    register_version,
    save_candidate,
    stage_context,
)

REFUSAL = r"Refusing to load model\.skops: .*builtins\.exec \(never trusted\)"


@pytest.fixture
def project(tmp_project: TmpProject) -> TmpProject:
    root = tmp_project.root
    (root / "data").mkdir()
    churn_frame(300, seed=2).write_parquet(root / "data" / "holdout.parquet")
    save_candidate(root, "models/good", LogisticRegression(), churn_frame(400, seed=1),
                   name="good")
    hostile_package(root, "exec-chain", root / "canary", rel="models/evil")
    return tmp_project


def _options(**overrides: Any) -> EvaluateOptions:
    base = {"candidates": ["train"], "datasets": {"holdout": "data/holdout.parquet"},
            "target": "churned", "gates": [{"metric": "roc_auc", "min": 0.5}],
            "bootstrap": {"resamples": 50}}
    return EvaluateOptions.model_validate({**base, **overrides})


def _evaluate(project: TmpProject, options: EvaluateOptions, *outs: str) -> dict[str, Any]:
    ctx = stage_context(project.root, project.load().store_url, "evaluate",
                        upstream_outs={"train": list(outs)})
    with contextlib.suppress(GateFailed):  # the report is what is checked, pass or fail
        KIND.run(options, ctx)
    report: dict[str, Any] = json.loads(
        (project.root / "reports" / "evaluate" / "evaluation.json").read_text()
    )
    return report


def test_as_an_evaluate_candidate_it_fails_alone_and_the_others_compete(
    project: TmpProject,
) -> None:
    report = _evaluate(project, _options(), "models/good", "models/evil")
    evil = next(c for c in report["candidates"] if c["package"] == "models/evil")
    assert (evil["passed"], [g["gate"] for g in evil["gates"]]) == (False, ["load"])
    assert evil["gates"][0]["detail"].startswith("cannot load the model: Refusing to load")
    assert "builtins.exec (never trusted)" in evil["gates"][0]["detail"]
    assert report["selected"]["candidate"] == "good"
    assert not (project.root / "canary").exists()


def _register_evil(project: TmpProject) -> str:
    """The hostile package as churn@production (as if registered before assay checked)."""
    config = project.load()
    logged = store_package(read_package(project.root / "models" / "evil"),
                           cache_dir=config.cache_dir, store_url=config.store_url,
                           stage_run_id=None)
    register_version(config.store_url, "churn", 1, logged.oid, alias="production")
    return logged.oid


@pytest.mark.parametrize("champion", ["churn@production", "models/evil"], ids=["alias", "path"])
def test_as_the_champion_it_is_refused_and_comparisons_say_why(
    project: TmpProject, champion: str
) -> None:
    _register_evil(project)
    options = _options(champion=champion,
                       gates=[{"max_regression": {"metric": "roc_auc", "max_delta": 0.5}}])
    report = _evaluate(project, options, "models/good")
    held = report["candidates"][0]
    assert held["is_champion"] is True and held["passed"] is False
    assert "builtins.exec (never trusted)" in held["gates"][0]["detail"]
    good = report["candidates"][1]
    assert good["passed"] is False
    assert good["gates"][0]["detail"].startswith(
        f"the champion {champion} could not be evaluated: cannot load the model: Refusing"
    )
    assert not (project.root / "canary").exists()


@pytest.mark.parametrize("ref", ["churn@production", "churn:1", "models/evil"],
                         ids=["alias", "version", "path"])
def test_load_model_refuses_it_before_predict_proba(project: TmpProject, ref: str) -> None:
    _register_evil(project)
    with pytest.raises(ModelError, match=REFUSAL):
        assay.load_model(ref, root=project.root).predict_proba({"tenure_months": [1, 2]})
    assert not (project.root / "canary").exists()


HOSTILE_STAGE = '''
import builtins
import random

import numpy as np
import polars as pl
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from assay.models import save_model

code = "open('canary', 'w').write('code ran')\\n"
clf = DummyClassifier().fit([[0.0], [1.0]], [0, 1])
clf.stamp_ = random.random()  # every run writes different bytes: check-repro compares by predicting
model = Pipeline([
    ("fill", FunctionTransformer(np.full_like, kw_args={"fill_value": code, "dtype": object})),
    ("join", FunctionTransformer(np.sum)),
    ("run", FunctionTransformer(builtins.exec)),
    ("clf", clf),
])
save_model(model, "models/evil", name="evil", input_example=pl.DataFrame({"x": [1.0, 2.0]}),
           classes=[0, 1], task="classification",
           lineage={"datasets": [{"name": "x", "path": "data/x.parquet", "role": "validation"}]})
'''


@pytest.mark.slow
def test_check_repro_refuses_to_load_it_to_compare_predictions(tmp_project: TmpProject) -> None:
    import polars as pl

    (tmp_project.root / "data").mkdir()
    pl.DataFrame({"x": [1.0, 2.0, 3.0]}).write_parquet(tmp_project.root / "data" / "x.parquet")
    tmp_project.gen({"evil.py": HOSTILE_STAGE})
    tmp_project.config(stages={"evil": {
        "cmd": f"{sys.executable} evil.py", "deps": ["evil.py"], "outs": ["models/evil"],
    }})
    assert tmp_project.invoke("run").code == 0
    result = tmp_project.invoke("run", "--check-repro", "evil", "--json")
    assert result.code == 1, result.output
    out = json.loads(result.stdout)["stages"][0]["outs"]["models/evil"]
    assert (out["identical"], out["equivalent"]) == (False, False)
    assert out["detail"].startswith("cannot predict on data/x.parquet: Refusing to load")
    assert "builtins.exec (never trusted)" in out["detail"]
    assert not (tmp_project.root / "canary").exists()
