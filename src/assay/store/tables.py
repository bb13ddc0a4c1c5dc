"""Public access to the store's tables (imports SQLAlchemy: use inside functions)."""

from __future__ import annotations

from assay.store._tables import (
    alias_history,
    aliases,
    approvals,
    artifacts,
    contract_results,
    dataset_versions,
    deployments,
    evaluations,
    events,
    logged_models,
    metadata,
    metrics,
    model_versions,
    params,
    registered_models,
    rollouts,
    runs,
    stage_runs,
    store_info,
    tags,
)

__all__ = [
    "alias_history",
    "aliases",
    "approvals",
    "artifacts",
    "contract_results",
    "dataset_versions",
    "deployments",
    "evaluations",
    "events",
    "logged_models",
    "metadata",
    "metrics",
    "model_versions",
    "params",
    "registered_models",
    "rollouts",
    "runs",
    "stage_runs",
    "store_info",
    "tags",
]
