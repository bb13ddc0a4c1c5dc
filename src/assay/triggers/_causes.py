"""What makes a trigger fire: its *causes*, each with a stable key (the unit of "fires once").

- a monitor trigger: a window of its monitor whose finding has the trigger's severity or more
  (key ``window:<id>``);
- a data trigger: a version of its dataset (key ``data:<name>:<hash>``);
- a schedule trigger: a slot of its cron expression, in UTC (key ``schedule:<ISO time>``).

Only causes from after the trigger was *armed* count (the first time ``assay watch`` saw it,
recorded as a ``trigger.armed`` event): adding a trigger never fires it for last month's drift
or for every dataset version ever added. Of the causes newer than the trigger's last firing,
the newest one is due; the ones it passed over are answered by it (one retraining on the newest
data answers every version before it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.config import AssayConfig, TriggerConfig
    from assay.store import Store


@dataclass(frozen=True)
class Cause:
    """One reason for a trigger to fire."""

    key: str
    kind: str
    """``monitor``, ``data``, ``schedule`` or ``manual``."""
    at: float
    """When the cause happened (the window's, the version's, the slot's time)."""
    summary: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind, "at": self.at, "summary": self.summary,
                **self.details}


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def armed_at(store: Store, name: str) -> float | None:
    """When ``name`` was armed (its first ``trigger.armed`` event), None if never."""
    first = store.events(kind="trigger.armed", subject=name, limit=1)
    return first[0].ts if first else None


def arm(store: Store, name: str, trigger: TriggerConfig, *, actor: str,
        now: float | None = None) -> float:
    """Arm ``name`` if it is not yet (record ``trigger.armed``); returns when it was armed."""
    armed = armed_at(store, name)
    if armed is not None:
        return armed
    ts = time.time() if now is None else now
    store.record_event("trigger.armed", name, {"kind": trigger.kind, "source": trigger.source},
                       actor=actor, ts=ts)
    return armed_at(store, name) or ts


def candidates(store: Store, config: AssayConfig, trigger: TriggerConfig, *,
               now: float) -> list[Cause]:
    """Every cause of ``trigger`` the store knows of at ``now`` (newest last)."""
    if trigger.monitor is not None:
        return _windows(store, config, trigger)
    if trigger.data is not None:
        return _versions(store, trigger.data)
    assert trigger.schedule is not None
    slot = previous_slot(trigger.schedule, now)
    return [Cause(key=f"schedule:{iso(slot)}", kind="schedule", at=slot,
                  summary=f"schedule {trigger.schedule!r}: the slot of {iso(slot)}",
                  details={"schedule": trigger.schedule, "slot": iso(slot)})]


def due(store: Store, config: AssayConfig, trigger: TriggerConfig, *, armed: float,
        last_at: float | None, now: float) -> Cause | None:
    """The cause ``trigger`` should fire for now: the newest one after it was armed and after
    its last firing's cause (``last_at``); None when there is none."""
    after = armed if last_at is None else max(armed, last_at)
    fresh = [c for c in candidates(store, config, trigger, now=now)
             if c.at >= armed and (last_at is None or c.at > after)]
    return fresh[-1] if fresh else None


def previous_slot(expression: str, now: float) -> float:
    """The newest time at or before ``now`` that the cron ``expression`` names (UTC)."""
    from croniter import croniter

    start = datetime.fromtimestamp(now, tz=timezone.utc)
    if croniter.match(expression, start.replace(second=0, microsecond=0)):
        return start.replace(second=0, microsecond=0).timestamp()
    return float(croniter(expression, start).get_prev(float))


def next_slot(expression: str, now: float) -> float:
    """The first time after ``now`` that the cron ``expression`` names (UTC)."""
    from croniter import croniter

    return float(croniter(expression, datetime.fromtimestamp(now, tz=timezone.utc))
                 .get_next(float))


def _windows(store: Store, config: AssayConfig, trigger: TriggerConfig) -> list[Cause]:
    from assay.alerts import finding_of
    from assay.config import SEVERITIES
    from assay.monitoring import windows

    assert trigger.monitor is not None
    least = SEVERITIES.index(trigger.severity)
    out = []
    for window in windows(store, trigger.monitor, limit=50):
        finding = finding_of(window, config)
        if finding is None or SEVERITIES.index(finding.severity) < least:  # type: ignore[arg-type]
            continue
        out.append(Cause(
            key=f"window:{window.id}", kind="monitor", at=float(window.created_at or 0.0),
            summary=f"[{finding.severity}] {finding.summary} (window {window.id})",
            details={"monitor": trigger.monitor, "window_id": window.id,
                     "severity": finding.severity, "finding": finding.id,
                     "columns": [c["column"] for c in finding.columns],
                     "versions": list(window.versions)}))
    return out


def _versions(store: Store, dataset: str) -> list[Cause]:
    from assay.data import versions

    return [Cause(key=f"data:{dataset}:{v.hash}", kind="data", at=v.created_at,
                  summary=f"dataset {dataset} v{v.version} ({v.hash[:16]}"
                          + (f", {v.rows:,} rows" if v.rows is not None else "") + ")",
                  details={"dataset": dataset, "version": v.version, "hash": v.hash})
            for v in versions(store, dataset)]
