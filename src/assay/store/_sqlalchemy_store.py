"""The metadata store through SQLAlchemy: PostgreSQL, and SQLite files that Alembic must create
or migrate first. Schema changes (Alembic migrations, one migrator at a time) live here.

This module imports SQLAlchemy; it is loaded only when a store needs it (see
:func:`assay.store.open_store`).

Statements run as SQLAlchemy ``text()`` (each built once), so they are the same text the plain
``sqlite3`` store runs; JSON parameters are bound as JSON text, which PostgreSQL casts to its JSON
type, and JSON columns come back decoded (by psycopg on PostgreSQL, by :class:`Rows` on SQLite).
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DBAPIError, IntegrityError

from assay.errors import ConstraintViolation, StoreError
from assay.store import statements as sql
from assay.store._engine import WRITE_OPTION, create_engine_for
from assay.store._protocol import (
    HEAD_REVISION,
    Connection,
    Rows,
    Store,
    encode_params,
    failure_message,
    is_disk_full,
    redact,
)
from assay.store._sqlite import SQLITE_BUSY_TIMEOUT_MS, sqlite_path, write_turn
from assay.store.statements import Statement

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection as CoreConnection
    from sqlalchemy.engine import Engine
    from sqlalchemy.sql.elements import TextClause

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_PG_MIGRATION_LOCK = 0x61737361  # "assa"
_PROCESS_MIGRATION_LOCK = threading.Lock()
def _text(statement: Statement) -> TextClause:
    """The statement as SQLAlchemy ``text()``, built once (SQLAlchemy caches it compiled)."""
    return _text_of(statement.sql)


@functools.lru_cache(maxsize=512)
def _text_of(sql: str) -> TextClause:
    from sqlalchemy import text

    return text(sql)


class SqlAlchemyConnection:
    """A transaction of a :class:`SqlAlchemyStore` (a SQLAlchemy ``Connection`` underneath)."""

    __slots__ = ("_conn", "_json_as_text", "_reading", "_shown")

    def __init__(self, conn: CoreConnection, shown: str = "", *, reading: bool = False) -> None:
        self._conn = conn
        self._shown = shown
        self._reading = reading
        self._json_as_text = conn.dialect.name == "sqlite"  # psycopg decodes JSON itself

    def execute(self, statement: Statement, params: Mapping[str, Any] | None = None) -> Rows:
        try:
            result = self._conn.execute(_text(statement), encode_params(statement, params))
            if not result.returns_rows:
                return Rows(iter(()), columns=(), rowcount=result.rowcount,
                            json_columns=statement.json_columns,
                            json_as_text=self._json_as_text)
            columns = list(result.keys())
            rows: Iterator[Sequence[Any]] = self._translating(result) \
                if statement.sql.startswith("SELECT") else iter(result.fetchall())
        except (DBAPIError, sqlite3.Error) as exc:
            raise store_error(self._shown, exc, reading=self._reading) from exc
        return Rows(rows, columns=columns, rowcount=result.rowcount,
                    json_columns=statement.json_columns, json_as_text=self._json_as_text)

    def _translating(self, result: Iterable[Sequence[Any]]) -> Iterator[Sequence[Any]]:
        try:
            yield from result
        except (DBAPIError, sqlite3.Error) as exc:
            raise store_error(self._shown, exc, reading=self._reading) from exc

    def executemany(self, statement: Statement, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        try:
            self._conn.execute(_text(statement), [encode_params(statement, r) for r in rows])
        except (DBAPIError, sqlite3.Error) as exc:
            raise store_error(self._shown, exc, reading=self._reading) from exc


def store_error(shown: str, exc: BaseException, *, reading: bool) -> StoreError:
    """The store's error for a driver error (wrapped by SQLAlchemy, or ``sqlite3``'s own from
    the engine's BEGIN): :class:`ConstraintViolation` for a broken constraint, else
    :class:`StoreError` (``disk_full`` when the disk or quota is full)."""
    reason = _reason(exc)
    if isinstance(exc, (IntegrityError, sqlite3.IntegrityError)):
        return ConstraintViolation(failure_message(shown, reason, reading=False), url=shown,
                                   reason=reason)
    return StoreError(failure_message(shown, reason, reading=reading), url=shown, reason=reason,
                      disk_full=is_disk_full(getattr(exc, "orig", None) or exc))


class SqlAlchemyStore(Store):
    """A handle on the metadata store at ``url``. Cheap to create; connects on first use, and
    migrates the schema to :data:`HEAD_REVISION` before the first transaction."""

    def __init__(self, url: str, *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> None:
        self.url = url
        self.busy_timeout_ms = busy_timeout_ms
        self._engine: Engine | None = None
        self._migrated = False
        self._shown = redact(url)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = create_engine_for(self.url, busy_timeout_ms=self.busy_timeout_ms)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    # -- transactions ---------------------------------------------------------------------

    def _turn(self) -> AbstractContextManager[None]:
        return write_turn(sqlite_path(self.url), self.busy_timeout_ms / 1000)

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        self.migrate()
        with self._translated(reading=True):
            conn = self.engine.connect()
            if not self.is_sqlite:  # one snapshot for the whole transaction, as on SQLite
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            try:
                with conn.begin():
                    yield SqlAlchemyConnection(conn, self._shown, reading=True)
            finally:
                conn.close()

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        with self._translated(reading=False):
            self.migrate()
            with self._turn():
                conn = self.engine.connect().execution_options(**{WRITE_OPTION: True})
                try:
                    with conn.begin():
                        yield SqlAlchemyConnection(conn, self._shown)
                finally:
                    conn.close()

    @contextlib.contextmanager
    def writer(self) -> Iterator[Callable[[], AbstractContextManager[Connection]]]:
        self.migrate()
        with self._translated(reading=False):
            held = self.engine.connect().execution_options(**{WRITE_OPTION: True})
        try:

            @contextlib.contextmanager
            def transaction() -> Iterator[Connection]:
                with self._turn(), self._translated(reading=False), held.begin():
                    yield SqlAlchemyConnection(held, self._shown)

            yield transaction
        finally:
            held.close()

    @contextlib.contextmanager
    def _translated(self, *, reading: bool) -> Iterator[None]:
        """Driver errors as :class:`StoreError` (``disk_full`` set when the disk is full), and
        constraint errors as :class:`ConstraintViolation`."""
        try:
            yield
        except (DBAPIError, sqlite3.Error) as exc:  # sqlite3's own: from the engine's BEGIN
            raise store_error(self._shown, exc, reading=reading) from exc

    # -- schema ---------------------------------------------------------------------------

    def current_revision(self) -> str | None:
        """The schema revision of the database (None if it has never been migrated)."""
        from sqlalchemy.exc import OperationalError, ProgrammingError

        try:
            with self.engine.connect() as conn:
                return _scalar_str(conn.execute(_text(sql.SCHEMA_REVISION)).first())
        except (OperationalError, ProgrammingError) as exc:
            message = str(exc.orig or exc).lower()
            if "no such table" in message or "does not exist" in message:
                return None
            raise StoreError(
                f"Cannot reach the metadata store {self._shown}: "
                f"{str(exc.orig or exc).strip().splitlines()[0]}",
                url=self._shown,
            ) from None

    def migrate(self, *, via_migrations: bool = False) -> None:
        """Bring the schema to HEAD_REVISION: one migrator at a time, a backup first on SQLite.

        An empty database gets the current schema in one transaction (``create_all`` plus the
        Alembic stamp), which skips importing Alembic and replaying every migration; a test
        checks that both give the same schema. ``via_migrations`` replays them anyway.
        """
        if self._migrated:
            return
        if self.current_revision() == HEAD_REVISION:
            self._migrated = True
            return
        # Alembic's environment is process-global: one migrator per process, then one per
        # database (file lock / advisory lock) across processes.
        with _PROCESS_MIGRATION_LOCK, self._migration_lock():
            revision = self.current_revision()
            if revision != HEAD_REVISION and (
                revision is not None or via_migrations or not self._create_fresh()
            ):
                self._backup_before_migration(revision)
                self._run_alembic_upgrade()
        self._migrated = True

    def _create_fresh(self) -> bool:
        """Create the HEAD schema in an empty database and stamp it; False if not empty."""
        from sqlalchemy import inspect

        from assay.store._tables import metadata

        with self._translated(reading=False):
            conn = self.engine.connect().execution_options(**{WRITE_OPTION: True})
            try:
                with conn.begin():
                    if inspect(conn).get_table_names():
                        return False
                    metadata.create_all(conn, checkfirst=False)
                    conn.execute(_text(sql.ALEMBIC_VERSION_DDL))
                    conn.execute(_text(sql.STAMP_REVISION), {"revision": HEAD_REVISION})
                    conn.execute(_text(sql.NEW_INSTANCE_ID), {"value": uuid.uuid4().hex})
            finally:
                conn.close()
        return True

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        if self.is_sqlite:
            from filelock import FileLock

            path = sqlite_path(self.url)
            lock_path = (path.parent / (path.name + ".migrate.lock")) if path else None
            if lock_path is None:
                yield
                return
            with FileLock(str(lock_path), timeout=120):
                yield
            return
        with self.engine.connect() as conn:
            conn.execute(_text(sql.MIGRATION_LOCK), {"key": _PG_MIGRATION_LOCK})
            try:
                yield
            finally:
                conn.execute(_text(sql.MIGRATION_UNLOCK), {"key": _PG_MIGRATION_LOCK})
                conn.commit()

    def _backup_before_migration(self, revision: str | None) -> None:
        path = sqlite_path(self.url)
        if revision is None or path is None or not path.exists():
            return
        backup = path.with_name(f"{path.name}.bak-{revision}-{int(time.time())}")
        with self.engine.connect() as conn:
            conn.execute(_text(sql.WAL_CHECKPOINT))
        shutil.copy2(path, backup)

    def _run_alembic_upgrade(self) -> None:
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        with self.engine.connect() as conn:
            cfg.attributes["connection"] = conn
            try:
                command.upgrade(cfg, "head")
            except Exception as exc:  # alembic raises many types; all mean the same here
                raise StoreError(
                    f"Migrating the metadata store {self._shown} failed: {exc}"
                ) from exc
            conn.commit()


def _reason(exc: BaseException) -> str:
    """The driver's own first line (not the statement and parameters SQLAlchemy appends)."""
    orig = getattr(exc, "orig", None)
    lines = str(orig if orig is not None else exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _scalar_str(row: Any) -> str | None:
    return None if row is None or row[0] is None else str(row[0])
