"""Experiment tracking: ``import assay; assay.log_metric(...)`` from training scripts.

Calls are queued and written to the metadata store in batches by a background thread, and
flushed at exit (also after a crash). Inside ``assay run`` they attach to the stage's run.
Reading (``list_runs``, ``get_runs``, ...) takes a store, a store URL or one
:func:`open_reader` snapshot shared by several questions.

Names load on first use, so ``assay runs`` commands do not import the writing side.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay._lazy import lazy_attributes

if TYPE_CHECKING:
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
        run_environment,
    )
    from assay.tracking._reader import RunReader, open_reader

_CLIENT, _QUERY, _READER = "assay.tracking._client", "assay.tracking._query", "assay.tracking._reader"
_LAZY: dict[str, str] = {
    "ActiveRun": _CLIENT,
    "ActiveStageRun": _CLIENT,
    "MetricFilter": _QUERY,
    "RunReader": _READER,
    "RunRow": _QUERY,
    "active_run": _CLIENT,
    "active_stage_run": _CLIENT,
    "compare_runs": _QUERY,
    "flush": _CLIENT,
    "get_runs": _QUERY,
    "list_runs": _QUERY,
    "log_artifact": _CLIENT,
    "log_metric": _CLIENT,
    "log_metrics": _CLIENT,
    "log_param": _CLIENT,
    "log_params": _CLIENT,
    "metric_history": _QUERY,
    "open_reader": _READER,
    "parse_pairs": _QUERY,
    "record_artifact": _CLIENT,
    "resolve": _QUERY,
    "run_environment": _QUERY,
    "set_tag": _CLIENT,
    "start_run": _CLIENT,
}

__all__ = [
    "ActiveRun",
    "ActiveStageRun",
    "MetricFilter",
    "RunReader",
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
    "open_reader",
    "parse_pairs",
    "record_artifact",
    "resolve",
    "run_environment",
    "set_tag",
    "start_run",
]


__getattr__, __dir__ = lazy_attributes('assay.tracking', _LAZY, __all__, globals())
