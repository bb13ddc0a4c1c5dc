"""A trigger's firings in the store: claimed once per (trigger, cause), then moved on by their
owner (the ``assay watch`` or ``assay triggers fire`` working on them) through

``pending`` → ``running`` (the pipeline run) → ``awaiting_approval`` (the promotion policy
wants a person) → ``deploying`` (the rollout) → ``done`` | ``failed``.

A firing left unfinished by an owner that died is taken over (compare and set on the owner)
by the next watch, which carries it on: the run again (the run cache restores what the dead
one finished), or the rollout by its id.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from assay.store import statements as sql

if TYPE_CHECKING:
    from assay.store import Store

#: States of a firing still under way.
UNFINISHED = ("pending", "running", "awaiting_approval", "deploying")
#: States of a firing that ended.
FINISHED = ("done", "failed")


@dataclass(frozen=True)
class Firing:
    """One firing of a trigger: its cause and how far it got."""

    id: int
    trigger: str
    cause: str
    kind: str
    """``monitor``, ``data``, ``schedule`` or ``manual`` (``assay triggers fire``)."""
    state: str
    run_id: str | None
    version: int | None
    rollout_id: int | None
    reason: str | None
    owner: str | None
    attempts: int
    details: dict[str, Any]
    actor: str
    created_at: float
    updated_at: float
    new: bool = field(default=False, compare=False)
    """True when this call claimed it (False: the cause had fired before)."""

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("new")
        return out


def _from_row(row: Any) -> Firing:
    (firing_id, trigger, cause, kind, state, run_id, version, rollout_id, reason, owner,
     attempts, details, actor, created_at, updated_at) = row
    return Firing(id=int(firing_id), trigger=trigger, cause=cause, kind=kind, state=state,
                  run_id=run_id, version=None if version is None else int(version),
                  rollout_id=None if rollout_id is None else int(rollout_id), reason=reason,
                  owner=owner, attempts=int(attempts or 0), details=dict(details or {}),
                  actor=actor, created_at=float(created_at), updated_at=float(updated_at))


def owner_token(identity: dict[str, Any]) -> str:
    """The ``owner`` column for a process ``identity`` (see :func:`assay.pipeline.runner_identity`)."""
    return f"{identity.get('host')}:{identity.get('pid')}:{identity.get('start')}"[:128]


def claim(store: Store, trigger: str, cause: str, *, kind: str, details: dict[str, Any],
          owner: dict[str, Any], actor: str) -> Firing:
    """The firing of ``trigger`` for ``cause``: a new ``pending`` one owned by ``owner`` (and
    its ``trigger.fired`` event), or the one that cause already made (``new`` False)."""
    from assay.errors import ConstraintViolation

    now = time.time()
    values = {"trigger": trigger, "cause": cause, "kind": kind, "owner": owner_token(owner),
              "details": {**details, "owner": owner}, "actor": actor, "now": now}
    try:
        with store.write() as conn:
            firing_id = int(conn.execute(sql.INSERT_FIRING, values).scalar())
            store.record_event("trigger.fired", trigger, {
                "firing": firing_id, "cause": cause, "kind": kind, **details},
                actor=actor, conn=conn, ts=now)
    except ConstraintViolation:  # the unique (trigger, cause): it fired before
        existing = by_cause(store, trigger, cause)
        if existing is None:
            raise
        return existing
    got = get(store, firing_id)
    assert got is not None
    return Firing(**{**asdict(got), "new": True})


def by_cause(store: Store, trigger: str, cause: str) -> Firing | None:
    with store.read() as conn:
        row = conn.execute(sql.FIRING_BY_CAUSE, {"trigger": trigger, "cause": cause}).fetchone()
    return None if row is None else _from_row(row)


def get(store: Store, firing_id: int) -> Firing | None:
    with store.read() as conn:
        row = conn.execute(sql.FIRING, {"id": firing_id}).fetchone()
    return None if row is None else _from_row(row)


def firings(store: Store, trigger: str | None = None, *, limit: int = 50) -> list[Firing]:
    """Firings, newest first: every trigger's, or ``trigger``'s."""
    with store.read() as conn:
        if trigger is None:
            rows = conn.execute(sql.FIRINGS, {"limit": limit}).fetchall()
        else:
            rows = conn.execute(sql.FIRINGS_OF_TRIGGER,
                                {"trigger": trigger, "limit": limit}).fetchall()
    return [_from_row(r) for r in rows]


def unfinished(store: Store) -> list[Firing]:
    """Firings still under way, oldest first."""
    with store.read() as conn:
        return [_from_row(r) for r in conn.execute(sql.UNFINISHED_FIRINGS)]


def take(store: Store, firing: Firing, owner: dict[str, Any]) -> Firing | None:
    """Take ``firing`` over for ``owner`` (its owner died); None when another process took it
    first."""
    with store.write() as conn:
        moved = conn.execute(sql.TAKE_FIRING, {"id": firing.id, "owner": owner_token(owner),
                                               "previous": firing.owner, "now": time.time()})
        if moved.rowcount != 1:
            return None
        store.record_event("trigger.resumed", firing.trigger, {
            "firing": firing.id, "cause": firing.cause, "state": firing.state,
            "previous_owner": firing.details.get("owner")}, conn=conn)
    taken = get(store, firing.id)
    assert taken is not None
    return update(store, taken, owner=owner, details={**taken.details, "owner": owner},
                  event=False)


def update(store: Store, firing: Firing, *, owner: dict[str, Any], state: str | None = None,
           reason: str | None = None, event: bool = True, **changes: Any) -> Firing:
    """Move ``firing`` on (``state``, ``run_id``, ``version``, ``rollout_id``, ``details``)
    and record ``trigger.<state>`` when the state changes.

    Raises:
        ConcurrencyError: another process owns the firing now.
    """
    from assay.errors import ConcurrencyError

    new_state = state or firing.state
    moved = {**asdict(firing), **changes, "state": new_state,
             "reason": reason if state is not None else firing.reason}
    with store.write() as conn:
        done = conn.execute(sql.UPDATE_FIRING, {
            "id": firing.id, "state": new_state, "run_id": moved["run_id"],
            "version": moved["version"], "rollout_id": moved["rollout_id"],
            "reason": moved["reason"], "details": moved["details"], "now": time.time(),
            "owner": owner_token(owner)})
        if done.rowcount != 1:
            raise ConcurrencyError(
                f"trigger {firing.trigger}: firing #{firing.id} is owned by another process "
                f"now ({_owner_text(firing)}); see: assay triggers history {firing.trigger}",
                trigger=firing.trigger)
        if event and state is not None and state != firing.state:
            store.record_event(f"trigger.{new_state}", firing.trigger, {
                "firing": firing.id, "cause": firing.cause, "run_id": moved["run_id"],
                "version": moved["version"], "rollout_id": moved["rollout_id"],
                "reason": moved["reason"]}, conn=conn)
    got = get(store, firing.id)
    assert got is not None
    return got


def _owner_text(firing: Firing) -> str:
    owner = firing.details.get("owner")
    return json.dumps(owner) if owner else str(firing.owner)
