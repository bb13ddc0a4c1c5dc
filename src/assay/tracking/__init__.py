"""Experiment tracking: ``import assay; assay.log_metric(...)`` from training scripts.

Calls are queued and written to the metadata store in batches by a background thread, and
flushed at exit (also after a crash). Inside ``assay run`` they attach to the stage's run.
"""

from __future__ import annotations

from assay.tracking._client import (
    ActiveRun,
    ActiveStageRun,
    active_run,
    active_stage_run,
    flush,
    log_artifact,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    record_artifact,
    set_tag,
    start_run,
)
from assay.tracking._query import (
    MetricFilter,
    RunRow,
    compare_runs,
    get_runs,
    list_runs,
    metric_history,
    parse_pairs,
    resolve,
)

__all__ = [
    "ActiveRun",
    "ActiveStageRun",
    "MetricFilter",
    "RunRow",
    "active_run",
    "active_stage_run",
    "compare_runs",
    "flush",
    "get_runs",
    "list_runs",
    "log_artifact",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "metric_history",
    "parse_pairs",
    "record_artifact",
    "resolve",
    "set_tag",
    "start_run",
]
