"""Rollouts: what a deployment serves, each rollout's record, and the moves between them.

A deployment's row (``deployments``) says what ``assay serve --deployment NAME`` must serve now:
a stable version and, during a rollout, a candidate with its share of traffic (or of mirrored
traffic, in shadow mode). A rollout's row (``rollouts``) holds its plan, state, step, guard
decisions and who did what. Every move below is **one write transaction** over both rows, the
alias when it moves, and the event log: a rollout starts in the transaction that promotes its
version, and a rollback moves the alias back in the transaction that withdraws the candidate.
So no moment exists where the alias names a version that is half rolled out without a record
saying so, and a controller killed anywhere leaves a state it (or another) can carry on from.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from assay.errors import ConcurrencyError, DeploymentError, PolicyViolation, RegistryError
from assay.store import statements as sql

if TYPE_CHECKING:
    from assay.config import AssayConfig, DeploymentConfig
    from assay.store import Connection, Store

ACTIVE = ("running", "paused")
"""States of a rollout that is not over (at most one per deployment)."""

REQUESTS = ("pause", "resume", "abort", "promote_now")
"""What a person may ask of a running rollout's controller."""


@dataclass(frozen=True)
class Deployment:
    """What one deployment serves now."""

    name: str
    model: str
    stable_version: int | None
    candidate_version: int | None
    candidate_weight: float
    mode: str
    rollout_id: int | None
    revision: int
    updated_at: float

    @classmethod
    def from_row(cls, row: Any) -> Deployment:
        return cls(str(row[0]), str(row[1]), _int(row[2]), _int(row[3]), float(row[4]),
                   str(row[5]), _int(row[6]), int(row[7]), float(row[8]))


@dataclass(frozen=True)
class Rollout:
    """One rollout of a model version to a deployment."""

    id: int
    deployment: str
    model: str
    version: int
    from_version: int | None
    strategy: str
    state: str
    step: int
    weight: float
    request: str | None
    requested_by: str | None
    reason: str | None
    actor: str
    controller: str | None
    heartbeat: float | None
    details: dict[str, Any] = field(default_factory=dict)
    started_at: float = 0.0
    updated_at: float = 0.0
    ended_at: float | None = None

    @classmethod
    def from_row(cls, row: Any) -> Rollout:
        return cls(int(row[0]), str(row[1]), str(row[2]), int(row[3]), _int(row[4]),
                   str(row[5]), str(row[6]), int(row[7]), float(row[8]), row[9], row[10],
                   row[11], str(row[12]), row[13], _float(row[14]), dict(row[15] or {}),
                   float(row[16]), float(row[17]), _float(row[18]))

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE

    @property
    def ref(self) -> str:
        return f"{self.model}:{self.version}"

    @property
    def steps(self) -> list[dict[str, Any]]:
        """The plan: ``{"weight", "min_requests", "min_seconds"}`` per step."""
        return list(self.details.get("plan") or [])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def deployment_config(config: AssayConfig, name: str) -> DeploymentConfig:
    """The ``deployments: NAME`` section.

    Raises:
        DeploymentError: no such deployment in assay.yaml.
    """
    found = config.deployments.get(name)
    if found is None:
        known = ", ".join(sorted(config.deployments)) or "none"
        raise DeploymentError(f"No deployment {name!r} in assay.yaml (deployments: {known}); "
                              "add it under deployments:", deployment=name)
    return found


def current_in(conn: Connection, name: str) -> Deployment | None:
    row = conn.execute(sql.DEPLOYMENT, {"name": name}).fetchone()
    return None if row is None else Deployment.from_row(row)


def current(store: Store, name: str) -> Deployment | None:
    """What deployment ``name`` serves now (None before its first rollout)."""
    with store.read() as conn:
        return current_in(conn, name)


def get_rollout(store: Store, rollout_id: int) -> Rollout:
    """Rollout ``rollout_id``.

    Raises:
        DeploymentError: no such rollout.
    """
    with store.read() as conn:
        row = conn.execute(sql.ROLLOUT, {"id": rollout_id}).fetchone()
    if row is None:
        raise DeploymentError(f"No rollout #{rollout_id}")
    return Rollout.from_row(row)


def active_rollout(store: Store, name: str) -> Rollout | None:
    """The rollout running (or paused) on deployment ``name``, if any."""
    with store.read() as conn:
        row = conn.execute(sql.ACTIVE_ROLLOUT, {"deployment": name}).fetchone()
    return None if row is None else Rollout.from_row(row)


def rollouts_of(store: Store, name: str, *, limit: int = 50) -> list[Rollout]:
    """Deployment ``name``'s rollouts, newest first."""
    with store.read() as conn:
        rows = conn.execute(sql.ROLLOUTS_OF_DEPLOYMENT,
                            {"deployment": name, "limit": limit}).fetchall()
    return [Rollout.from_row(row) for row in rows]


def _alias_version(conn: Connection, model: str, alias: str) -> int | None:
    from assay.registry import ModelRef, version_in

    try:
        return version_in(conn, ModelRef(model, alias=alias)).version
    except RegistryError:
        return None


def _apply(conn: Connection, dep: Deployment, *, stable: int | None, candidate: int | None,
           weight: float, mode: str, rollout_id: int | None, now: float) -> int:
    """A new revision of what ``dep`` serves; returns it.

    Raises:
        ConcurrencyError: the deployment changed since ``dep`` was read.
    """
    changed = conn.execute(sql.UPDATE_DEPLOYMENT, {
        "name": dep.name, "stable_version": stable, "candidate_version": candidate,
        "candidate_weight": weight, "mode": mode, "rollout_id": rollout_id,
        "revision": dep.revision, "updated_at": now})
    if changed.rowcount != 1:
        raise ConcurrencyError(f"Deployment {dep.name!r} changed while this step was decided; "
                               f"check with: assay deployments status {dep.name}",
                               deployment=dep.name)
    return dep.revision + 1


def _save(conn: Connection, rollout: Rollout, now: float, **changes: Any) -> Rollout:
    values = {"state": rollout.state, "step": rollout.step, "weight": rollout.weight,
              "reason": rollout.reason, "details": rollout.details,
              "request": rollout.request, "requested_by": rollout.requested_by,
              "ended_at": rollout.ended_at, **changes}
    conn.execute(sql.UPDATE_ROLLOUT, {**values, "id": rollout.id, "updated_at": now})
    fields = {k: v for k, v in values.items()}
    return Rollout(**{**asdict(rollout), **fields, "updated_at": now})


def _event(store: Store, conn: Connection, kind: str, rollout: Rollout, actor: str,
           now: float, **extra: Any) -> None:
    details = {"rollout": rollout.id, "deployment": rollout.deployment, "model": rollout.model,
               "version": rollout.version, "from_version": rollout.from_version,
               "strategy": rollout.strategy, "step": rollout.step, "weight": rollout.weight,
               **extra}
    store.record_event(kind, f"deployment:{rollout.deployment}", details, actor=actor,
                       conn=conn, ts=now)


def start(store: Store, config: AssayConfig, name: str, version: int | None, *,
          actor: str) -> Rollout:
    """Start rolling ``version`` (default: the version the followed alias names) out to
    deployment ``name``: promote it to the alias (the ``promotion:`` policy decides) and record
    the rollout's first step, in one transaction.

    A deployment's first version has no incumbent to compare with: it is applied directly.

    Raises:
        DeploymentError: unknown deployment, a rollout already running, the version already
            serves it, or no version to deploy.
        PolicyViolation: the promotion policy refuses the version.
        ConcurrencyError: the alias or the deployment moved meanwhile.
    """
    from assay.registry import ModelRef, promote_in, version_in

    cfg = deployment_config(config, name)
    now = time.time()
    with store.write() as conn:
        row = conn.execute(sql.ACTIVE_ROLLOUT, {"deployment": name}).fetchone()
        if row is not None:
            running = Rollout.from_row(row)
            raise DeploymentError(
                f"Rollout #{running.id} of {running.ref} is {running.state} on {name}; wait for "
                f"it to end, or stop it: assay deployments abort {name}", deployment=name)
        held = _alias_version(conn, cfg.model_name, cfg.alias)
        version = held if version is None else version
        if version is None:
            raise DeploymentError(f"No version holds {cfg.model}; deploy one: assay deploy "
                                  f"{cfg.model_name}:VERSION --to {name}", deployment=name)
        mv = version_in(conn, ModelRef(cfg.model_name, version))
        conn.execute(sql.INSERT_DEPLOYMENT, {"name": name, "model": cfg.model_name,
                                             "stable_version": None, "updated_at": now})
        dep = current_in(conn, name)
        assert dep is not None
        if dep.stable_version == version and dep.candidate_version is None:
            raise DeploymentError(f"{mv.ref} already serves {name}", deployment=name)
        if held != version:
            promote_in(store, conn, config, mv.ref, to=cfg.alias, actor=actor)
        first = dep.stable_version is None
        strategy = "direct" if first else cfg.strategy
        plan = [] if strategy == "direct" else [s.model_dump() for s in cfg.plan]
        lineage = dict((mv.meta.get("package") or {}).get("lineage") or {})
        details: dict[str, Any] = {
            "plan": plan, "guards": cfg.guards.model_dump(), "url": cfg.url,
            "alias": cfg.alias, "git_commit": lineage.get("git_commit"),
            "datasets": lineage.get("datasets") or [], "decisions": [],
            "phase": "warming" if strategy == "blue_green" else "applying",
            "first": first,
        }
        weight = 1.0 if strategy == "direct" else plan[0]["weight"]
        inserted = conn.execute(sql.INSERT_ROLLOUT, {
            "deployment": name, "model": cfg.model_name, "version": version,
            "from_version": dep.stable_version, "strategy": strategy, "state": "running",
            "weight": weight, "actor": actor, "details": details, "started_at": now})
        rollout_id = int(inserted.scalar())
        if strategy == "direct":
            revision = _apply(conn, dep, stable=version, candidate=None, weight=0.0,
                              mode="split", rollout_id=rollout_id, now=now)
        else:
            served = 0.0 if strategy == "blue_green" else weight  # blue-green warms first
            revision = _apply(conn, dep, stable=dep.stable_version, candidate=version,
                              weight=served, mode="shadow" if strategy == "shadow" else "split",
                              rollout_id=rollout_id, now=now)
        details["revision"] = revision
        rollout = Rollout(rollout_id, name, cfg.model_name, version, dep.stable_version,
                          strategy, "running", 0, weight, None, None, None, actor, None, None,
                          details, now, now, None)
        rollout = _save(conn, rollout, now)
        _event(store, conn, "deployment.started", rollout, actor, now,
               git_commit=details["git_commit"], datasets=details["datasets"],
               revision=revision)
    return rollout


def set_traffic(store: Store, rollout: Rollout, *, weight: float, step: int, actor: str,
                details: dict[str, Any]) -> Rollout:
    """Move the candidate to ``weight`` at ``step`` (the next step, or blue-green's flip)."""
    now = time.time()
    with store.write() as conn:
        dep = _deployment_of(conn, rollout)
        revision = _apply(conn, dep, stable=dep.stable_version, candidate=rollout.version,
                          weight=weight, mode=dep.mode, rollout_id=rollout.id, now=now)
        details = {**details, "revision": revision}
        moved = _save(conn, rollout, now, step=step, weight=weight, details=details)
        _event(store, conn, "deployment.step", moved, actor, now, revision=revision)
    return moved


def complete(store: Store, rollout: Rollout, *, actor: str, details: dict[str, Any],
             reason: str | None = None) -> Rollout:
    """The candidate becomes the deployment's stable version: the rollout is complete."""
    now = time.time()
    with store.write() as conn:
        dep = _deployment_of(conn, rollout)
        revision = _apply(conn, dep, stable=rollout.version, candidate=None, weight=0.0,
                          mode="split", rollout_id=rollout.id, now=now)
        done = _save(conn, rollout, now, state="completed", weight=1.0, reason=reason,
                     request=None, ended_at=now, details={**details, "revision": revision})
        _event(store, conn, "deployment.completed", done, actor, now, revision=revision,
               reason=reason)
    return done


def withdraw(store: Store, rollout: Rollout, *, state: str, reason: str, actor: str,
             details: dict[str, Any], decision: dict[str, Any] | None = None) -> Rollout:
    """Take the candidate out of traffic and point the alias back at the incumbent: a
    rollback (``state="rolled_back"``, a guard failed) or an abort (``"aborted"``, a person)."""
    from assay.registry import restore_alias_in

    now = time.time()
    with store.write() as conn:
        dep = _deployment_of(conn, rollout)
        revision = _apply(conn, dep, stable=rollout.from_version, candidate=None, weight=0.0,
                          mode="split", rollout_id=rollout.id, now=now)
        alias = str(rollout.details.get("alias") or "")
        moved = None
        if rollout.from_version is not None and alias:
            moved = restore_alias_in(store, conn, rollout.model, alias,
                                     version=rollout.from_version, actor=actor)
        ended = _save(conn, rollout, now, state=state, weight=0.0, reason=reason, request=None,
                      ended_at=now, details={**details, "revision": revision})
        _event(store, conn, "deployment.rolled_back" if state == "rolled_back"
               else "deployment.aborted", ended, actor, now, revision=revision, reason=reason,
               guard=decision, alias_moved_back=moved is not None)
    return ended


def save_details(store: Store, rollout: Rollout, details: dict[str, Any], *,
                 state: str | None = None, request: str | None = None,
                 requested_by: str | None = None) -> Rollout:
    """Record the controller's progress (snapshot, decisions, phase) on the rollout."""
    now = time.time()
    with store.write() as conn:
        return _save(conn, rollout, now, details=details, state=state or rollout.state,
                     request=request, requested_by=requested_by)


def claim(store: Store, rollout: Rollout, controller: str, *, stale_after: float) -> bool:
    """Take (or renew) the lease on ``rollout`` for ``controller``: True when it is ours."""
    now = time.time()
    with store.write() as conn:
        taken = conn.execute(sql.CLAIM_ROLLOUT, {"id": rollout.id, "controller": controller,
                                                 "now": now, "stale": now - stale_after})
        return taken.rowcount == 1


def ask(store: Store, config: AssayConfig, name: str, what: str, *, actor: str) -> Rollout:
    """Ask the controller of deployment ``name``'s rollout to pause, resume, abort or promote
    it now. With a team in assay.yaml, only members with the platform or admin role may.

    Raises:
        DeploymentError: no rollout is running, or an unknown request.
        PolicyViolation: the actor lacks the role.
    """
    if what not in REQUESTS:
        raise DeploymentError(f"Unknown request {what!r}; one of {', '.join(REQUESTS)}")
    deployment_config(config, name)
    if config.team:
        roles = next((m.roles for m in config.team if m.id == actor), None)
        if roles is None or not {"platform", "admin"} & set(roles):
            raise PolicyViolation(f"{actor} may not {what.replace('_', '-')} deployment "
                                  f"{name}: it takes the platform or admin role (team: in "
                                  "assay.yaml)", actor=actor, deployment=name)
    now = time.time()
    with store.write() as conn:
        row = conn.execute(sql.ACTIVE_ROLLOUT, {"deployment": name}).fetchone()
        if row is None:
            raise DeploymentError(f"No rollout is running on {name}; see: assay deployments "
                                  f"history {name}", deployment=name)
        rollout = Rollout.from_row(row)
        conn.execute(sql.REQUEST_ROLLOUT, {"id": rollout.id, "request": what,
                                           "requested_by": actor, "updated_at": now})
        store.record_event("deployment.requested", f"deployment:{name}",
                           {"rollout": rollout.id, "request": what}, actor=actor, conn=conn,
                           ts=now)
    return Rollout(**{**asdict(rollout), "request": what, "requested_by": actor})


def _deployment_of(conn: Connection, rollout: Rollout) -> Deployment:
    dep = current_in(conn, rollout.deployment)
    if dep is None or dep.rollout_id != rollout.id:
        raise ConcurrencyError(f"Deployment {rollout.deployment!r} is no longer driven by rollout "
                               f"#{rollout.id}; check with: assay deployments status "
                               f"{rollout.deployment}", deployment=rollout.deployment)
    return dep
