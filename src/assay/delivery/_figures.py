"""The figures of one window: DORA's four keys with their bands, and the ML keys.

Each figure selects facts (:mod:`assay.delivery._facts`) by a moment inside the window and
summarises them; a figure without anything to count is None ("no data"), never an error.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from assay.delivery._bands import (
    failure_rate_band,
    frequency_band,
    lead_time_band,
    restore_band,
)
from assay.delivery._facts import Facts
from assay.delivery._history import History
from assay.delivery._window import DAY, Window, iso_full


def median(values: Sequence[float]) -> float | None:
    """The median (the mean of the middle two for an even count); None for no values."""
    return float(statistics.median(values)) if values else None


def p90(values: Sequence[float]) -> float | None:
    """The 90th percentile by nearest rank: the smallest value at least 90% of the values do
    not exceed; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[math.ceil(0.9 * len(ordered)) - 1])


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class Figures:
    """Every figure of one window."""

    window: Window
    deployments: int
    per_day: float
    lead: list[float]
    lead_from_run: int
    data_lead: list[float]
    finished: int
    failed: int
    failures: dict[str, int]
    in_progress: int
    restores: list[float]
    incidents: int
    unrestored: int
    serving: list[dict[str, Any]]
    retrain_gaps: list[float]
    registering_runs: int
    drift_to_production: list[float]
    evaluations: int
    evaluations_passed: int
    promotions: int
    approved_promotions: int
    approval_waits: list[float]
    changes: list[dict[str, Any]]
    incident_rows: list[dict[str, Any]]

    @property
    def failure_rate(self) -> float | None:
        return _ratio(self.failed, self.finished)

    def to_dict(self) -> dict[str, Any]:
        """Every figure, JSON-ready (seconds for durations, None for "no data")."""
        lead_median = median(self.lead)
        restore_median = median(self.restores)
        return {
            "window": self.window.to_dict(),
            "dora": {
                "deployment_frequency": {
                    "deployments": self.deployments,
                    "per_day": self.per_day,
                    "per_week": self.per_day * 7,
                    "band": frequency_band(self.per_day) if self.deployments else None,
                },
                "lead_time": {
                    "changes": len(self.lead),
                    "from_run_start": self.lead_from_run,
                    "median_seconds": lead_median,
                    "p90_seconds": p90(self.lead),
                    "band": lead_time_band(lead_median),
                    "from_data": {
                        "changes": len(self.data_lead),
                        "median_seconds": median(self.data_lead),
                        "p90_seconds": p90(self.data_lead),
                    },
                },
                "change_failure_rate": {
                    "finished": self.finished,
                    "failed": self.failed,
                    "by_cause": dict(sorted(self.failures.items())),
                    "in_progress": self.in_progress,
                    "rate": self.failure_rate,
                    "band": failure_rate_band(self.failure_rate),
                },
                "time_to_restore": {
                    "incidents": self.incidents,
                    "restored": len(self.restores),
                    "unrestored": self.unrestored,
                    "median_seconds": restore_median,
                    "p90_seconds": p90(self.restores),
                    "band": restore_band(restore_median),
                },
            },
            "ml": {
                "model_age": self.serving,
                "retraining_cadence": {
                    "runs": self.registering_runs,
                    "median_seconds": median(self.retrain_gaps),
                },
                "drift_to_production": {
                    "retrains": len(self.drift_to_production),
                    "median_seconds": median(self.drift_to_production),
                    "p90_seconds": p90(self.drift_to_production),
                },
                "gate_pass_rate": {
                    "evaluations": self.evaluations,
                    "passed": self.evaluations_passed,
                    "rate": _ratio(self.evaluations_passed, self.evaluations),
                },
                "promotions_with_approval": {
                    "promotions": self.promotions,
                    "approved": self.approved_promotions,
                    "share": _ratio(self.approved_promotions, self.promotions),
                },
                "approval_wait": {
                    "approvals": len(self.approval_waits),
                    "median_seconds": median(self.approval_waits),
                    "p90_seconds": p90(self.approval_waits),
                },
            },
            "changes": self.changes,
            "incidents": self.incident_rows,
        }


def _serving(facts: Facts, until: float) -> list[dict[str, Any]]:
    """Per production deployment: the version its last completed rollout before ``until`` put
    into service, since when, and for how long by ``until``."""
    last: dict[str, Any] = {}
    for r in facts.production:
        if r.state == "completed" and r.ended_at is not None and r.ended_at < until:
            held = last.get(r.deployment)
            if held is None or (r.ended_at, r.id) > (held.ended_at, held.id):
                last[r.deployment] = r
    return [{"deployment": name, "model": r.model, "version": r.version,
             "serving_since": iso_full(r.ended_at), "age_seconds": until - r.ended_at}
            for name, r in sorted(last.items())]


def figures(history: History, facts: Facts, window: Window) -> Figures:
    """The figures of ``window``."""
    ended = [c for c in facts.changes if window.holds(c.ended_at)]
    deployed = [c for c in ended if c.is_completed]
    failed = [c for c in ended if c.failed]
    failures: dict[str, int] = {}
    for c in failed:
        assert c.failure is not None
        failures[c.failure] = failures.get(c.failure, 0) + 1
    lead = [c.lead_seconds for c in deployed if c.lead_seconds is not None]
    incidents = [i for i in facts.incidents if window.holds(i.started_at)]
    runs = [at for _, at in facts.registering_runs if window.holds(at)]
    promotions = [p for p in facts.promotions if window.holds(p.ts)]
    approved = [p for p in promotions if p.approved_at is not None]
    evaluations = [e for e in history.evaluations if window.holds(e.created_at)]
    return Figures(
        window=window,
        deployments=len(deployed),
        per_day=len(deployed) / (window.seconds / DAY),
        lead=lead,
        lead_from_run=sum(1 for c in deployed if c.lead_from == "run"),
        data_lead=[c.data_lead_seconds for c in deployed if c.data_lead_seconds is not None],
        finished=len(ended),
        failed=len(failed),
        failures=failures,
        in_progress=sum(1 for r in facts.production
                        if r.started_at < window.until
                        and (r.ended_at is None or r.ended_at >= window.until)),
        restores=[s for i in incidents if (s := i.seconds) is not None],
        incidents=len(incidents),
        unrestored=sum(1 for i in incidents if i.restored_at is None),
        serving=_serving(facts, window.until),
        retrain_gaps=[b - a for a, b in itertools.pairwise(runs)],
        registering_runs=len(runs),
        drift_to_production=[t.seconds for t in facts.retrains if window.holds(t.ended_at)],
        evaluations=len(evaluations),
        evaluations_passed=sum(1 for e in evaluations if e.passed),
        promotions=len(promotions),
        approved_promotions=len(approved),
        approval_waits=[p.wait_seconds for p in approved if p.wait_seconds is not None],
        changes=[{
            "rollout": c.rollout.id, "deployment": c.rollout.deployment,
            "model": c.rollout.model, "version": c.rollout.version, "state": c.rollout.state,
            "ended_at": iso_full(c.ended_at), "failure": c.failure,
            "lead_time_seconds": c.lead_seconds, "lead_time_from": c.lead_from,
            "data_lead_time_seconds": c.data_lead_seconds,
        } for c in ended],
        incident_rows=[{
            "deployment": i.deployment, "cause": i.cause, "subject": i.subject,
            "started_at": iso_full(i.started_at),
            "restored_at": None if i.restored_at is None else iso_full(i.restored_at),
            "seconds": i.seconds,
        } for i in incidents],
    )
