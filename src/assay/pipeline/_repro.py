"""``assay run --check-repro STAGE``: rerun a stage from the same inputs and compare its outs
(bit for bit) and metrics (exactly, or within a stated tolerance) with the recorded run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assay.errors import PipelineError
from assay.pipeline._lock import read_lock
from assay.pipeline._records import read_metrics_file
from assay.pipeline._runner import plan_pipeline, run_pipeline, stat_cache
from assay.pipeline._view import Reporter

if TYPE_CHECKING:
    from assay.config import Project


@dataclass
class ReproReport:
    """Whether a rerun matched the recorded outs and metrics."""

    stage: str
    tolerance: float
    reproducible: bool
    outs: dict[str, dict[str, Any]] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    run_id: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"stage": self.stage, "tolerance": self.tolerance,
                "reproducible": self.reproducible, "outs": self.outs, "metrics": self.metrics,
                "run_id": self.run_id, "error": self.error}


def check_reproducibility(
    project: Project,
    stage: str,
    *,
    tolerance: float = 0.0,
    profile: str | None = None,
    reporter: Reporter | None = None,
) -> list[ReproReport]:
    """Rerun ``stage`` (each instance of a matrix group) and compare with ``assay.lock``.

    The workspace is put back to the recorded outs afterwards, and the lock is not changed.

    Raises:
        PipelineError: the stage is stale or has never run (there is nothing to compare with).
    """
    from assay.objects import LocalCache

    dag, states = plan_pipeline(project, targets=[stage], profile=profile)
    names = dag.groups.get(stage, [stage])
    stale = [s for s in states if s.stage in names and s.stale]
    if stale:
        raise PipelineError(
            f"Stage '{stale[0].stage}' is stale ({'; '.join(stale[0].reasons)}); run "
            f"`assay run {stage}` first, then check its reproducibility",
            stage=stale[0].stage,
        )
    lock = read_lock(project.root)
    before = {n: {m: read_metrics_file(project.root / m) for m in dag.stages[n].metrics}
              for n in names}
    result = run_pipeline(project, targets=names, profile=profile, force=True, only=True,
                          update_lock=False, reporter=reporter)
    hashes = stat_cache(project)
    reports = []
    for name in names:
        entry = lock[name]
        report = ReproReport(stage=name, tolerance=tolerance, reproducible=True,
                             run_id=result.run_id)
        outcome = next((o for o in result.outcomes if o.stage == name), None)
        if outcome is None or outcome.status != "succeeded":
            report.reproducible = False
            report.error = outcome.reason if outcome else "did not run"
        for out in dag.stages[name].all_outs:
            now = hashes.hash_path(out)
            was = entry.out_hashes.get(out)
            same = now is not None and now == was
            report.outs[out] = {"recorded": was, "rerun": now, "identical": same}
            is_metrics = out in dag.stages[name].metrics
            if not same and not (is_metrics and tolerance > 0):
                report.reproducible = False
        for metrics_file, old in before[name].items():
            new = read_metrics_file(project.root / metrics_file)
            for key in sorted(set(old) | set(new)):
                a, b = old.get(key), new.get(key)
                delta = None if a is None or b is None else abs(b - a)
                ok = delta is not None and delta <= tolerance
                report.metrics[key] = {"recorded": a, "rerun": b, "delta": delta, "within": ok}
                if not ok:
                    report.reproducible = False
        cache = LocalCache(project.cache_dir)
        for out, oid in entry.outs.items():
            if cache.exists(oid):
                link_types: list[str] = list(project.config.cache.type)
                cache.checkout(oid, project.root / out, link_types)
        reports.append(report)
    hashes.save()
    return reports
