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
import sqlite3
from collections.abc import Iterator, Mapping
from typing import Any

from assay.errors import StoreError
from assay.store._engine import SQLITE_BUSY_TIMEOUT_MS, configure_sqlite, sqlite_path
from assay.store._store import HEAD_REVISION, redact

EVENT_SQL = (
    "INSERT INTO events (ts, actor, kind, subject, details) "
    "VALUES (:ts, :actor, :kind, :subject, :details)"
)


@contextlib.contextmanager
def direct_sqlite_write(url: str) -> Iterator[sqlite3.Connection | None]:
    """One write transaction on ``url`` through ``sqlite3``, committed on success; None (and
    nothing opened) when the store needs the full :class:`Store` path.

    Raises:
        StoreError: the database is locked past the busy timeout, the disk is full, or the file
            is not a database; the transaction is rolled back.
    """
    path = sqlite_path(url)
    if path is None or not path.is_file():
        yield None
        return
    shown = redact(url)
    try:
        conn = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    except sqlite3.Error:
        yield None
        return
    try:
        try:
            configure_sqlite(conn, SQLITE_BUSY_TIMEOUT_MS)
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                row = None  # an empty file: the Store creates the schema
            else:
                raise StoreError(f"Metadata store {shown} failed: {exc}", url=shown) from None
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"Metadata store {shown} failed: {exc}", url=shown) from None
        if row is None or str(row[0]) != HEAD_REVISION:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            yield None
            return
        try:
            yield conn
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"Metadata store {shown} failed: {exc}", url=shown) from None
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()


def execute(conn: Any, sql: str, params: Mapping[str, Any]) -> Any:
    """Run one ``:name``-placeholder statement on either path; returns the cursor or result.

    ``conn`` is a ``sqlite3.Connection`` from :func:`direct_sqlite_write` or a SQLAlchemy
    connection from :meth:`Store.write`.
    """
    if isinstance(conn, sqlite3.Connection):
        return conn.execute(sql, dict(params))
    from sqlalchemy import text

    return conn.execute(text(sql), dict(params))
