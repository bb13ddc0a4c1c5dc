"""The pipeline: stages from assay.yaml as a DAG, cache keys, ``assay.lock``, executors, runs.

>>> from assay.config import Project
>>> from assay.pipeline import run_pipeline
>>> result = run_pipeline(Project.load(), profile="ci")
>>> result.status
'succeeded'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay._lazy import lazy_attributes

if TYPE_CHECKING:
    from assay._layout import LOCK_FILE
    from assay.pipeline._cache_key import canonical_json, compute_cache_key
    from assay.pipeline._dag import Dag, Stage, build_dag, check_pipeline, instance_name, slugify
    from assay.pipeline._executor import Executor, Job, JobResult, LocalExecutor
    from assay.pipeline._kinds import get_kind, kind_refs
    from assay.pipeline._liveness import is_gone, runner_identity
    from assay.pipeline._lock import LockEntry, read_lock, write_lock
    from assay.pipeline._orphans import OrphanOut, orphan_outs, remove_orphan_outs
    from assay.pipeline._records import (
        TRIGGERS,
        detect_trigger,
        environment_fingerprint,
        git_state,
        start_git_state,
        store_environment,
    )
    from assay.pipeline._repro import (
        TIMING_METRICS,
        OutComparer,
        ReproReport,
        check_reproducibility,
        is_timing_metric,
    )
    from assay.pipeline._run_lock import file_lock
    from assay.pipeline._runner import (
        RunResult,
        StageOutcome,
        default_jobs,
        plan_pipeline,
        run_pipeline,
    )
    from assay.pipeline._status import StageState
    from assay.pipeline._view import LiveReporter, PlainReporter, QuietReporter, Reporter

_LAZY: dict[str, str] = {
    "Dag": "assay.pipeline._dag",
    "Executor": "assay.pipeline._executor",
    "Job": "assay.pipeline._executor",
    "JobResult": "assay.pipeline._executor",
    "LOCK_FILE": "assay._layout",
    "LiveReporter": "assay.pipeline._view",
    "LocalExecutor": "assay.pipeline._executor",
    "LockEntry": "assay.pipeline._lock",
    "OutComparer": "assay.pipeline._repro",
    "PlainReporter": "assay.pipeline._view",
    "QuietReporter": "assay.pipeline._view",
    "Reporter": "assay.pipeline._view",
    "ReproReport": "assay.pipeline._repro",
    "OrphanOut": "assay.pipeline._orphans",
    "RunResult": "assay.pipeline._runner",
    "Stage": "assay.pipeline._dag",
    "StageOutcome": "assay.pipeline._runner",
    "StageState": "assay.pipeline._status",
    "TIMING_METRICS": "assay.pipeline._repro",
    "TRIGGERS": "assay.pipeline._records",
    "build_dag": "assay.pipeline._dag",
    "canonical_json": "assay.pipeline._cache_key",
    "check_pipeline": "assay.pipeline._dag",
    "check_reproducibility": "assay.pipeline._repro",
    "compute_cache_key": "assay.pipeline._cache_key",
    "default_jobs": "assay.pipeline._runner",
    "detect_trigger": "assay.pipeline._records",
    "environment_fingerprint": "assay.pipeline._records",
    "file_lock": "assay.pipeline._run_lock",
    "is_gone": "assay.pipeline._liveness",
    "runner_identity": "assay.pipeline._liveness",
    "get_kind": "assay.pipeline._kinds",
    "git_state": "assay.pipeline._records",
    "start_git_state": "assay.pipeline._records",
    "instance_name": "assay.pipeline._dag",
    "is_timing_metric": "assay.pipeline._repro",
    "kind_refs": "assay.pipeline._kinds",
    "orphan_outs": "assay.pipeline._orphans",
    "plan_pipeline": "assay.pipeline._runner",
    "read_lock": "assay.pipeline._lock",
    "remove_orphan_outs": "assay.pipeline._orphans",
    "run_pipeline": "assay.pipeline._runner",
    "slugify": "assay.pipeline._dag",
    "store_environment": "assay.pipeline._records",
    "write_lock": "assay.pipeline._lock",
}

__all__ = [
    "LOCK_FILE",
    "TIMING_METRICS",
    "TRIGGERS",
    "Dag",
    "Executor",
    "Job",
    "JobResult",
    "LiveReporter",
    "LocalExecutor",
    "LockEntry",
    "OrphanOut",
    "OutComparer",
    "PlainReporter",
    "QuietReporter",
    "Reporter",
    "ReproReport",
    "RunResult",
    "Stage",
    "StageOutcome",
    "StageState",
    "build_dag",
    "canonical_json",
    "check_pipeline",
    "check_reproducibility",
    "compute_cache_key",
    "default_jobs",
    "detect_trigger",
    "environment_fingerprint",
    "file_lock",
    "get_kind",
    "git_state",
    "instance_name",
    "is_gone",
    "is_timing_metric",
    "kind_refs",
    "orphan_outs",
    "plan_pipeline",
    "read_lock",
    "remove_orphan_outs",
    "run_pipeline",
    "runner_identity",
    "slugify",
    "start_git_state",
    "store_environment",
    "write_lock",
]


__getattr__, __dir__ = lazy_attributes('assay.pipeline', _LAZY, __all__, globals())
