"""kind: train: planned outs, a packaged pipeline with preprocessing, logged params and metrics."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from pydantic import ValidationError
from sqlalchemy import select

from assay.config import PlanContext
from assay.errors import ModelError
from assay.models import TrainOptions, load_package, stage_slug
from assay.models._train_kind import KIND
from assay.store import open_store
from assay.store.tables import artifacts, logged_models, metrics, params
from tests.conftest import TmpProject, store_connection
from tests.models.worlds import churn_frame, stage_context


@pytest.fixture
def project(tmp_project: TmpProject) -> TmpProject:
    frame = churn_frame(600)
    (tmp_project.root / "data").mkdir()
    frame.write_parquet(tmp_project.root / "data" / "train.parquet")
    tmp_project.config(datasets={"train": "data/train.parquet"})
    return tmp_project


def _options(**overrides: object) -> TrainOptions:
    base = {
        "estimator": "random_forest",
        "hyperparams": {"n_estimators": 10, "max_depth": 4},
        "data": "train",
        "target": "churned",
        "features": {"exclude": ["customer_id"]},
        "seed": 3,
    }
    return TrainOptions.model_validate({**base, **overrides})


def test_stage_slug_is_file_name_safe() -> None:
    assert stage_slug("train[model=rf,depth=3]") == "train-model-rf-depth-3"
    assert stage_slug("train") == "train"


def test_plan_names_the_data_dependency_and_outputs(project: TmpProject) -> None:
    ctx = PlanContext(
        root=project.root, stage="train[model=rf]", matrix={"model": "rf"},
        outs_of=lambda name: [], instances_of=lambda name: [],
    )
    plan = KIND.plan(_options(), ctx)
    assert (plan.deps, plan.outs, plan.metrics) == (
        ["data/train.parquet"], ["models/train-model-rf"], ["metrics/train-model-rf.json"],
    )


@pytest.mark.parametrize(
    ("estimator", "flavor"),
    [
        ("random_forest", "sklearn"),
        ("sklearn.linear_model.LogisticRegression", "sklearn"),
        ("xgboost", "xgboost"),
        ("lightgbm", "lightgbm"),
    ],
    ids=["random-forest", "logistic-import-path", "xgboost", "lightgbm"],
)
def test_train_packages_the_pipeline_and_logs_params_and_metrics(
    project: TmpProject, estimator: str, flavor: str
) -> None:
    hyper = {} if "Logistic" in estimator else {"n_estimators": 10}
    options = _options(estimator=estimator, hyperparams=hyper, scale=True)
    store_url = project.load().store_url
    ctx = stage_context(project.root, store_url, f"train[model={flavor}]", group="train")
    assert KIND.run(options, ctx) == 0
    package_dir = project.root / "models" / stage_slug(ctx.stage)
    loaded = load_package(package_dir)
    assert loaded.package.flavor == flavor
    assert loaded.package.name == "train"
    assert loaded.signature.input_names == ["tenure_months", "monthly_charges", "contract", "gender"]
    assert loaded.package.lineage["stage"] == ctx.stage
    assert "stage_run_id" not in loaded.package.lineage  # recorded in logged_models instead
    assert loaded.package.lineage["params"]["seed"] == 3
    data = churn_frame(600)
    assert loaded.predict_proba(data).shape == (600, 2)
    written = json.loads((project.root / "metrics" / f"{stage_slug(ctx.stage)}.json").read_text())
    assert {"train_accuracy", "train_roc_auc", "train_seconds", "train_rows", "model_size_mb"} <= set(written)
    store = open_store(store_url)
    with store_connection(store.url) as conn:
        keys = {r.key for r in conn.execute(select(params.c.key).where(params.c.stage_run_id == ctx.stage_run_id))}
        metric_keys = {r.key for r in conn.execute(select(metrics.c.key))}
        model_row = conn.execute(select(logged_models)).one()
        art = conn.execute(select(artifacts)).one()
    store.close()
    assert {"kind.estimator", "kind.seed", "kind.features"} <= keys
    assert "train_accuracy" in metric_keys
    assert (model_row.stage_run_id, art.kind, art.hash) == (ctx.stage_run_id, "model", model_row.hash)


def test_same_seed_gives_the_same_model(project: TmpProject) -> None:
    store_url = project.load().store_url
    outputs = []
    for stage in ("a", "b"):
        KIND.run(_options(sample=0.5), stage_context(project.root, store_url, stage))
        model = load_package(project.root / "models" / stage)
        outputs.append(model.predict_proba(churn_frame(100)))
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_ordinal_encoding_and_feature_list(project: TmpProject) -> None:
    store_url = project.load().store_url
    options = _options(categorical="ordinal", features=["tenure_months", "contract"])
    KIND.run(options, stage_context(project.root, store_url, "train"))
    assert load_package(project.root / "models" / "train").signature.input_names == [
        "tenure_months", "contract",
    ]


def test_unknown_estimator_alias_gets_a_suggestion() -> None:
    with pytest.raises(ValidationError, match=r"unknown estimator 'random_forrest'.*random_forest"):
        _options(estimator="random_forrest")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"target": "churn"}, "has no target column 'churn'"),
        ({"features": ["tenure", "contract"]}, "Feature column\\(s\\) not in the data: tenure"),
        ({"hyperparams": {"n_trees": 3}}, "RandomForestClassifier rejected its hyperparameters"),
        ({"estimator": "sklearn.ensemble.NoSuchForest"}, "has no estimator 'NoSuchForest'"),
    ],
    ids=["missing-target", "missing-feature", "bad-hyperparam", "bad-import-path"],
)
def test_bad_training_setup_fails_clearly(
    project: TmpProject, overrides: dict[str, object], message: str
) -> None:
    ctx = stage_context(project.root, project.load().store_url, "train")
    with pytest.raises(ModelError, match=message):
        KIND.run(_options(**overrides), ctx)
    assert not (project.root / "models" / "train").exists()


def test_validation_data_is_scored_with_plain_metric_names(project: TmpProject) -> None:
    churn_frame(300, seed=5).write_parquet(project.root / "data" / "holdout.parquet")
    options = _options(validation="data/holdout.parquet")
    plan = KIND.plan(options, PlanContext(root=project.root, stage="train", matrix={},
                                          outs_of=lambda n: [], instances_of=lambda n: []))
    assert plan.deps == ["data/train.parquet", "data/holdout.parquet"]
    metrics_written = KIND.run(options, stage_context(project.root, project.load().store_url, "train"))
    assert metrics_written == 0
    written = json.loads((project.root / "metrics" / "train.json").read_text())
    assert 0.5 < written["roc_auc"] <= 1 and "accuracy" in written and "log_loss" in written


def _with_holes(frame: pl.DataFrame) -> pl.DataFrame:
    """Every 5th tenure and every 7th contract missing."""
    index = pl.int_range(pl.len())
    return frame.with_columns(
        pl.when(index % 5 == 0).then(None).otherwise(pl.col("tenure_months")).alias("tenure_months"),
        pl.when(index % 7 == 0).then(None).otherwise(pl.col("contract")).alias("contract"),
    )


def test_missing_values_are_imputed_inside_the_saved_pipeline(project: TmpProject) -> None:
    train = _with_holes(churn_frame(600))
    train.write_parquet(project.root / "data" / "train.parquet")
    options = _options(estimator="logistic_regression", hyperparams={"max_iter": 500},
                       features=["tenure_months", "monthly_charges", "contract"], impute="median")
    KIND.run(options, stage_context(project.root, project.load().store_url, "train"))
    model = load_package(project.root / "models" / "train")
    median = float(train["tenure_months"].median())  # type: ignore[arg-type]
    rows = pl.DataFrame({
        "tenure_months": [None, median, 30.0, 30.0], "monthly_charges": [70.0] * 4,
        "contract": ["monthly", "monthly", None, "yearly"],
    }, schema={"tenure_months": pl.Float64, "monthly_charges": pl.Float64, "contract": pl.String})
    proba = model.predict_proba(rows)
    assert np.isfinite(proba).all()
    # a missing number is the training median
    np.testing.assert_allclose(proba[0], proba[1])
    # a missing category is a level of its own (it was seen in training), not a crash
    assert not np.allclose(proba[2], proba[3])


def test_without_imputation_missing_values_fail_training_clearly(project: TmpProject) -> None:
    _with_holes(churn_frame(300)).write_parquet(project.root / "data" / "train.parquet")
    options = _options(estimator="logistic_regression", impute="none", hyperparams={},
                       features=["tenure_months", "monthly_charges"])
    with pytest.raises(ModelError, match=r"Training sklearn.linear_model.LogisticRegression failed: .*NaN"):
        KIND.run(options, stage_context(project.root, project.load().store_url, "train"))
    assert not (project.root / "models" / "train").exists()


@pytest.mark.slow
def test_a_matrix_over_hyperparameters_trains_one_model_per_value(project: TmpProject) -> None:
    project.config(
        datasets={"train": "data/train.parquet"},
        stages={"train": {
            "kind": "train",
            "matrix": {"depth": [1, 6], "trees": [3, 12]},
            "estimator": "random_forest",
            "hyperparams": {"max_depth": "${matrix.depth}", "n_estimators": "${matrix.trees}",
                            "n_jobs": 1},
            "data": "train", "target": "churned", "features": {"exclude": ["customer_id"]},
            "seed": 5,
        }},
    )
    result = project.invoke("run")
    assert result.code == 0, result.output
    found = {}
    for slug in ("train-depth-1-trees-3", "train-depth-1-trees-12", "train-depth-6-trees-3",
                 "train-depth-6-trees-12"):
        package = load_package(project.root / "models" / slug).package
        hyper = package.lineage["params"]["hyperparams"]
        found[package.lineage["stage"]] = (hyper["max_depth"], hyper["n_estimators"])
        assert package.name == "train"
    assert found == {
        "train[depth=1,trees=3]": (1, 3), "train[depth=1,trees=12]": (1, 12),
        "train[depth=6,trees=3]": (6, 3), "train[depth=6,trees=12]": (6, 12),
    }
    scores = {
        slug: json.loads((project.root / "metrics" / f"{slug}.json").read_text())["train_roc_auc"]
        for slug in ("train-depth-1-trees-3", "train-depth-6-trees-12")
    }
    assert scores["train-depth-6-trees-12"] > scores["train-depth-1-trees-3"]  # deeper fits more
