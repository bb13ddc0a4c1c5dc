"""The built-in ``kind: train`` stage: fit an estimator with simple preprocessing, package it.

.. code-block:: yaml

    train:
      kind: train
      matrix: {model: [random_forest, hist_gradient_boosting, logistic_regression]}
      estimator: ${matrix.model}          # an alias or an import path
      hyperparams: {random_state: 7}
      data: data/train.parquet            # a path or a dataset name from assay.yaml
      target: churned
      features: {exclude: [customer_id]}  # or a list of columns; default: all but the target
      categorical: onehot                 # or ordinal
      scale: true
      sample: 0.2                         # train on a fraction (CI profiles)

Outputs: the package directory ``models/<stage_slug>`` and ``metrics/<stage_slug>.json``.
The preprocessing lives inside the saved pipeline, so the package takes raw columns.
"""

from __future__ import annotations

import importlib
import json
import re
import time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from assay._atomic import write_text_atomic
from assay.config import KindPlan, PlanContext, StageContext
from assay.errors import ModelError
from assay.metrics import check_pos_label
from assay.store import statements as sql

ESTIMATOR_ALIASES = {
    "random_forest": "sklearn.ensemble.RandomForestClassifier",
    "random_forest_regressor": "sklearn.ensemble.RandomForestRegressor",
    "hist_gradient_boosting": "sklearn.ensemble.HistGradientBoostingClassifier",
    "hist_gradient_boosting_regressor": "sklearn.ensemble.HistGradientBoostingRegressor",
    "logistic_regression": "sklearn.linear_model.LogisticRegression",
    "ridge": "sklearn.linear_model.Ridge",
    "xgboost": "xgboost.XGBClassifier",
    "xgboost_regressor": "xgboost.XGBRegressor",
    "lightgbm": "lightgbm.LGBMClassifier",
    "lightgbm_regressor": "lightgbm.LGBMRegressor",
}
_SEED_PARAMS = ("random_state", "seed")


def stage_slug(stage: str) -> str:
    """A file-name-safe form of a stage instance name: ``train[model=rf]`` -> ``train-model-rf``."""
    slug = re.sub(r"[^A-Za-z0-9_.]+", "-", stage).strip("-.")
    return slug or "stage"


class FeatureExclusion(BaseModel):
    """All columns but the target and these."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    exclude: list[str] = Field(default_factory=list)


class TrainOptions(BaseModel):
    """Options of ``kind: train``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    estimator: str = Field(description="an import path or alias (random_forest, xgboost, ...)")
    hyperparams: dict[str, Any] = Field(default_factory=dict)
    hyperparams_for: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="extra hyperparams per estimator (alias or path)"
    )
    data: str
    validation: str | None = Field(
        default=None, description="data to score after training (path or dataset name)"
    )
    target: str
    features: list[str] | FeatureExclusion | None = None
    categorical: Literal["onehot", "ordinal"] = "onehot"
    impute: Literal["median", "mean", "most_frequent", "none"] = "median"
    scale: bool = False
    seed: int = 0
    pos_label: Annotated[str | int | bool | None, BeforeValidator(check_pos_label)] = Field(
        default=None,
        description="the positive class of a binary target (default: the class that sorts last)",
    )
    sample: float | None = Field(default=None, gt=0, le=1)
    name: str | None = Field(default=None, description="model name (default: the stage group)")

    @field_validator("estimator")
    @classmethod
    def _known_form(cls, value: str) -> str:
        if value not in ESTIMATOR_ALIASES and "." not in value:
            from assay.config import suggest

            raise ValueError(
                f"unknown estimator {value!r}{suggest(value, list(ESTIMATOR_ALIASES))}; "
                "use an alias or an import path such as sklearn.ensemble.RandomForestClassifier"
            )
        return value


def estimator_path(name: str) -> str:
    return ESTIMATOR_ALIASES.get(name, name)


def make_estimator(options: TrainOptions) -> Any:
    """Instantiate the configured estimator with its hyperparameters and seed.

    Raises:
        ModelError: the class cannot be imported or rejects its hyperparameters.
    """
    from assay.models._flavors import import_extra

    path = estimator_path(options.estimator)
    module_name, _, class_name = path.rpartition(".")
    if module_name.split(".")[0] in ("xgboost", "lightgbm"):
        module = import_extra(module_name)
    else:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ModelError(f"Cannot import estimator module {module_name!r}: {exc}") from None
    cls = getattr(module, class_name, None)
    if cls is None or not callable(cls):
        raise ModelError(f"{module_name!r} has no estimator {class_name!r}")
    params = dict(options.hyperparams)
    for key in (options.estimator, path):
        params.update(options.hyperparams_for.get(key, {}))
    try:
        estimator = cls(**params)
    except TypeError as exc:
        raise ModelError(f"{class_name} rejected its hyperparameters: {exc}") from None
    get_params = getattr(estimator, "get_params", None)
    if callable(get_params):
        accepted = get_params()
        seeds = {k: options.seed for k in _SEED_PARAMS if k in accepted and k not in params}
        if seeds:
            estimator.set_params(**seeds)
        if module_name.startswith("lightgbm") and "verbose" in accepted and "verbose" not in params:
            estimator.set_params(verbose=-1)
    return estimator


def select_features(frame: Any, options: TrainOptions) -> list[str]:
    """The feature columns: a list, or all but the target, exclusions and date/time columns.

    Raises:
        ModelError: a listed feature is missing or is a date/time column.
    """
    from assay.models._signature import dtype_family

    if isinstance(options.features, list):
        missing = [c for c in options.features if c not in frame.columns]
        if missing:
            raise ModelError(f"Feature column(s) not in the data: {', '.join(missing)}")
        temporal = [c for c in options.features if dtype_family(str(frame.schema[c])) == "temporal"]
        if temporal:
            raise ModelError(
                f"Date/time features are not supported: {', '.join(temporal)}; derive a number"
            )
        return list(options.features)
    exclude = set(options.features.exclude if options.features else []) | {options.target}
    return [
        c
        for c in frame.columns
        if c not in exclude
        and dtype_family(str(frame.schema[c])) in ("numeric", "string", "boolean")
    ]


def build_pipeline(frame: Any, features: list[str], options: TrainOptions, estimator: Any) -> Any:
    """An sklearn Pipeline: imputation, scaling and categorical encoding, then the estimator."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    from assay.models._signature import dtype_family

    numeric = [c for c in features if dtype_family(str(frame.schema[c])) == "numeric"]
    categorical = [c for c in features if c not in numeric]
    transformers: list[tuple[str, Any, list[str]]] = []
    if numeric:
        steps: list[Any] = []
        if options.impute != "none":
            steps.append(SimpleImputer(strategy=options.impute))
        if options.scale:
            steps.append(StandardScaler())
        transformers.append(("numeric", make_pipeline(*steps) if steps else "passthrough", numeric))
    if categorical:
        encoder = (
            OneHotEncoder(handle_unknown="ignore", sparse_output=False)
            if options.categorical == "onehot"
            else OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
        )
        fill = SimpleImputer(missing_values=None, strategy="constant", fill_value="(missing)")
        transformers.append(("categorical", make_pipeline(fill, encoder), categorical))
    return Pipeline(
        [
            ("preprocess", ColumnTransformer(transformers, sparse_threshold=0.0)),
            ("model", estimator),
        ]
    )


TRAIN_CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")


def _training_metrics(
    pipeline: Any, frame: Any, y: Any, task: str, pos_label: Any = None
) -> dict[str, float]:
    """Metrics on the training rows (a sanity check, not an evaluation)."""
    from assay.models._flavors import single_threaded

    with single_threaded(pipeline):  # the same model and data give the same bits
        return _fit_metrics(pipeline, frame, y, task, pos_label)


def _fit_metrics(pipeline: Any, frame: Any, y: Any, task: str, pos_label: Any) -> dict[str, float]:
    """The evaluation's own metrics (assay.metrics) at a 0.5 threshold, ``train_``-prefixed:
    one model on one data set has one log loss, here and in ``kind: evaluate``."""
    import numpy as np

    from assay.metrics import (
        binary_positive_last,
        class_indices,
        classification_metrics,
        positive_class_index,
        regression_metrics,
    )

    if task == "classification":
        proba = np.asarray(pipeline.predict_proba(frame), dtype=np.float64)
        classes = list(pipeline.classes_)
        indices = class_indices(np.asarray(y), classes, error=ModelError, where="The data")
        if len(classes) == 2:
            positive = positive_class_index(classes, pos_label, error=ModelError,
                                            where="train.pos_label")
            indices, proba = binary_positive_last(indices, proba, positive)
        found = classification_metrics(indices, proba, 0.5)
        return {f"train_{k}": found[k] for k in TRAIN_CLASSIFICATION_METRICS if k in found}
    pred = np.asarray(pipeline.predict(frame), dtype=np.float64)
    found = regression_metrics(np.asarray(y, dtype=np.float64), pred)
    return {"train_rmse": found["rmse"], "train_r2": found["r2"]}


def _validation_metrics(
    root: Path, options: TrainOptions, pipeline: Any, features: list[str], task: str
) -> dict[str, float]:
    """The same metrics (without the ``train_`` prefix) on the validation data."""
    from assay._paths import resolve_inside
    from assay.models._table import read_table

    assert options.validation is not None
    path = resolve_inside(root, _data_rel(root, options.validation), what="validation data")
    frame = read_table(path)
    missing = [c for c in [*features, options.target] if c not in frame.columns]
    if missing:
        raise ModelError(f"Validation data {path.name} lacks column(s): {', '.join(missing)}")
    frame = frame.filter(frame[options.target].is_not_null())
    found = _training_metrics(
        pipeline, frame.select(features), frame[options.target].to_numpy(), task, options.pos_label
    )
    return {key.removeprefix("train_"): value for key, value in found.items()}


class TrainKind:
    """``kind: train``: see the module docstring."""

    name = "train"
    # what the warm worker imports once per run (see assay.pipeline._warm_worker)
    warm_imports = ("polars", "sklearn.base", "sklearn.ensemble", "sklearn.linear_model",
                    "sklearn.pipeline", "sklearn.compose", "sklearn.preprocessing",
                    "sklearn.impute", "sklearn.metrics", "skops.io", "assay.models._package",
                    "assay.objects._tree", "assay.objects._state", "assay.store._opener")
    options = TrainOptions

    def plan(self, options: TrainOptions, ctx: PlanContext) -> KindPlan:
        slug = stage_slug(ctx.stage)
        deps = [_data_rel(ctx.root, options.data)]
        if options.validation:
            deps.append(_data_rel(ctx.root, options.validation))
        # make_estimator reads only this estimator's hyperparams_for entry: the other
        # candidates' entries (and the params they use) must not make this one stale
        used = {options.estimator, estimator_path(options.estimator)}
        ignored: list[tuple[str | int, ...]] = [
            ("hyperparams_for", key) for key in options.hyperparams_for if key not in used]
        return KindPlan(deps=deps, outs=[f"models/{slug}"], metrics=[f"metrics/{slug}.json"],
                        ignored_options=ignored)

    def run(self, options: TrainOptions, ctx: StageContext) -> int:
        train(options, ctx)
        return 0


def _data_rel(root: Path, data: str) -> str:
    from assay.config import Project

    if "/" not in data and "." not in data:
        try:
            datasets = Project.load(root).config.datasets
        except Exception:  # planning must not fail on an unrelated config problem here
            datasets = {}
        if data in datasets:
            return str(datasets[data].path)
    return data


def train(options: TrainOptions, ctx: StageContext) -> dict[str, Any]:
    """Fit, package, log and write metrics for one train stage instance.

    Returns:
        The metrics written to ``metrics/<slug>.json``.

    Raises:
        ModelError: bad data, features, estimator or hyperparameters.
    """
    from assay._paths import resolve_inside
    from assay.config import Project
    from assay.models._lineage import DataInput, dataset_lineage
    from assay.models._logged import store_package
    from assay.models._package import save_model
    from assay.models._table import read_table

    project = Project.load(ctx.root)
    slug = stage_slug(ctx.stage)
    data_path = resolve_inside(ctx.root, _data_rel(ctx.root, options.data), what="training data")
    frame = read_table(data_path)
    if options.target not in frame.columns:
        raise ModelError(f"Training data {data_path.name} has no target column {options.target!r}")
    frame = frame.filter(frame[options.target].is_not_null())
    if options.sample is not None and options.sample < 1:
        frame = frame.sample(fraction=options.sample, seed=options.seed, shuffle=True)
    if frame.height < 2:
        raise ModelError(f"Training data {data_path.name} has fewer than 2 labelled rows")
    features = select_features(frame, options)
    if not features:
        raise ModelError("No feature columns left to train on; check features/exclude")
    estimator = make_estimator(options)
    pipeline = build_pipeline(frame, features, options, estimator)
    x = frame.select(features)
    y = frame[options.target].to_numpy()
    started = time.perf_counter()
    try:
        pipeline.fit(x, y)
    except (ValueError, TypeError) as exc:
        raise ModelError(f"Training {estimator_path(options.estimator)} failed: {exc}") from None
    seconds = time.perf_counter() - started
    task = (
        "classification"
        if hasattr(pipeline, "classes_") or hasattr(estimator, "classes_")
        else "regression"
    )
    metrics: dict[str, Any] = _training_metrics(pipeline, x, y, task, options.pos_label)
    if options.validation:
        metrics.update(_validation_metrics(ctx.root, options, pipeline, features, task))
    metrics.update({"train_seconds": seconds, "train_rows": float(frame.height)})
    name = options.name or ctx.group or ctx.stage
    package_dir = resolve_inside(ctx.root, f"models/{slug}", what="model output")
    params: dict[str, Any] = {
        "estimator": estimator_path(options.estimator),
        "hyperparams": _plain(estimator.get_params(deep=False))
        if hasattr(estimator, "get_params")
        else dict(options.hyperparams),
        "features": features,
        "seed": options.seed,
        "sample": options.sample,
        "pos_label": options.pos_label,
        "categorical": options.categorical,
        "impute": options.impute,
        "scale": options.scale,
    }
    inputs = [DataInput("train", options.data, _normal(_data_rel(ctx.root, options.data)))]
    if options.validation:
        rel = _normal(_data_rel(ctx.root, options.validation))
        inputs.append(DataInput("validation", options.validation, rel))
    # no run ids or timings in the package: they go to the store (logged_models, stage run),
    # so the same inputs give the same package object
    lineage = {
        "root": ctx.root,
        "stage": ctx.stage,
        "datasets": dataset_lineage(project, inputs, store_url=ctx.store_url, profile=ctx.profile,
                                    pipeline=ctx.pipeline),
        "params": params,
    }
    package = save_model(
        pipeline, package_dir, name=name, input_example=x.head(5), task=task, lineage=lineage
    )
    logged = store_package(
        package,
        cache_dir=project.cache_dir,
        store_url=ctx.store_url,
        stage_run_id=ctx.stage_run_id,
        artifact_path=f"models/{slug}",
    )
    metrics["model_size_mb"] = package.size_bytes / 1e6
    _record_run(ctx, params, metrics)
    metrics_path = resolve_inside(ctx.root, f"metrics/{slug}.json", what="metrics output")
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(metrics_path, json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    print(
        f"trained {name} ({estimator_path(options.estimator)}) on {frame.height} rows in "
        f"{seconds:.2f}s -> models/{slug} ({logged.oid[:12]})"
    )
    return metrics


def _normal(rel: str) -> str:
    """``./data//x.parquet`` -> ``data/x.parquet`` (the form assay.lock and pointers use)."""
    import posixpath

    return posixpath.normpath(rel)


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    plain: dict[str, Any] = json.loads(json.dumps(params, default=str))
    return plain


def _record_run(ctx: StageContext, params: dict[str, Any], metrics: dict[str, Any]) -> None:
    """Params (prefixed ``kind.``, so they never clash with params.yaml keys) and metrics."""
    from assay.store import open_store
    from assay.store._metric_values import metric_columns

    flat: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, dict):
            flat.update({f"kind.{key}.{k}": v for k, v in value.items()})
        else:
            flat[f"kind.{key}"] = value
    store = open_store(ctx.store_url)
    try:
        with store.write() as conn:
            if conn.execute(sql.STAGE_RUN_ID, {"id": ctx.stage_run_id}).fetchone() is None:
                return
            taken = {key for _, key, _ in conn.execute(
                *sql.key_values_of("params", [ctx.stage_run_id]))}
            rows = [
                {"stage_run_id": ctx.stage_run_id, "key": k, "value": json.dumps(v, default=str)}
                for k, v in flat.items()
                if k not in taken
            ]
            conn.executemany(sql.INSERT_PARAM, rows)
            now = time.time()
            values = [
                {
                    "stage_run_id": ctx.stage_run_id,
                    "key": k,
                    "value": value,
                    "value_kind": kind,
                    "step": 0,
                    "ts": now,
                }
                for k, v in metrics.items()
                if isinstance(v, (int, float))
                for value, kind in (metric_columns(float(v)),)
            ]
            conn.executemany(sql.INSERT_METRIC, values)
    finally:
        store.close()


KIND = TrainKind()
