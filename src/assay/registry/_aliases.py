"""Moving aliases: one write transaction per move, an optimistic ``revision`` check, history.

Aliases move only through :func:`assay.registry.promote` and :func:`assay.registry.rollback`
(and an alias set at registration, which passes the same policy checks as a promotion). Each
move updates the alias row only if its ``revision`` is the one the caller decided on, so of two
promotions racing for one alias exactly one wins; the loser gets
:class:`~assay.errors.ConcurrencyError`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assay.errors import ConcurrencyError, ConstraintViolation, RegistryError
from assay.store import statements as sql

if TYPE_CHECKING:
    from assay.store import Connection, Store


@dataclass(frozen=True)
class AliasMove:
    """One move of an alias: promote, rollback or remove."""

    name: str
    alias: str
    version: int | None
    previous_version: int | None
    action: str
    actor: str
    ts: float
    revision: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "name": self.name,
            "alias": self.alias,
            "version": self.version,
            "previous_version": self.previous_version,
            "action": self.action,
            "actor": self.actor,
            "ts": self.ts,
            "revision": self.revision,
        }


def alias_revision(conn: Connection, name: str, alias: str) -> tuple[int | None, int]:
    """``(version, revision)`` of an alias; ``(None, 0)`` when it does not exist."""
    row = conn.execute(sql.ALIAS_REVISION, {"name": name, "alias": alias}).fetchone()
    return (None, 0) if row is None else (int(row[0]), int(row[1]))


def move_alias(
    store: Store,
    conn: Connection,
    *,
    name: str,
    alias: str,
    version: int,
    expected_revision: int | None,
    action: str,
    actor: str,
) -> AliasMove:
    """Point ``name@alias`` at ``version`` inside ``conn``'s write transaction.

    Args:
        expected_revision: the alias revision the caller decided on (0: the alias must not
            exist yet); ``None`` reads it inside this transaction.

    Raises:
        ConcurrencyError: the alias moved since ``expected_revision``.
    """
    previous, revision = alias_revision(conn, name, alias)
    if expected_revision is None:
        expected_revision = revision
    lost = ConcurrencyError(
        f"Alias {name}@{alias} moved while this {action} was decided (another promotion or "
        "rollback won); check with: assay models show "
        f"{name}@{alias}, then retry",
        model=name,
        alias=alias,
    )
    now = time.time()
    if expected_revision == 0:
        if previous is not None:
            raise lost
        try:  # another writer created it meanwhile: the transaction is lost, not retried
            conn.execute(sql.INSERT_ALIAS, {"name": name, "alias": alias, "version": version,
                                            "updated_at": now, "actor": actor})
        except ConstraintViolation:
            raise lost from None
        new_revision = 1
    else:
        moved = conn.execute(sql.MOVE_ALIAS, {
            "name": name, "alias": alias, "version": version, "revision": expected_revision,
            "updated_at": now, "actor": actor})
        if moved.rowcount != 1:
            raise lost
        new_revision = expected_revision + 1
        previous = previous if revision == expected_revision else None
    conn.execute(sql.INSERT_ALIAS_MOVE, {
        "name": name, "alias": alias, "version": version, "previous_version": previous,
        "action": action, "actor": actor, "ts": now})
    kind = {"promote": "model.promoted", "rollback": "model.rolled_back"}.get(action, action)
    store.record_event(
        kind,
        f"{name}@{alias}",
        {
            "name": name, "alias": alias, "version": version,
            "previous_version": previous, "revision": new_revision,
        },
        actor=actor,
        conn=conn,
    )
    return AliasMove(name, alias, version, previous, action, actor, now, new_revision)


def history_in(conn: Connection, name: str, alias: str | None = None) -> list[AliasMove]:
    """Moves of ``name``'s aliases (or one alias), oldest first."""
    return [
        AliasMove(name=name, alias=str(moved), version=version, previous_version=previous,
                  action=str(action), actor=str(actor), ts=float(ts))
        for moved, version, previous, action, actor, ts in conn.execute(
            *sql.alias_moves(name, alias))
    ]


def alias_history(store: Store, name: str, alias: str | None = None) -> list[AliasMove]:
    """Every move of ``name``'s aliases (or of one alias), oldest first."""
    with store.read() as conn:
        return history_in(conn, name, alias)


def rollback_target(moves: list[AliasMove]) -> int | None:
    """The version an alias returns to on rollback: the one that held it before the current.

    Promotions push onto a stack, rollbacks pop it, so rolling back twice walks two steps back
    instead of bouncing between the last two versions.
    """
    stack: list[int] = []
    for move in moves:
        if move.action == "promote" and move.version is not None:
            stack.append(move.version)
        elif move.action == "rollback":
            if stack:
                stack.pop()
            if move.version is not None and (not stack or stack[-1] != move.version):
                stack.append(move.version)
        elif move.action == "remove":
            stack = []
    return stack[-2] if len(stack) >= 2 else None


def require_alias(conn: Connection, name: str, alias: str) -> tuple[int, int]:
    """``(version, revision)`` of an existing alias.

    Raises:
        RegistryError: unknown alias (the message lists the model's aliases).
    """
    from assay.registry._versions import _aliases_of, version_in

    version_in(conn, name)  # the model must exist
    version, revision = alias_revision(conn, name, alias)
    if version is None:
        known = ", ".join(sorted(_aliases_of(conn, name))) or "none yet"
        raise RegistryError(
            f"Model {name!r} has no alias {alias!r} (aliases: {known})", model=name, alias=alias
        )
    return version, revision
