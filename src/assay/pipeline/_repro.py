"""``assay run --check-repro STAGE``: rerun a stage from the same inputs and compare its outs
and metrics with the recorded run.

- An out is **identical** when its bytes (content hash) match the recorded out.
- An out whose bytes differ can still be **equivalent** when a comparer vouches for it: the
  model comparer (``assay.models.PackageComparer``, passed in by the CLI) loads both model
  packages and checks that their predictions on the evaluation data agree within the
  tolerance. Without a comparer that applies, a difference in bytes is a difference.
- Metrics must match exactly, or within ``tolerance`` (absolute). Timing metrics
  (:data:`TIMING_METRICS`: ``*seconds``, ``*latency*``, ``*duration*``) measure the machine, not
  the stage, so they are excluded from the comparison and listed as excluded. A metrics file is
  judged by its values, not its bytes.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from assay.errors import PipelineError
from assay.pipeline._lock import read_lock
from assay.pipeline._records import read_metrics_file
from assay.pipeline._runner import plan_pipeline, run_pipeline, stat_cache
from assay.pipeline._view import Reporter

if TYPE_CHECKING:
    from assay.config import Project
    from assay.objects import LocalCache

#: Metric names (glob patterns) that measure time and are never compared.
TIMING_METRICS = ("*seconds", "*latency*", "*duration*")


class OutComparer(Protocol):
    """Judges two versions of an out whose bytes differ (the seam for semantic comparisons)."""

    def compare(
        self, recorded: Path, rerun: Path, *, root: Path, tolerance: float
    ) -> dict[str, Any] | None:
        """``None`` if this comparer does not apply to the out; else a dict with at least
        ``equivalent`` (bool) and ``detail`` (one sentence saying what was compared)."""
        ...


def is_timing_metric(key: str) -> bool:
    """True for metrics that measure time (``train_seconds``, ``latency_ms_per_row``, ...)."""
    leaf = key.rsplit(".", 1)[-1]
    return any(fnmatchcase(leaf, pattern) for pattern in TIMING_METRICS)


@dataclass
class ReproReport:
    """Whether a rerun matched the recorded outs and metrics."""

    stage: str
    tolerance: float
    reproducible: bool
    outs: dict[str, dict[str, Any]] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    excluded_metrics: list[str] = field(default_factory=list)
    run_id: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"stage": self.stage, "tolerance": self.tolerance,
                "reproducible": self.reproducible, "outs": self.outs, "metrics": self.metrics,
                "excluded_metrics": self.excluded_metrics, "run_id": self.run_id,
                "error": self.error}

    def lines(self) -> list[str]:
        """The report as plain text lines (the CLI prints them)."""
        verdict = "reproducible" if self.reproducible else "NOT reproducible"
        found = [f"{self.stage}: {verdict} (tolerance {self.tolerance:g})"]
        if self.error:
            found.append(f"  rerun failed: {self.error}")
        for path, info in self.outs.items():
            if info["identical"]:
                state = "identical"
            elif info.get("equivalent"):
                state = f"equivalent, bytes differ ({info['detail']})"
            else:
                state = "differs" + (f" ({info['detail']})" if info.get("detail") else "")
            found.append(f"  out {path}: {state}")
        for key, info in self.metrics.items():
            mark = "ok" if info["within"] else "DIFFERS"
            found.append(f"  metric {key}: {info['recorded']} -> {info['rerun']} ({mark})")
        if self.excluded_metrics:
            found.append(f"  not compared (timing): {', '.join(self.excluded_metrics)}")
        return found


def check_reproducibility(
    project: Project,
    stage: str,
    *,
    tolerance: float = 0.0,
    profile: str | None = None,
    reporter: Reporter | None = None,
    comparers: Sequence[OutComparer] = (),
) -> list[ReproReport]:
    """Rerun ``stage`` (each instance of a matrix group) and compare with ``assay.lock``.

    The workspace is put back to the recorded outs afterwards, and the lock is not changed.

    Args:
        project: the loaded project.
        stage: a stage, matrix group or instance name.
        tolerance: allowed absolute difference of metrics (and of predictions, for comparers).
        profile: the profile the stage ran with.
        reporter: where the rerun's progress goes.
        comparers: semantic comparisons for outs whose bytes differ (tried in order).

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
    cache = LocalCache(project.cache_dir)
    reports = []
    for name in names:
        entry = lock[name]
        report = ReproReport(stage=name, tolerance=tolerance, reproducible=True,
                             run_id=result.run_id)
        outcome = next((o for o in result.outcomes if o.stage == name), None)
        if outcome is None or outcome.status != "succeeded":
            report.reproducible = False
            report.error = outcome.reason if outcome else "did not run"
        metrics_ok = _compare_metrics(report, before[name], tolerance, project.root)
        for out in dag.stages[name].all_outs:
            now = hashes.hash_path(out)
            was = entry.out_hashes.get(out)
            info: dict[str, Any] = {"recorded": was, "rerun": now, "identical": now == was}
            if now is None or info["identical"]:
                pass
            elif out in dag.stages[name].metrics:
                info["equivalent"] = metrics_ok[out]
                info["detail"] = ("only timing metrics differ" if metrics_ok[out]
                                  else "metric values differ")
            elif comparers and out in entry.outs:
                info.update(_compare_semantically(project, cache, entry.outs[out], out,
                                                  comparers, tolerance))
            if now is None:
                info["detail"] = "not written by the rerun"
            report.outs[out] = info
            if not (info["identical"] or info.get("equivalent")):
                report.reproducible = False
        if not all(metrics_ok.values()):
            report.reproducible = False
        link_types: list[str] = list(project.config.cache.type)
        for out, oid in entry.outs.items():
            if cache.exists(oid):
                cache.checkout(oid, project.root / out, link_types, root=project.root)
        reports.append(report)
    hashes.save()
    return reports


def _compare_metrics(report: ReproReport, before: dict[str, dict[str, float]],
                     tolerance: float, root: Path) -> dict[str, bool]:
    """Fill ``report.metrics`` per metrics file; returns file -> all compared values within."""
    verdicts = {}
    for metrics_file, old in before.items():
        new = read_metrics_file(root / metrics_file)
        ok = True
        for key in sorted(set(old) | set(new)):
            a, b = old.get(key), new.get(key)
            if is_timing_metric(key):
                if key not in report.excluded_metrics:
                    report.excluded_metrics.append(key)
                continue
            delta = None if a is None or b is None else (
                0.0 if a == b or (a != a and b != b) else abs(b - a))  # NaN, ±Inf: same is same
            within = delta is not None and delta <= tolerance
            report.metrics[key] = {"recorded": a, "rerun": b, "delta": delta, "within": within}
            ok = ok and within
        verdicts[metrics_file] = ok
    return verdicts


def _compare_semantically(project: Project, cache: LocalCache, oid: str, out: str,
                          comparers: Sequence[OutComparer], tolerance: float) -> dict[str, Any]:
    """Check the recorded out out of the cache beside the rerun's and ask each comparer."""
    if not cache.exists(oid):
        return {"equivalent": False, "detail": "the recorded out is not in the cache"}
    scratch = project.state_dir / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="repro-", dir=scratch))
    try:
        recorded = tmp / Path(out).name
        cache.checkout(oid, recorded, ["copy"], root=tmp)
        for comparer in comparers:
            found = comparer.compare(recorded, project.root / out, root=project.root,
                                     tolerance=tolerance)
            if found is not None:
                return {**found, "equivalent": bool(found.get("equivalent"))}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"equivalent": False, "detail": "bytes differ and no comparer applies"}
