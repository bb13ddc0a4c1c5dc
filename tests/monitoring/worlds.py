"""Real worlds for the monitor's tests: a project with a versioned training table, a model
registered with that table in its lineage, a deployment, and prediction-log segments written by
the server's own log writer (or by a real ``assay serve``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml

from tests.conftest import TmpProject

N_TRAIN = 3000


def training_frame(n: int = N_TRAIN, *, seed: int = 0, shift: float = 0.0) -> pl.DataFrame:
    """Columns a (Float64), b (Int64 codes 0..9), c (Float64), plan (String); ``shift`` moves
    a by that many standard deviations."""
    rng = np.random.default_rng(seed)
    return pl.DataFrame({
        "a": rng.normal(size=n) + shift,
        "b": rng.integers(0, 10, n),
        "c": rng.normal(size=n),
        "plan": rng.choice(["basic", "plus", "pro"], size=n, p=[0.5, 0.3, 0.2]),
    })


def monitoring_config(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"deployment": "toy-prod"}
    entry.update(overrides)
    return {
        "project": "monitor-test",
        "datasets": {"train": "data/train.parquet"},
        "promotion": {"production": {"gates": "none"}},
        "deployments": {"toy-prod": {"model": "toy@production", "url": "http://127.0.0.1:8080"}},
        "monitoring": {"drift": entry},
    }


def make_project(project: TmpProject, *, estimator: Any = None, **overrides: Any) -> TmpProject:
    """The training table added as dataset ``train`` (v1); toy v1 trained on it (a logistic
    regression, or ``estimator``), registered with it in its lineage and holding
    ``production``."""
    from sklearn.linear_model import LogisticRegression

    from assay.models import save_model

    frame = training_frame()
    project.gen({"assay.yaml": yaml.safe_dump(monitoring_config(**overrides), sort_keys=False)})
    (project.root / "data").mkdir(exist_ok=True)
    frame.write_parquet(project.root / "data" / "train.parquet")
    added = project.invoke("data", "add", "data/train.parquet")
    assert added.code == 0, added.output
    from assay.data import read_pointer

    oid = read_pointer(project.root / "data" / "train.parquet.assay").oid
    features = frame.select("a", "b", "c")
    target = (frame["a"] + frame["c"] * 0.5 > 0).cast(pl.Int64).to_numpy()
    model = (estimator or LogisticRegression()).fit(features, target)
    package = project.root / "models" / "v1"
    save_model(model, package, name="toy", input_example=features.head(3), lineage={
        "root": project.root,
        "datasets": [{"name": "train", "version": 1, "hash": oid, "oid": oid,
                      "path": "data/train.parquet", "role": "train", "stage": None}]})
    _register(project, package)
    return project


def _register(project: TmpProject, package: Path) -> None:
    from assay.config import Project
    from assay.registry import promote, register
    from assay.store import open_store

    loaded = Project.load(project.root)
    with open_store(project.store_url or loaded.store_url) as store:
        done = register(store, name="toy", cache_dir=loaded.cache_dir, package_dir=package,
                        author="ml@example.com", config=loaded.config)
        promote(store, loaded.config, f"toy:{done.version.version}", to="production",
                actor="ml@example.com")


def write_log(root: Path, frame: pl.DataFrame, *, version: str = "1", model: str = "toy",
              log_dir: Path | None = None, rows_per_request: int = 50,
              variant: str = "stable", deployment: str | None = "toy-prod",
              labels: dict[int, object] | None = None) -> list[str]:
    """Log ``frame``'s rows as a server would (its own writer, one request per
    ``rows_per_request`` rows), with the model's answer as the prediction, and ``labels``
    (request number -> label) as ``POST /feedback`` stores them, by the server of
    ``deployment`` (None: a server of plain references); returns the request ids."""
    import json

    from assay.serving._metrics import Metrics
    from assay.serving._predlog import PredictionLog

    log = PredictionLog(log_dir or root / ".assay" / "predictions", metrics=Metrics(),
                        sample=1.0, capacity=10_000_000, segment_rows=2_000,
                        segment_seconds=600.0, deployment=deployment)
    ids = []
    try:
        for i, start in enumerate(range(0, frame.height, rows_per_request)):
            part = frame.slice(start, rows_per_request)
            answer = (part["a"] + part["c"] * 0.5 > 0).cast(pl.Int64).to_numpy()
            probabilities = np.column_stack([1 - answer * 0.8, answer * 0.8]).astype(float)
            ids.append(f"req-{time.time_ns()}-{i}")
            log.record(model, version, ids[-1], part, answer, probabilities, variant=variant)
        if labels:
            assert log.feedback(model, [(ids[i], json.dumps(label))
                                        for i, label in labels.items()])
    finally:
        log.close()
    return ids


def live(frame: pl.DataFrame) -> pl.DataFrame:
    """The model's inputs (the server logs those, not the training table's other columns)."""
    return frame.select("a", "b", "c")
