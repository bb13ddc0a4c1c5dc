"""Promotion policies, approvals and rollbacks: every rule is enforced here, not in a face.

The CLI and the team server call these functions, so neither can bypass a policy. A promotion
first decides on a snapshot (the policy check and the alias revision it saw), then moves the
alias in one write transaction that re-checks the policy and the revision: of two promotions
racing for one alias, exactly one wins.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assay.errors import ConstraintViolation, PolicyViolation, RegistryError
from assay.registry._aliases import (
    AliasMove,
    alias_revision,
    history_in,
    move_alias,
    require_alias,
    rollback_target,
)
from assay.registry._refs import ModelRef, check_alias, parse_ref
from assay.registry._versions import ModelVersion, version_in
from assay.store import statements as sql

if TYPE_CHECKING:
    from assay.config import ApprovalRule, AssayConfig, PromotionPolicy
    from assay.store import Connection, Store


@dataclass(frozen=True)
class Approval:
    """One approval or rejection of a version for a target alias."""

    name: str
    version: int
    target: str
    actor: str
    roles: tuple[str, ...]
    decision: str  # approve | reject
    comment: str | None
    created_at: float
    expired: bool = False

    @property
    def done(self) -> str:
        """The decision in the past tense: ``approved`` or ``rejected``."""
        return "approved" if self.decision == "approve" else "rejected"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "name": self.name,
            "version": self.version,
            "target": self.target,
            "actor": self.actor,
            "roles": list(self.roles),
            "decision": self.decision,
            "comment": self.comment,
            "created_at": self.created_at,
            "expired": self.expired,
        }


def _roles_of(config: AssayConfig, actor: str) -> list[str] | None:
    """The actor's roles, or None when they are not a team member."""
    for member in config.team:
        if member.id == actor:
            return list(member.roles)
    return None


def _is_expired(created_at: float, policy: PromotionPolicy | None, now: float) -> bool:
    expiry = policy.expiry_seconds if policy is not None else None
    return expiry is not None and now - created_at > expiry


def _approvals_in(
    conn: Connection, name: str, version: int, target: str | None, policy: PromotionPolicy | None,
    now: float,
) -> list[Approval]:
    return [
        Approval(
            name=name, version=version, target=str(decided_for), actor=str(actor),
            roles=tuple(roles or ()), decision=str(decision), comment=comment,
            created_at=float(created_at), expired=_is_expired(float(created_at), policy, now),
        )
        for decided_for, actor, roles, decision, comment, created_at in conn.execute(
            *sql.approvals_of(name, version, target))
    ]


def _roles_text(roles: Sequence[str]) -> str:
    if not roles:
        return "any team member"
    return "role " + " or ".join(repr(r) for r in roles)


def _gate_gaps(mv: ModelVersion, policy: PromotionPolicy | None) -> list[str]:
    wanted = "all" if policy is None else policy.gates
    if wanted == "none":
        return []
    gates = list(mv.evaluation.get("gates") or [])
    label = f"Model {mv.name!r} v{mv.version}"
    if wanted == "all":
        if mv.gates_passed:
            return []
        if not mv.evaluation:
            return [f"{label} has no evaluation; register it from an evaluate stage (kind: register)"]
        failed = [str(g.get("gate")) for g in gates if not g.get("passed")]
        detail = f" (failed: {', '.join(failed)})" if failed else ""
        return [f"{label} did not pass its evaluation gates{detail}; promote a version that did"]
    by_name = {str(g.get("gate")): g for g in gates}
    gaps = []
    for gate in wanted:
        found = by_name.get(gate)
        if found is None:
            gaps.append(f"{label} was not evaluated on gate {gate!r}")
        elif not found.get("passed"):
            gaps.append(
                f"{label} failed gate {gate!r} ({found.get('detail') or found.get('value')})"
            )
    return gaps


def count_approvals(rules: list[ApprovalRule], approvers: dict[str, set[str]]) -> list[int]:
    """How many approvals each rule gets, when every approver counts for one rule only.

    A maximum matching of approvers to the rules' slots (augmenting paths), so the order in
    which people approved never matters: with ``[{count: 1}, {count: 1, roles: [platform]}]``
    a platform and a data approval satisfy both rules whoever came first. Slots of rules that
    ask for roles are tried first, so a shortfall lands on the rule anyone could fill.

    Args:
        rules: the policy's approval rules.
        approvers: each approver's roles (distinct people; the author already left out).

    Returns:
        The approvals counted per rule, in the order of ``rules``.
    """
    slots = [i for i, rule in enumerate(rules) for _ in range(rule.count)]
    order = sorted(range(len(slots)), key=lambda s: not rules[slots[s]].roles)
    holder: list[str | None] = [None] * len(slots)

    def fits(actor: str, slot: int) -> bool:
        wanted = rules[slots[slot]].roles
        return not wanted or bool(set(wanted) & approvers[actor])

    def place(actor: str, seen: set[int]) -> bool:
        for slot in order:
            if slot in seen or not fits(actor, slot):
                continue
            seen.add(slot)
            current = holder[slot]
            if current is None or place(current, seen):
                holder[slot] = actor
                return True
        return False

    for actor in approvers:
        place(actor, set())
    counts = [0] * len(rules)
    for slot, held in enumerate(holder):
        if held is not None:
            counts[slots[slot]] += 1
    return counts


def policy_gaps(
    conn: Connection, config: AssayConfig, mv: ModelVersion, target: str, actor: str, now: float
) -> list[str]:
    """Everything that stops ``mv`` from moving to ``target`` now (empty: it may move)."""
    policy = config.promotion.get(target)
    label = f"Model {mv.name!r} v{mv.version}"
    gaps: list[str] = []
    if policy is not None and config.team and _roles_of(config, actor) is None:
        gaps.append(f"{actor} is not a member of the team in assay.yaml; only members may promote")
    gaps += _gate_gaps(mv, policy)
    if policy is None:
        return gaps
    if policy.from_aliases and not set(policy.from_aliases) & set(mv.aliases):
        sources = " or ".join(policy.from_aliases)
        gaps.append(
            f"{label} is not in {sources}; {target} accepts versions only from {sources}; run: "
            f"assay models promote {mv.ref} --to {policy.from_aliases[0]}"
        )
    decisions = _approvals_in(conn, mv.name, mv.version, target, policy, now)
    live = [a for a in decisions if not a.expired and _roles_of(config, a.actor) is not None]
    for rejection in (a for a in live if a.decision == "reject"):
        why = f": {rejection.comment}" if rejection.comment else ""
        gaps.append(f"{label} was rejected for {target} by {rejection.actor}{why}")
    approvers = [
        a.actor for a in live
        if a.decision == "approve" and (policy.author_may_approve or a.actor != mv.author)
    ]
    filled = count_approvals(
        list(policy.approvals), {a: set(_roles_of(config, a) or []) for a in approvers}
    )
    expired = sum(1 for a in decisions if a.expired and a.decision == "approve")
    for rule, got in zip(policy.approvals, filled, strict=True):
        lacking = rule.count - got
        if lacking > 0:
            plural = "approval" if lacking == 1 else "approvals"
            notes = []
            if expired:
                notes.append(f"{expired} expired approval(s) no longer count")
            if not policy.author_may_approve:
                notes.append(f"the author {mv.author} may not approve")
            note = f" ({'; '.join(notes)})" if notes else ""
            gaps.append(
                f"{label} lacks {lacking} {plural} from {_roles_text(list(rule.roles))}{note}; "
                f"run: assay models approve {mv.ref} --for {target}"
            )
    return gaps


def _violation(mv: ModelVersion, target: str, gaps: list[str]) -> PolicyViolation:
    if len(gaps) == 1:
        message = gaps[0]
    else:
        message = f"Cannot promote {mv.ref} to {target}:\n" + "\n".join(f"  - {g}" for g in gaps)
    return PolicyViolation(message, model=mv.name, version=mv.version, alias=target, missing=gaps)


def check_promotion(
    store: Store, config: AssayConfig, ref: ModelRef | str, *, to: str, actor: str
) -> list[str]:
    """What stops ``ref`` from being promoted to ``to`` by ``actor`` (empty: nothing)."""
    check_alias(to)
    with store.read() as conn:
        mv = version_in(conn, ref)
        return policy_gaps(conn, config, mv, to, actor, time.time())


def promote(
    store: Store,
    config: AssayConfig,
    ref: ModelRef | str,
    *,
    to: str,
    actor: str,
    expected_revision: int | None = None,
) -> AliasMove:
    """Move alias ``to`` to the version ``ref`` names, if the ``promotion:`` policy allows it.

    Args:
        store: the metadata store.
        config: the project's assay.yaml (``team:`` and ``promotion:``).
        ref: ``NAME:VERSION`` (or ``NAME@ALIAS``, ``NAME`` for the latest).
        to: the target alias.
        actor: who promotes.
        expected_revision: the alias revision the decision was based on (0: the alias does not
            exist yet). Default: the revision seen when this call starts.

    Returns:
        The move, with the previous version.

    Raises:
        PolicyViolation: the policy refuses; the message lists exactly what is missing.
        ConcurrencyError: another promotion or rollback moved the alias first.
        RegistryError: unknown model or version, bad alias, or the version already holds it.

    Example:
        >>> promote(store, project.config, "churn:3", to="production", actor="ana@example.com")  # doctest: +SKIP
    """
    check_alias(to)
    ref = parse_ref(ref) if isinstance(ref, str) else ref
    if expected_revision is None:
        with store.read() as conn:
            _, expected_revision = alias_revision(conn, ref.name, to)
    with store.write() as conn:
        return promote_in(store, conn, config, ref, to=to, actor=actor,
                          expected_revision=expected_revision)


def promote_in(
    store: Store,
    conn: Connection,
    config: AssayConfig,
    ref: ModelRef | str,
    *,
    to: str,
    actor: str,
    expected_revision: int | None = None,
) -> AliasMove:
    """:func:`promote` inside ``conn``'s write transaction (a rollout records its start in the
    same transaction as the promotion that starts it).

    Raises:
        PolicyViolation, ConcurrencyError, RegistryError: as :func:`promote`.
    """
    check_alias(to)
    mv = version_in(conn, ref)
    if to in mv.aliases:
        raise RegistryError(
            f"{mv.ref} already holds alias {to!r}", model=mv.name, version=mv.version, alias=to
        )
    gaps = policy_gaps(conn, config, mv, to, actor, time.time())
    if gaps:
        raise _violation(mv, to, gaps)
    return move_alias(
        store, conn, name=mv.name, alias=to, version=mv.version,
        expected_revision=expected_revision, action="promote", actor=actor,
    )


def restore_alias_in(
    store: Store, conn: Connection, name: str, alias: str, *, version: int, actor: str
) -> AliasMove | None:
    """Point ``name@alias`` back at ``version`` inside ``conn``'s write transaction, recorded as
    a rollback (an automatic rollback needs no approvals); None if it already points there.

    Raises:
        RegistryError: no such model or version.
    """
    current, _ = alias_revision(conn, name, alias)
    if current == version:
        return None
    version_in(conn, ModelRef(name, version))
    return move_alias(store, conn, name=name, alias=alias, version=version,
                      expected_revision=None, action="rollback", actor=actor)


def _decide(
    store: Store,
    config: AssayConfig,
    ref: ModelRef | str,
    *,
    target: str,
    actor: str,
    decision: str,
    comment: str | None,
) -> Approval:
    check_alias(target)
    policy = config.promotion.get(target)
    if policy is None or not policy.approvals:
        guarded = sorted(a for a, p in config.promotion.items() if p.approvals)
        raise RegistryError(
            f"No promotion policy for alias {target!r} asks for approvals (aliases that do: "
            f"{', '.join(guarded) or 'none'}; see promotion: in assay.yaml)",
            alias=target,
        )
    roles = _roles_of(config, actor)
    verb = "approve" if decision == "approve" else "reject"
    now = time.time()
    with store.write() as conn:
        mv = version_in(conn, ref)
        if roles is None:
            raise PolicyViolation(
                f"{actor} is not a member of the team in assay.yaml, so cannot {verb} {mv.ref} "
                "for " + target + "; ask an admin to add you under team:",
                actor=actor, model=mv.name, version=mv.version,
            )
        # a member counts if some rule could use them: one rule open to any member is enough
        wanted = sorted({r for rule in policy.approvals for r in rule.roles})
        anyone = any(not rule.roles for rule in policy.approvals if rule.count > 0)
        if wanted and not anyone and not set(wanted) & set(roles):
            raise PolicyViolation(
                f"{actor} has role(s) {', '.join(roles) or 'none'}; to {verb} {mv.ref} for "
                f"{target} the policy needs {_roles_text(wanted)}",
                actor=actor, model=mv.name, version=mv.version,
            )
        if decision == "approve" and actor == mv.author and not policy.author_may_approve:
            raise PolicyViolation(
                f"{actor} is the author of {mv.ref} and the policy for {target} forbids approving "
                "one's own model; ask another member to approve",
                actor=actor, model=mv.name, version=mv.version,
            )
        for previous in _approvals_in(conn, mv.name, mv.version, target, policy, now):
            if previous.actor != actor:
                continue
            if not previous.expired:
                when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(previous.created_at))
                raise RegistryError(
                    f"{actor} already {previous.done} {mv.ref} for {target} ({when}); "
                    "a decision is recorded once",
                    actor=actor, model=mv.name, version=mv.version,
                )
            conn.execute(sql.DELETE_APPROVAL, {"name": mv.name, "version": mv.version,
                                               "target": target, "actor": actor})
        try:  # the same decision, made meanwhile by another process: this one is refused
            conn.execute(sql.INSERT_APPROVAL, {
                "name": mv.name, "version": mv.version, "target": target, "actor": actor,
                "roles": roles, "decision": decision, "comment": comment, "created_at": now})
        except ConstraintViolation:
            raise RegistryError(
                f"{actor} already decided on {mv.ref} for {target}", actor=actor
            ) from None
        store.record_event(
            "model.approved" if decision == "approve" else "model.rejected",
            mv.ref,
            {"name": mv.name, "version": mv.version, "target": target, "roles": roles,
             "comment": comment},
            actor=actor,
            conn=conn,
        )
    return Approval(mv.name, mv.version, target, actor, tuple(roles), decision, comment, now)


def approve(
    store: Store,
    config: AssayConfig,
    ref: ModelRef | str,
    *,
    target: str,
    actor: str,
    comment: str | None = None,
) -> Approval:
    """Approve ``ref`` for promotion to ``target``.

    Raises:
        PolicyViolation: the actor is not a member, lacks a role the policy asks for, or is the
            author where the policy forbids it.
        RegistryError: no policy for ``target`` asks for approvals, unknown version, or the
            actor already decided (an expired decision may be renewed).
    """
    return _decide(
        store, config, ref, target=target, actor=actor, decision="approve", comment=comment
    )


def reject(
    store: Store,
    config: AssayConfig,
    ref: ModelRef | str,
    *,
    target: str,
    actor: str,
    comment: str | None = None,
) -> Approval:
    """Reject ``ref`` for ``target``: while the rejection stands, promotion is refused.

    Raises:
        PolicyViolation: the actor is not a member or lacks a role the policy asks for.
        RegistryError: as for :func:`approve`.
    """
    return _decide(
        store, config, ref, target=target, actor=actor, decision="reject", comment=comment
    )


def approvals_for(store: Store, config: AssayConfig, ref: ModelRef | str) -> list[Approval]:
    """Every decision recorded on a version (expired ones marked), oldest first."""
    now = time.time()
    with store.read() as conn:
        mv = version_in(conn, ref)
        decisions = _approvals_in(conn, mv.name, mv.version, None, None, now)
        return [
            Approval(
                a.name, a.version, a.target, a.actor, a.roles, a.decision, a.comment,
                a.created_at, _is_expired(a.created_at, config.promotion.get(a.target), now),
            )
            for a in decisions
        ]


def rollback(
    store: Store, config: AssayConfig, name: str, alias: str, *, actor: str
) -> AliasMove:
    """Move ``name@alias`` back to the version that held it before the current one.

    Rollback is the emergency exit, so it needs no approvals; with a team in assay.yaml the
    actor must be a member.

    Raises:
        RegistryError: unknown model or alias, or no earlier version held the alias.
        PolicyViolation: a non-member rolling back a guarded alias.
        ConcurrencyError: the alias moved meanwhile.
    """
    check_alias(alias)
    with store.write() as conn:
        current, revision = require_alias(conn, name, alias)
        if config.team and alias in config.promotion and _roles_of(config, actor) is None:
            raise PolicyViolation(
                f"{actor} is not a member of the team in assay.yaml, so cannot roll back "
                f"{name}@{alias}",
                actor=actor, model=name, alias=alias,
            )
        target = rollback_target(history_in(conn, name, alias))
        if target is None:
            raise RegistryError(
                f"{name}@{alias} has no earlier version to roll back to (it holds v{current})",
                model=name, alias=alias,
            )
        version_in(conn, ModelRef(name, target))
        return move_alias(
            store, conn, name=name, alias=alias, version=target,
            expected_revision=revision, action="rollback", actor=actor,
        )
