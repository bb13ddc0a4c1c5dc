"""The metadata store as a SQLite file at :data:`HEAD_REVISION`, through ``sqlite3`` alone.

Importing SQLAlchemy costs about as much as a ``data add`` of a 2 GiB file spends hashing it in
hardlink mode, a third of a 10,000-file add, and more than a no-op ``assay run`` spends on
everything else. So a SQLite store that needs no migrating is used through the standard
library: one connection (see :mod:`assay.store._sqlite` for its settings), ``BEGIN IMMEDIATE``
writes in this thread's write turn, and the same statements as every other store. A file that is
empty gets the HEAD schema here (the DDL SQLAlchemy would run, generated into
:mod:`assay.store._sqlite_schema`); one at another revision is left to
:class:`assay.store.SqlAlchemyStore`, which migrates it.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from assay.errors import ConstraintViolation, StoreError
from assay.store import statements as sql
from assay.store._protocol import (
    HEAD_REVISION,
    Connection,
    Rows,
    Store,
    encode_params,
    failure_message,
    is_disk_full,
)
from assay.store._sqlite import (
    SQLITE_BUSY_TIMEOUT_MS,
    connect_sqlite,
    execute_many,
    keep_reserve,
    sqlite_path,
    sqlite_transaction,
    write_turn,
)
from assay.store.statements import Statement


class SqliteConnection:
    """A transaction of a :class:`SqliteStore` (JSON columns hold ``json.dumps`` text, as
    SQLAlchemy's JSON type writes them on SQLite)."""

    __slots__ = ("_conn", "_reading", "_url")

    def __init__(self, conn: sqlite3.Connection, url: str, *, reading: bool) -> None:
        self._conn = conn
        self._url = url
        self._reading = reading

    def execute(self, statement: Statement, params: Mapping[str, Any] | None = None) -> Rows:
        bound = params if type(params) is dict and not statement.json_params and \
            not statement.defaults else encode_params(statement, params)
        try:
            cursor = self._conn.execute(statement.sql, bound)
            columns = [d[0] for d in cursor.description] if cursor.description else []
            rows: Iterator[Sequence[Any]]
            if statement.sql.startswith("SELECT"):
                rows = self._translating(cursor)  # read as the caller goes
            else:
                rows = iter(cursor.fetchall())  # RETURNING: done before the transaction ends
        except sqlite3.Error as exc:
            raise store_error(self._url, exc, reading=self._reading) from None
        return Rows(rows, columns=columns, rowcount=cursor.rowcount,
                    json_columns=statement.json_columns, json_as_text=True)

    def _translating(self, cursor: sqlite3.Cursor) -> Iterator[Sequence[Any]]:
        try:
            yield from cursor
        except sqlite3.Error as exc:
            raise store_error(self._url, exc, reading=self._reading) from None

    def executemany(self, statement: Statement, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        if statement.json_params or statement.defaults:
            rows = [encode_params(statement, row) for row in rows]
        try:
            execute_many(self._conn, statement, rows)
        except sqlite3.Error as exc:
            raise store_error(self._url, exc, reading=self._reading) from None


def store_error(url: str, exc: sqlite3.Error, *, reading: bool) -> StoreError:
    """The store's error for a ``sqlite3`` one: :class:`ConstraintViolation` for a broken
    constraint, else :class:`StoreError` (``disk_full`` when the disk is full)."""
    if isinstance(exc, sqlite3.IntegrityError):
        return ConstraintViolation(failure_message(url, str(exc), reading=False), url=url,
                                   reason=str(exc))
    return StoreError(failure_message(url, str(exc), reading=reading), url=url,
                      reason=str(exc), disk_full=is_disk_full(exc))


class SqliteStore(Store):
    """A SQLite store at :data:`HEAD_REVISION` used through ``sqlite3`` alone (no SQLAlchemy).

    Open it with :meth:`open` (or :func:`assay.store.open_store`), which says None for anything
    that needs :class:`assay.store.SqlAlchemyStore`. One connection serves every thread, one
    transaction at a time.
    """

    def __init__(self, url: str, path: Path, *, read_only: bool = False,
                 busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> None:
        self.url = url
        self.path = path
        self.read_only = read_only
        self.busy_timeout_ms = busy_timeout_ms
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.RLock()  # one transaction at a time on the connection

    @classmethod
    def open(cls, url: str, *, create: bool = True, read_only: bool = False,
             busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> SqliteStore | None:
        """The store at ``url`` when it is a SQLite file at HEAD (with ``create``, a missing or
        empty one gets the HEAD schema); None for PostgreSQL, in-memory databases, schemas
        that need migrating, and (without ``create``, or ``read_only``) missing or empty ones.

        Raises:
            StoreError: the file is not a database, or stays locked past the busy timeout.
        """
        path = sqlite_path(url)
        if path is None or ((read_only or not create) and not path.is_file()):
            return None
        store = cls(url, path, read_only=read_only, busy_timeout_ms=busy_timeout_ms)
        try:
            revision = store._revision_or_create(create and not read_only)
        except BaseException:
            store.close()
            raise
        if revision != HEAD_REVISION:
            store.close()
            return None
        return store

    def _revision_or_create(self, create: bool) -> str | None:
        """The schema revision; with ``create`` an empty database gets the HEAD schema first
        (one transaction, the same statements and stamp as the SQLAlchemy store's)."""
        with self.read() as conn:
            revision = _revision(conn)
        if revision is not None or not create:
            return None if revision is None else revision[0]
        from assay.store._sqlite_schema import STATEMENTS

        with self.write() as conn:
            revision = _revision(conn)  # another process may have created it meanwhile
            if revision is not None:
                return revision[0]
            for ddl in STATEMENTS:
                conn.execute(Statement(ddl))
            conn.execute(sql.ALEMBIC_VERSION_DDL)
            conn.execute(sql.STAMP_REVISION, {"revision": HEAD_REVISION})
            conn.execute(sql.NEW_INSTANCE_ID, {"value": uuid.uuid4().hex})
        return HEAD_REVISION

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            if not self.read_only:  # an OSError here (a file where the folder should be) is
                self.path.parent.mkdir(parents=True, exist_ok=True)  # the caller's to name
                keep_reserve(self.path)
            try:
                self._conn = connect_sqlite(self.path, read_only=self.read_only,
                                            busy_timeout_ms=self.busy_timeout_ms)
            except sqlite3.Error as exc:
                raise store_error(self.url, exc, reading=False) from None
        return self._conn

    @contextlib.contextmanager
    def _transaction(self, *, write: bool) -> Iterator[Connection]:
        with self._lock:
            conn = self._connection()
            if conn.in_transaction:
                raise StoreError(f"Metadata store {self.url}: a transaction was begun inside "
                                 "another one in the same thread", url=self.url)
            try:  # BEGIN and COMMIT: the statements translate their own errors
                with sqlite_transaction(conn, write=write):
                    yield SqliteConnection(conn, self.url, reading=not write)
            except sqlite3.Error as exc:
                raise store_error(self.url, exc, reading=not write) from None

    def read(self) -> AbstractContextManager[Connection]:
        return self._transaction(write=False)

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        if self.read_only:
            raise StoreError(f"Metadata store {self.url} was opened read-only", url=self.url)
        with write_turn(self.path, self.busy_timeout_ms / 1000), \
                self._transaction(write=True) as conn:
            yield conn

    @contextlib.contextmanager
    def writer(self) -> Iterator[Callable[[], AbstractContextManager[Connection]]]:
        yield self.write

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _revision(conn: Connection) -> tuple[str | None] | None:
    """``(revision,)`` of a stamped database (``(None,)`` if the stamp is empty), None if it
    has no version table (a new, empty file: the HEAD schema may be created; or someone
    else's tables: it is not ours)."""
    names = {row[0] for row in conn.execute(sql.SQLITE_TABLES)}
    if "alembic_version" not in names:
        return None if not names else (None,)
    value = conn.execute(sql.SCHEMA_REVISION).scalar()
    return (None if value is None else str(value),)
