"""The one way to talk to the metadata store: a :class:`Store` gives transactions, each a
:class:`Connection` that runs :class:`~assay.store.statements.Statement` objects.

Two classes implement it, and :func:`assay.store.open_store` picks one:

- :class:`assay.store.SqliteStore`: a SQLite file at :data:`HEAD_REVISION`, through the standard
  library's ``sqlite3`` alone (importing SQLAlchemy costs 100-300 ms, more than a no-op run or
  a small ``data add`` spends on everything else);
- :class:`assay.store.SqlAlchemyStore`: PostgreSQL, and SQLite files that Alembic must create or
  migrate first.

Callers never learn which one they got. Every statement is in :mod:`assay.store.statements`;
JSON values are encoded and decoded here (:func:`encode_params`, :class:`Rows`), and driver
errors become :class:`~assay.errors.StoreError` (``disk_full=True`` when the disk or quota is
full) or :class:`~assay.errors.ConstraintViolation`, the same on every backend.
"""

from __future__ import annotations

import json
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from assay.store import statements as sql
from assay.store._sqlite import free_reserve, is_sqlite, sqlite_path

if TYPE_CHECKING:
    from assay.store.statements import Statement

HEAD_REVISION = "0006"
"""The schema revision this code writes (the newest Alembic migration)."""

# PostgreSQL's SQLSTATE for "disk full"; SQLite says SQLITE_FULL
_PG_DISK_FULL = "53100"
_SQLITE_FULL = 13


def encode_json(value: Any) -> str:
    """A JSON column's value as stored: the same text on every backend (values JSON cannot
    hold, such as timestamps, as their ``str``)."""
    return json.dumps(value, default=str)


def encode_params(statement: Statement, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """``params`` as bound: the statement's defaults for what they leave out, and its JSON
    parameters encoded (:func:`encode_json`)."""
    bound = {**statement.defaults, **params} if params else dict(statement.defaults)
    for name in statement.json_params:
        if name in bound:
            bound[name] = encode_json(bound[name])
    return bound


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages)."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


def is_disk_full(exc: BaseException | None) -> bool:
    """True when a driver error says the database's disk (or quota) is full."""
    import sqlite3

    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) == _SQLITE_FULL or (
            "disk is full" in str(exc))
    return getattr(exc, "sqlstate", None) == _PG_DISK_FULL


def failure_message(shown: str, reason: str, *, reading: bool) -> str:
    """The one-line message of a failed transaction on the store ``shown``."""
    if reading:
        return f"Reading the metadata store {shown} failed: {reason}"
    return f"Metadata store {shown} failed: {reason}"


class Rows:
    """What one statement returned: rows as tuples (JSON columns decoded), and for writes the
    number of rows they changed.

    Iterate it (rows come as they are read, so a loop may stop early), or take
    :meth:`fetchone`, :meth:`fetchall` or :meth:`scalar`.
    """

    def __init__(self, rows: Iterator[Sequence[Any]], *, columns: Sequence[str], rowcount: int,
                 json_columns: frozenset[str], json_as_text: bool) -> None:
        self.columns = tuple(columns)
        self.rowcount = rowcount
        """Rows an UPDATE or DELETE changed (-1 when the driver cannot say)."""
        decode = [i for i, name in enumerate(self.columns) if name in json_columns] \
            if json_as_text else []
        self._rows: Iterator[tuple[Any, ...]] = (
            _decoded(rows, decode) if decode else (tuple(row) for row in rows))

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return self._rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return next(self._rows, None)

    def fetchall(self) -> list[tuple[Any, ...]]:
        return list(self._rows)

    def scalar(self) -> Any:
        """The first column of the first row (None if there is no row)."""
        row = next(self._rows, None)
        return None if row is None else row[0]


def _decoded(rows: Iterable[Sequence[Any]], indexes: list[int]) -> Iterator[tuple[Any, ...]]:
    for row in rows:
        values = list(row)
        for i in indexes:
            if isinstance(values[i], str):
                values[i] = json.loads(values[i])
        yield tuple(values)


class Connection(Protocol):
    """One transaction of a :class:`Store` (from :meth:`Store.read` or :meth:`Store.write`)."""

    def execute(self, statement: Statement, params: Mapping[str, Any] | None = None) -> Rows:
        """Run one statement (JSON parameters given as Python values)."""
        ...

    def executemany(self, statement: Statement, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run one statement for each parameter mapping of ``rows`` (nothing if empty)."""
        ...


@dataclass(frozen=True)
class Event:
    """One audit record: who did what, when, to which subject."""

    id: int
    ts: float
    actor: str
    kind: str
    subject: str
    details: dict[str, Any]


class Store(ABC):
    """The metadata store at ``url``: transactions, the event log, the store's identity.

    Every method may raise :class:`~assay.errors.StoreError` (the store is unreachable,
    locked past its busy timeout, out of disk: ``disk_full=True``), and a write may raise
    :class:`~assay.errors.ConstraintViolation`. A transaction that raises is rolled back.

    Example::

        with open_store(url) as store, store.write() as conn:
            conn.execute(statements.INSERT_RUN, row)
            store.record_event("run.pipeline.started", row["id"], conn=conn)
    """

    url: str
    busy_timeout_ms: int

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    @abstractmethod
    def read(self) -> AbstractContextManager[Connection]:
        """A read transaction: every statement in it sees the same snapshot."""

    @abstractmethod
    def write(self) -> AbstractContextManager[Connection]:
        """A write transaction, committed when the block ends (on SQLite: this thread's
        :func:`~assay.store._sqlite.write_turn`, then ``BEGIN IMMEDIATE``)."""

    @abstractmethod
    def writer(self) -> AbstractContextManager[Callable[[], AbstractContextManager[Connection]]]:
        """One connection held for many short write transactions (a runner's records): each
        ``with transaction() as conn:`` of the yielded ``transaction`` is one :meth:`write`."""

    @abstractmethod
    def close(self) -> None:
        """Close the connections (the store opens them again when used)."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write_ending(self, work: Callable[[Connection], object]) -> None:
        """Run ``work`` in a write transaction that records how something ended (a run, a
        stage run). When a SQLite store's disk is full, the space reserved beside it
        (``<db>.reserve``) is freed and ``work`` runs once more, so a run can still be marked
        ended; the reserve comes back at a later open once there is room.

        Raises:
            StoreError: the transaction failed (also after freeing the reserve).
        """
        from assay.errors import StoreError

        try:
            with self.write() as conn:
                work(conn)
            return
        except StoreError as exc:
            path = sqlite_path(self.url)
            if not exc.fields.get("disk_full") or path is None or not free_reserve(path):
                raise
        with self.write() as conn:
            work(conn)

    def record_event(self, kind: str, subject: str = "", details: dict[str, Any] | None = None,
                     *, actor: str | None = None, conn: Connection | None = None,
                     ts: float | None = None) -> int:
        """Append an event; inside ``conn``'s transaction when given. Returns its id."""
        from assay._identity import current_user

        values = {"ts": time.time() if ts is None else ts, "actor": actor or current_user(),
                  "kind": kind, "subject": subject, "details": details or {}}
        if conn is not None:
            return int(conn.execute(sql.INSERT_EVENT, values).scalar())
        with self.write() as own:
            return int(own.execute(sql.INSERT_EVENT, values).scalar())

    def events(self, *, kind: str | None = None, subject: str | None = None,
               since: float | None = None, limit: int | None = None) -> list[Event]:
        """Events, oldest first, filtered by kind (a prefix ending in '.' matches a family)."""
        query = sql.events_query(kind=kind, subject=subject, since=since, limit=limit)
        with self.read() as conn:
            return [Event(id=int(i), ts=float(ts), actor=actor, kind=k, subject=s,
                          details=dict(details or {}))
                    for i, ts, actor, k, s, details in conn.execute(*query)]

    def instance_id(self) -> str:
        """This database's identity: a random id made when its schema was created (or migrated
        to revision 0002). A new store, such as a fresh clone's local SQLite file, has a new one.
        """
        with self.read() as conn:
            value = conn.execute(sql.INSTANCE_ID).scalar()
        if value is None:  # only if someone deleted the row: make a new identity
            with self.write() as conn:
                value = conn.execute(sql.INSTANCE_ID).scalar()
                if value is None:
                    value = uuid.uuid4().hex
                    conn.execute(sql.NEW_INSTANCE_ID, {"value": value})
        return str(value)
