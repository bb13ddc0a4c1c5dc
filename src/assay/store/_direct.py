"""Plain ``sqlite3`` write transactions for short commands on a SQLite store.

Importing SQLAlchemy costs about as much as a ``data add`` of a 2 GiB file spends hashing it in
hardlink mode, and a third of a 10,000-file add. So the few statements such a command writes go
straight to the driver when the store is a SQLite file already at :data:`HEAD_REVISION`, with
the engine's own PRAGMAs and ``BEGIN IMMEDIATE``. Anything else (PostgreSQL, no database file
yet, another schema revision that needs migrating) gets None, and the caller uses
:class:`assay.store.Store`. Statements are plain SQL with ``:name`` placeholders, which both
paths accept, so each statement text exists once (see :func:`execute`).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from assay._identity import current_user
from assay.errors import StoreError
from assay.store._engine import (
    SQLITE_BUSY_TIMEOUT_MS,
    configure_sqlite,
    free_reserve,
    is_disk_full,
    is_sqlite,
    keep_reserve,
    sqlite_path,
    write_turn,
)
from assay.store._store import HEAD_REVISION, Store, redact

EVENT_SQL = (
    "INSERT INTO events (ts, actor, kind, subject, details) "
    "VALUES (:ts, :actor, :kind, :subject, :details)"
)


@contextlib.contextmanager
def direct_sqlite_write(url: str) -> Iterator[sqlite3.Connection | None]:
    """One write transaction on ``url`` through ``sqlite3``, committed on success; None when
    the store needs the full :class:`Store` path (no database file yet, no schema, another
    revision, not SQLite).

    Raises:
        StoreError: the database is locked past the busy timeout, the disk is full, or the file
            is not a database; the transaction is rolled back.
    """
    path = sqlite_path(url)
    store = DirectStore.open(url, create=False) if path is not None and path.is_file() else None
    if store is None:
        yield None
        return
    with store, store.write() as conn:
        yield conn


def execute(conn: Any, sql: str, params: Mapping[str, Any]) -> Any:
    """Run one ``:name``-placeholder statement on either path; returns the cursor or result.

    ``conn`` is a ``sqlite3.Connection`` from :func:`direct_sqlite_write` or a SQLAlchemy
    connection from :meth:`Store.write`.
    """
    if isinstance(conn, sqlite3.Connection):
        return conn.execute(sql, dict(params))
    from sqlalchemy import text

    return conn.execute(text(sql), dict(params))


class DirectStore:
    """A SQLite store at :data:`HEAD_REVISION` used through ``sqlite3`` alone (no SQLAlchemy).

    The pipeline runner records a run in a few dozen short transactions; on SQLite it uses this
    instead of :class:`assay.store.Store` (whose import alone costs a third of a cold 200-stage
    run). Transactions yield a ``sqlite3.Connection``; statements use ``:name`` placeholders.
    JSON columns hold ``json.dumps`` text, as SQLAlchemy's JSON type writes on SQLite. Open it
    with :meth:`open`, which says None for anything that needs the full store.
    """

    is_sqlite = True

    def __init__(self, url: str, path: Path) -> None:
        self.url = url
        self.path = path
        self._shown = redact(url)
        self._conn: sqlite3.Connection | None = None

    @classmethod
    def open(cls, url: str, *, create: bool = True) -> DirectStore | None:
        """The store at ``url`` when it is a SQLite file at HEAD (with ``create``, a missing or
        empty one gets the HEAD schema); None for PostgreSQL, in-memory databases, schemas
        that need migrating, and (without ``create``) empty databases.

        Raises:
            StoreError: the file is not a database, or stays locked past the busy timeout.
        """
        path = sqlite_path(url)
        if path is None:
            return None
        store = cls(url, path)
        try:
            revision = store._revision_or_create(create)
        except BaseException:
            store.close()
            raise
        if revision != HEAD_REVISION:
            store.close()
            return None
        return store

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                keep_reserve(self.path)
                conn = sqlite3.connect(self.path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
                                       isolation_level=None, check_same_thread=False)
                configure_sqlite(conn, SQLITE_BUSY_TIMEOUT_MS)
            except (OSError, sqlite3.Error) as exc:
                raise StoreError(f"Metadata store {self._shown} failed: {exc}",
                                 url=self._shown) from None
            self._conn = conn
        return self._conn

    def _revision_or_create(self, create: bool) -> str | None:
        """The schema revision; with ``create`` an empty database gets the HEAD schema first
        (one transaction, the same statements and stamp as :meth:`Store._create_fresh`)."""
        from assay.store._sqlite_schema import STATEMENTS
        from assay.store._store import _ALEMBIC_VERSION_DDL, _NEW_INSTANCE_SQL

        with self.write() as conn:
            names = {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "alembic_version" in names:
                row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
                return str(row[0]) if row else None
            if names or not create:
                return None  # tables but no stamp, or not ours to create: the full store
            for statement in STATEMENTS:
                conn.execute(statement)
            conn.execute(_ALEMBIC_VERSION_DDL)
            conn.execute("INSERT INTO alembic_version (version_num) VALUES (:v)",
                         {"v": HEAD_REVISION})
            conn.execute(_NEW_INSTANCE_SQL, {"v": uuid.uuid4().hex})
        return HEAD_REVISION

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> DirectStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``), committed on success.

        Raises:
            StoreError: locked past the busy timeout, disk full, not a database (rolled back).
        """
        with write_turn(self.path), self._transaction() as conn:
            yield conn

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"Metadata store {self._shown} failed: {exc}",
                             url=self._shown, disk_full=is_disk_full(exc)) from None
        try:
            yield conn
            conn.execute("COMMIT")
        except sqlite3.IntegrityError:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"Metadata store {self._shown} failed: {exc}",
                             url=self._shown, disk_full=is_disk_full(exc)) from None
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    read = write
    """Reads take the same short transaction (a runner reads once, at its start)."""

    def write_ending(self, work: Callable[[sqlite3.Connection], object]) -> None:
        """Like :meth:`Store.write_ending`: on a full disk, free the reserve and try again."""
        try:
            with self.write() as conn:
                work(conn)
            return
        except StoreError as exc:
            if not exc.fields.get("disk_full") or not free_reserve(self.path):
                raise
        with self.write() as conn:
            work(conn)

    @contextlib.contextmanager
    def writer(self) -> Iterator[Callable[[], AbstractContextManager[sqlite3.Connection]]]:
        """Like :meth:`Store.writer`: each ``with transaction() as conn:`` is one write."""
        yield self.write

    def record_event(self, kind: str, subject: str = "", details: dict[str, Any] | None = None,
                     *, actor: str | None = None, conn: sqlite3.Connection | None = None,
                     ts: float | None = None) -> int:
        """Append an event, as :meth:`Store.record_event` does."""
        values = {"ts": time.time() if ts is None else ts, "actor": actor or current_user(),
                  "kind": kind, "subject": subject,
                  "details": json.dumps(details or {}, default=str)}
        if conn is not None:
            return int(conn.execute(EVENT_SQL, values).lastrowid or 0)
        with self.write() as own:
            return int(own.execute(EVENT_SQL, values).lastrowid or 0)


def open_run_store(url: str) -> Store | DirectStore:
    """The store a pipeline run records into: :class:`DirectStore` for a SQLite file at HEAD
    (or a new one), else the full :class:`Store` (PostgreSQL, or a schema to migrate)."""
    direct = DirectStore.open(url) if is_sqlite(url) else None
    if direct is not None:
        return direct
    from assay.store._store import open_store

    return open_store(url)
