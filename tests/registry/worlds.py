"""Small real worlds for registry tests: model packages, evaluation reports, policies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from assay.config import AssayConfig

ML = "ana@example.com"  # trains models (the author)
PLATFORM = "raj@example.com"
DATA = "dee@example.com"
OUTSIDER = "eve@example.com"

TEAM = [
    {"id": ML, "roles": ["ml"]},
    {"id": PLATFORM, "roles": ["platform"]},
    {"id": DATA, "roles": ["data"]},
]

POLICY = {
    "staging": {"gates": "all"},
    "production": {
        "from": ["staging"],
        "approvals": [{"count": 1, "roles": ["platform"]}],
    },
}


def config(**overrides: Any) -> AssayConfig:
    """A project config with the team and policies above (overridable per section)."""
    data: dict[str, Any] = {"project": "t", "team": TEAM, "promotion": POLICY}
    data.update(overrides)
    return AssayConfig.model_validate(data)


def make_package(root: Path, rel: str, *, seed: int = 0, run_id: str | None = None,
                 data_oid: str = "a" * 64, params: dict[str, Any] | None = None,
                 datasets: list[dict[str, Any]] | None = None) -> Path:
    """A real (tiny) sklearn model package with lineage (``datasets`` replaces the default
    ``[{name, path, oid}]`` entry, e.g. with what ``kind: train`` records)."""
    from sklearn.dummy import DummyClassifier

    from assay.models import save_model

    frame = pl.DataFrame({"x": np.arange(6, dtype=np.float64), "y": [0, 1, 0, 1, 0, 1]})
    model = DummyClassifier(strategy="prior").fit(frame.select("x").to_numpy(), frame["y"])
    path = root / rel
    save_model(
        model,
        path,
        name="churn",
        input_example=frame.select("x").head(3),
        lineage={
            "root": root,
            "run_id": run_id,
            "stage": "train",
            "datasets": datasets if datasets is not None else [
                {"name": "churn", "path": "data/churn.parquet", "oid": data_oid}
            ],
            "params": params if params is not None else {"seed": seed},
            "git_commit": f"{seed:040d}",
            "env_hash": "e" * 16,
        },
    )
    return path


def oid_of(cache_dir: Path, package: Path) -> str:
    from assay.objects import LocalCache

    return LocalCache(cache_dir).add_dir(package).oid


def report_for(oid: str, *, passed: bool = True, auc: float = 0.8, stage: str = "evaluate",
               candidate: str = "train") -> dict[str, Any]:
    """An evaluation.json as ``kind: evaluate`` writes it, with one candidate."""
    gate = {
        "gate": "roc_auc >= 0.75", "dataset": "holdout", "slice": "all", "metric": "roc_auc",
        "op": ">=", "bound": 0.75, "value": auc, "passed": passed,
        "detail": f"roc_auc {auc} {'>=' if passed else '<'} 0.75",
    }
    cand = {
        "candidate": candidate, "package": f"models/{candidate}", "oid": oid,
        "is_champion": False, "passed": passed,
        "metrics": {"holdout": {"all": {"roc_auc": auc, "accuracy": 0.7},
                                "new_customers": {"roc_auc": auc - 0.05, "accuracy": 0.65}}},
        "fairness": {"holdout": {"column": "gender", "demographic_parity_difference": 0.03}},
        "comparison": None,
        "gates": [gate],
    }
    return {
        "stage": stage,
        "passed": passed,
        "selected": {"candidate": candidate, "package": f"models/{candidate}", "oid": oid}
        if passed else None,
        "primary_metric": {"metric": "roc_auc", "dataset": "holdout", "slice": "all"},
        "champion": None,
        "candidates": [cand],
    }
