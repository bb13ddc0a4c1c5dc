"""The facts behind the figures, derived once from the history: each production change (a
finished rollout, its lead time and whether it failed), each incident (a failed change or a
production alert, and when service was restored), and the other timed steps the ML keys count.

A figure for a window (:mod:`assay.delivery._figures`) only selects and summarises these, so
the window, the comparison window and every ISO week are counted by the same rules.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass

from assay.delivery._history import FINISHED, WITHDRAWN, History, RolloutRecord

CommitTime = Callable[[str], "float | None"]
"""When a git commit was made (None: unknown here)."""


@dataclass(frozen=True)
class Scope:
    """Which model or deployment a report covers (None: all)."""

    model: str | None = None
    deployment: str | None = None

    def admits(self, rollout: RolloutRecord) -> bool:
        return ((self.model is None or rollout.model == self.model)
                and (self.deployment is None or rollout.deployment == self.deployment))

    def to_dict(self) -> dict[str, str | None]:
        return {"model": self.model, "deployment": self.deployment}


@dataclass(frozen=True)
class Change:
    """A production rollout that ended."""

    rollout: RolloutRecord
    failure: str | None
    """None (it held), ``rolled_back``, ``aborted``, ``alias_rolled_back`` (its alias was rolled
    back off it within the fix window) or ``replaced`` (another rollout replaced it within the
    fix window)."""
    lead_seconds: float | None
    """Commit to serving (completed rollouts only)."""
    lead_from: str | None
    """Where the start came from: ``commit`` (git) or ``run`` (the run's start)."""
    data_lead_seconds: float | None
    """Newest training data version to serving (completed rollouts only)."""

    @property
    def ended_at(self) -> float:
        assert self.rollout.ended_at is not None
        return self.rollout.ended_at

    @property
    def is_completed(self) -> bool:
        return self.rollout.state == "completed"

    @property
    def failed(self) -> bool:
        return self.failure is not None


@dataclass(frozen=True)
class Incident:
    """A failure in production and when service came back (None: not yet)."""

    deployment: str
    cause: str
    """``rolled_back``, ``aborted``, ``alias_rolled_back``, ``replaced`` or ``alert``."""
    subject: str
    started_at: float
    restored_at: float | None

    @property
    def seconds(self) -> float | None:
        return None if self.restored_at is None else self.restored_at - self.started_at


@dataclass(frozen=True)
class Timed:
    """A step with a start and an end (a retrain, an approval wait)."""

    subject: str
    started_at: float
    ended_at: float

    @property
    def seconds(self) -> float:
        return self.ended_at - self.started_at


@dataclass(frozen=True)
class Promotion:
    """A move of a model to a production alias."""

    name: str
    version: int
    alias: str
    ts: float
    approved_at: float | None
    """The last approval recorded before the move (None: no person approved it)."""
    wait_seconds: float | None
    """From the version's registration to that approval."""


@dataclass(frozen=True)
class Facts:
    """The history, interpreted once."""

    production: tuple[RolloutRecord, ...]
    changes: tuple[Change, ...]
    incidents: tuple[Incident, ...]
    retrains: tuple[Timed, ...]
    """Monitor-triggered retrains that reached production: drifted window to rollout end."""
    registering_runs: tuple[tuple[str, float], ...]
    """(run id, started_at) of succeeded pipeline runs that registered a version in scope."""
    promotions: tuple[Promotion, ...]


def _data_time(history: History, rollout: RolloutRecord) -> float | None:
    version = history.versions.get((rollout.model, rollout.version))
    if version is None:
        return None
    newest = None
    for name, digest in version.datasets:
        recorded = history.data_created.get(digest) or ()
        named = [at for n, at in recorded if n == name] or [at for _, at in recorded]
        if named:
            first = min(named)
            newest = first if newest is None else max(newest, first)
    return newest


def _commit_time(history: History, rollout: RolloutRecord,
                 commit_time: CommitTime) -> tuple[float | None, str | None]:
    version = history.versions.get((rollout.model, rollout.version))
    commit = (version.git_commit if version is not None else None) or rollout.git_commit
    if commit:
        made = commit_time(commit)
        if made is not None:
            return made, "commit"
    run = history.runs.get(version.run_id) if version is not None and version.run_id else None
    if run is not None:
        return run.started_at, "run"
    return None, None


@dataclass(frozen=True)
class _Index:
    """The history's moments, sorted for lookup by time (bisect), built once per report."""

    rollbacks: dict[tuple[str, str], tuple[list[float], list[int | None]]]
    """(model, alias) -> the times of its rollbacks and the version each took the alias off."""
    completed: dict[str, list[float]]
    """deployment -> the ends of its completed production rollouts."""

    @classmethod
    def of(cls, history: History, production: tuple[RolloutRecord, ...]) -> _Index:
        rollbacks: dict[tuple[str, str], tuple[list[float], list[int | None]]] = {}
        for move in sorted(history.moves, key=lambda m: m.ts):
            if move.action == "rollback":
                times, offs = rollbacks.setdefault((move.name, move.alias), ([], []))
                times.append(move.ts)
                offs.append(move.previous_version)
        completed: dict[str, list[float]] = {}
        for r in production:
            if r.state == "completed" and r.ended_at is not None:
                completed.setdefault(r.deployment, []).append(r.ended_at)
        for ends in completed.values():
            ends.sort()
        return cls(rollbacks, completed)

    def rollback_off(self, model: str, alias: str | None, version: int, start: float,
                     end: float) -> float | None:
        """When ``version`` was rolled back off ``model@alias`` within [start, end]."""
        times, offs = self.rollbacks.get((model, alias or ""), ([], []))
        i = bisect.bisect_left(times, start)
        while i < len(times) and times[i] <= end:
            if offs[i] == version:
                return times[i]
            i += 1
        return None

    def next_rollback(self, model: str, alias: str | None, after: float) -> float | None:
        times, _ = self.rollbacks.get((model, alias or ""), ([], []))
        i = bisect.bisect_right(times, after)
        return times[i] if i < len(times) else None

    def next_completed(self, deployment: str, after: float) -> float | None:
        ends = self.completed.get(deployment, [])
        i = bisect.bisect_right(ends, after)
        return ends[i] if i < len(ends) else None


def derive(history: History, scope: Scope, *, fix_window: float,
           commit_time: CommitTime) -> Facts:
    """Interpret ``history`` for ``scope``.

    Args:
        fix_window: seconds after a completed rollout in which an alias rollback or a
            replacing rollout marks it failed.
        commit_time: when a git commit was made (see :func:`assay.delivery.git_commit_time`).
    """
    production = tuple(r for r in history.rollouts
                       if scope.admits(r) and history.is_production(r))
    index = _Index.of(history, production)

    changes: list[Change] = []
    incidents: list[Incident] = []
    for r in production:
        if r.state not in FINISHED or r.ended_at is None:
            continue
        if r.state in WITHDRAWN:
            changes.append(Change(r, r.state, None, None, None))
            incidents.append(Incident(r.deployment, r.state, f"rollout #{r.id} {r.ref}",
                                      r.started_at, r.ended_at))
            continue
        failure, restored = None, None
        rolled = index.rollback_off(r.model, history.alias_of(r), r.version, r.ended_at,
                                    r.ended_at + fix_window)
        replaced = index.next_completed(r.deployment, r.ended_at)
        if rolled is not None:
            failure, restored = "alias_rolled_back", rolled
        elif replaced is not None and replaced <= r.ended_at + fix_window:
            failure, restored = "replaced", replaced
        commit_at, source = _commit_time(history, r, commit_time)
        data_at = _data_time(history, r)
        changes.append(Change(
            r, failure, None if commit_at is None else r.ended_at - commit_at, source,
            None if data_at is None else r.ended_at - data_at))
        if failure is not None:
            incidents.append(Incident(r.deployment, failure, f"rollout #{r.id} {r.ref}",
                                      r.ended_at, restored))
    incidents.extend(_alert_incidents(history, production, index))
    incidents.sort(key=lambda i: (i.started_at, i.deployment))
    return Facts(
        production=production, changes=tuple(changes), incidents=tuple(incidents),
        retrains=_retrains(history, production), registering_runs=_registering_runs(
            history, scope, production), promotions=_promotions(history, scope, production))


def _alert_incidents(history: History, production: tuple[RolloutRecord, ...],
                     index: _Index) -> list[Incident]:
    """Production alerts: from the first alert on a deployment to the next completed rollout or
    alias rollback there; alerts before the same restoration are one incident."""
    aliases = {r.deployment: (r.model, history.alias_of(r)) for r in production}
    open_at: dict[tuple[str, float | None], Incident] = {}
    for alert in sorted(history.alerts, key=lambda a: a.ts):
        if alert.window_id is None or alert.window_id not in history.windows:
            continue
        deployment = history.windows[alert.window_id][0]
        if deployment not in aliases:
            continue
        model, alias = aliases[deployment]
        ends = [t for t in (index.next_completed(deployment, alert.ts),
                            index.next_rollback(model, alias, alert.ts)) if t is not None]
        restored = min(ends) if ends else None
        key = (deployment, restored)
        if key not in open_at:
            open_at[key] = Incident(deployment, "alert", f"alert {alert.finding}", alert.ts,
                                    restored)
    return list(open_at.values())


def _retrains(history: History, production: tuple[RolloutRecord, ...]) -> tuple[Timed, ...]:
    by_id = {r.id: r for r in production}
    out = []
    for firing in history.firings:
        rollout = by_id.get(firing.rollout_id)
        if firing.state != "done" or rollout is None or rollout.state != "completed" \
                or rollout.ended_at is None:
            continue
        window = history.windows.get(firing.window_id) if firing.window_id is not None else None
        start = window[1] if window is not None else firing.created_at
        out.append(Timed(f"{firing.trigger} #{firing.id} -> rollout #{rollout.id}", start,
                         rollout.ended_at))
    return tuple(out)


def _models_in(history: History, scope: Scope,
               production: tuple[RolloutRecord, ...]) -> set[str] | None:
    """The models a scope covers (None: every model)."""
    if scope.deployment is None:
        return None if scope.model is None else {scope.model}
    models = {r.model for r in history.rollouts if r.deployment == scope.deployment}
    configured = history.deployment_aliases.get(scope.deployment)
    if configured is not None:
        models.add(configured[0])
    return {m for m in models if scope.model is None or m == scope.model}


def _registering_runs(history: History, scope: Scope,
                      production: tuple[RolloutRecord, ...]) -> tuple[tuple[str, float], ...]:
    models = _models_in(history, scope, production)
    registered = {v.run_id for v in history.versions.values()
                  if v.run_id and (models is None or v.name in models)}
    return tuple(sorted(((run.id, run.started_at) for run in history.runs.values()
                         if run.status == "succeeded" and run.id in registered),
                        key=lambda pair: (pair[1], pair[0])))


def _promotions(history: History, scope: Scope,
                production: tuple[RolloutRecord, ...]) -> tuple[Promotion, ...]:
    from assay.config import serves_users

    models = _models_in(history, scope, production)
    aliases = None
    if scope.deployment is not None:
        aliases = {history.alias_of(r) for r in history.rollouts
                   if r.deployment == scope.deployment}
        configured = history.deployment_aliases.get(scope.deployment)
        if configured is not None:
            aliases.add(configured[1])
    approved_at: dict[tuple[str, int, str], list[float]] = {}
    for a in history.approvals:
        if a.decision == "approve":
            approved_at.setdefault((a.name, a.version, a.target), []).append(a.created_at)
    out = []
    for move in history.moves:
        if move.action != "promote" or move.version is None:
            continue
        if not serves_users(history.promotion, move.alias):
            continue
        if (models is not None and move.name not in models) or (
                aliases is not None and move.alias not in aliases):
            continue
        approvals = [at for at in approved_at.get((move.name, move.version, move.alias), [])
                     if at <= move.ts]
        approved = max(approvals) if approvals else None
        version = history.versions.get((move.name, move.version))
        wait = (approved - version.created_at
                if approved is not None and version is not None else None)
        out.append(Promotion(move.name, move.version, move.alias, move.ts, approved, wait))
    return tuple(out)
