"""Small real worlds for model and evaluation tests: churn-like data, trained models, stage runs."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from assay.config import StageContext


def churn_frame(rows: int = 1200, seed: int = 0, *, shift: float = 0.0) -> pl.DataFrame:
    """A binary target driven by tenure, charges and contract, plus a sensitive column."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, rows)
    charges = np.round(rng.normal(60 + shift, 15, rows), 2)
    contract = rng.choice(["monthly", "yearly", "two-year"], rows, p=[0.5, 0.3, 0.2])
    gender = rng.choice(["female", "male"], rows)
    logit = -0.5 - 0.04 * tenure + 0.03 * (charges - 60) + 1.2 * (contract == "monthly")
    churned = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return pl.DataFrame(
        {
            "customer_id": np.arange(rows),
            "tenure_months": tenure,
            "monthly_charges": charges,
            "contract": contract,
            "gender": gender,
            "churned": churned,
        }
    )


FEATURES = ["tenure_months", "monthly_charges", "contract"]


def fit_pipeline(estimator: Any, frame: pl.DataFrame, features: list[str] | None = None) -> Any:
    """An sklearn pipeline (one-hot for strings) fitted on ``frame``."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    features = features or FEATURES
    numeric = [c for c in features if frame.schema[c].is_numeric()]
    strings = [c for c in features if c not in numeric]
    pre = ColumnTransformer(
        [
            ("num", StandardScaler(), numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), strings),
        ]
    )
    return Pipeline([("pre", pre), ("model", estimator)]).fit(
        frame.select(features), frame["churned"].to_numpy()
    )


def save_candidate(root: Path, rel: str, estimator: Any, frame: pl.DataFrame,
                   features: list[str] | None = None, name: str | None = None) -> Path:
    from assay.models import save_model

    features = features or FEATURES
    model = fit_pipeline(estimator, frame, features)
    path = root / rel
    save_model(
        model,
        path,
        name=name or path.name,
        input_example=frame.select(features).head(3),
        lineage={"root": root, "stage": name or path.name},
    )
    return path


def new_stage_run(store_url: str, stage: str = "train") -> tuple[str, str]:
    """Insert a run and a stage run (what the runner does) and return their ids."""
    from assay.store import open_store
    from assay.store.tables import runs, stage_runs

    run_id, stage_run_id = str(uuid.uuid4()), str(uuid.uuid4())
    store = open_store(store_url)
    try:
        with store.write() as conn:
            conn.execute(
                runs.insert().values(
                    id=run_id, kind="pipeline", trigger="manual", status="running",
                    actor="tester@example.com", started_at=time.time(),
                )
            )
            conn.execute(
                stage_runs.insert().values(
                    id=stage_run_id, run_id=run_id, stage=stage, status="running",
                    started_at=time.time(),
                )
            )
    finally:
        store.close()
    return run_id, stage_run_id


def stage_context(
    root: Path,
    store_url: str,
    stage: str,
    *,
    group: str | None = None,
    matrix: dict[str, Any] | None = None,
    upstream_outs: dict[str, list[str]] | None = None,
    ids: tuple[str, str] | None = None,
) -> StageContext:
    run_id, stage_run_id = ids or new_stage_run(store_url, stage)
    return StageContext(
        root=root,
        stage=stage,
        group=group,
        matrix=matrix or {},
        params={},
        profile=None,
        run_id=run_id,
        stage_run_id=stage_run_id,
        store_url=store_url,
        upstream_outs=upstream_outs or {},
        report_dir=root / ".assay" / "reports" / run_id / stage,
    )


def register_version(store_url: str, name: str, version: int, oid: str,
                     alias: str | None = None) -> None:
    """Rows the registry would write (the registry sits above models; tests fake none of it)."""
    from sqlalchemy import select

    from assay.store import open_store
    from assay.store.tables import aliases, model_versions, registered_models

    store = open_store(store_url)
    now = time.time()
    try:
        with store.write() as conn:
            if conn.execute(
                select(registered_models.c.name).where(registered_models.c.name == name)
            ).first() is None:
                conn.execute(registered_models.insert().values(name=name, created_at=now))
            conn.execute(
                model_versions.insert().values(
                    name=name, version=version, model_hash=oid, author="tester@example.com",
                    gates_passed=True, meta={}, created_at=now,
                )
            )
            if alias:
                conn.execute(
                    aliases.insert().values(
                        name=name, alias=alias, version=version, updated_at=now,
                        actor="tester@example.com",
                    )
                )
    finally:
        store.close()
