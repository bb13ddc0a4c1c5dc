"""The metadata store: connections, schema migrations, and the append-only event log."""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay._identity import current_user
from assay.errors import StoreError
from assay.store._engine import (
    WRITE_OPTION,
    create_engine_for,
    free_reserve,
    is_disk_full,
    is_sqlite,
    sqlite_path,
    write_turn,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

HEAD_REVISION = "0003"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_PG_MIGRATION_LOCK = 0x61737361  # "assa"
_PROCESS_MIGRATION_LOCK = threading.Lock()
# The version table exactly as Alembic creates it (so later migrations upgrade from the stamp).
_ALEMBIC_VERSION_DDL = (
    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
    "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
)


_NEW_INSTANCE_SQL = "INSERT INTO store_info (key, value) VALUES ('instance_id', :v)"
# The same query in SQLAlchemy here and in plain sqlite3 in the pipeline's no-op fast path.
INSTANCE_SQL = "SELECT value FROM store_info WHERE key = 'instance_id'"


@dataclass(frozen=True)
class Event:
    """One audit record: who did what, when, to which subject."""

    id: int
    ts: float
    actor: str
    kind: str
    subject: str
    details: dict[str, Any]


def _inserted_id(result: Any) -> int:
    key = result.inserted_primary_key
    if key is None:
        raise StoreError("The store did not return the id of an inserted row")
    return int(key[0])


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages)."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


class Store:
    """A handle on the metadata store at ``url``. Cheap to create; connects on first use."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None
        self._migrated = False

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = create_engine_for(self.url)
        return self._engine

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions ---------------------------------------------------------------------

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite, in this thread's
        :func:`write_turn`); commits on success."""
        self.migrate()
        with write_turn(sqlite_path(self.url)), self._translate_errors():
            conn = self.engine.connect().execution_options(**{WRITE_OPTION: True})
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.close()

    def write_ending(self, work: Callable[[Connection], object]) -> None:
        """Run ``work`` in a write transaction that records how something ended (a run, a
        stage run). When a SQLite store's disk is full, the space reserved beside it
        (``<db>-reserve``) is freed and ``work`` runs once more, so a run can still be marked
        ended; the reserve comes back at a later open once there is room.

        Raises:
            StoreError: the transaction failed (also after freeing the reserve).
        """
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

    @contextlib.contextmanager
    def writer(self) -> Iterator[Callable[[], AbstractContextManager[Connection]]]:
        """One connection held for many short write transactions (a runner's records).

        Yields ``transaction``: each ``with transaction() as conn:`` is one write transaction
        (``BEGIN IMMEDIATE`` on SQLite), committed on success, like :meth:`write` but without
        taking a connection from the pool each time.
        """
        self.migrate()
        with self._translate_errors():
            held = self.engine.connect().execution_options(**{WRITE_OPTION: True})
        try:

            @contextlib.contextmanager
            def transaction() -> Iterator[Connection]:
                with write_turn(sqlite_path(self.url)), self._translate_errors(), held.begin():
                    yield held

            yield transaction
        finally:
            held.close()

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only snapshot."""
        self.migrate()
        with self._translate_errors():
            conn = self.engine.connect()
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.close()

    @contextlib.contextmanager
    def _translate_errors(self) -> Iterator[None]:
        from sqlalchemy.exc import IntegrityError, OperationalError

        try:
            yield
        except IntegrityError:
            raise
        except OperationalError as exc:
            reason = str(exc.orig).splitlines()[0] if exc.orig else str(exc)
            raise StoreError(
                f"Metadata store {redact(self.url)} failed: {reason}", url=redact(self.url),
                disk_full=is_disk_full(exc.orig),
            ) from exc

    # -- schema ---------------------------------------------------------------------------

    def instance_id(self) -> str:
        """This database's identity: a random id made when its schema was created (or migrated
        to revision 0002). A new store, such as a fresh clone's local SQLite file, has a new one.
        """
        from sqlalchemy import text

        with self.read() as conn:
            value = conn.execute(text(INSTANCE_SQL)).scalar()
        if value is None:  # only if someone deleted the row: make a new identity
            with self.write() as conn:
                value = conn.execute(text(INSTANCE_SQL)).scalar()
                if value is None:
                    value = uuid.uuid4().hex
                    conn.execute(text(_NEW_INSTANCE_SQL), {"v": value})
        return str(value)

    def current_revision(self) -> str | None:
        """The schema revision of the database (None if it has never been migrated)."""
        from sqlalchemy import text
        from sqlalchemy.exc import OperationalError, ProgrammingError

        try:
            with self.engine.connect() as conn:
                row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
                return str(row[0]) if row else None
        except (OperationalError, ProgrammingError) as exc:
            message = str(exc.orig or exc).lower()
            if "no such table" in message or "does not exist" in message:
                return None
            raise StoreError(
                f"Cannot reach the metadata store {redact(self.url)}: "
                f"{str(exc.orig or exc).strip().splitlines()[0]}",
                url=redact(self.url),
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
        from sqlalchemy import inspect, text

        from assay.store._tables import metadata

        with self._translate_errors():
            conn = self.engine.connect().execution_options(**{WRITE_OPTION: True})
            try:
                with conn.begin():
                    if inspect(conn).get_table_names():
                        return False
                    metadata.create_all(conn, checkfirst=False)
                    conn.execute(text(_ALEMBIC_VERSION_DDL))
                    conn.execute(
                        text("INSERT INTO alembic_version (version_num) VALUES (:v)"),
                        {"v": HEAD_REVISION},
                    )
                    conn.execute(text(_NEW_INSTANCE_SQL), {"v": uuid.uuid4().hex})
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
        from sqlalchemy import text

        with self.engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK})
                conn.commit()

    def _backup_before_migration(self, revision: str | None) -> None:
        path = sqlite_path(self.url)
        if revision is None or path is None or not path.exists():
            return
        backup = path.with_name(f"{path.name}.bak-{revision}-{int(time.time())}")
        with self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(FULL)")
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
                    f"Migrating the metadata store {redact(self.url)} failed: {exc}"
                ) from exc
            conn.commit()

    # -- events ---------------------------------------------------------------------------

    def record_event(
        self,
        kind: str,
        subject: str = "",
        details: dict[str, Any] | None = None,
        *,
        actor: str | None = None,
        conn: Connection | None = None,
        ts: float | None = None,
    ) -> int:
        """Append an event; inside ``conn``'s transaction when given. Returns its id."""
        from assay.store._tables import events

        values = {
            "ts": time.time() if ts is None else ts,
            "actor": actor or current_user(),
            "kind": kind,
            "subject": subject,
            "details": json.loads(json.dumps(details or {}, default=str)),
        }
        if conn is not None:
            return _inserted_id(conn.execute(events.insert().values(**values)))
        with self.write() as own:
            return _inserted_id(own.execute(events.insert().values(**values)))

    def events(
        self,
        *,
        kind: str | None = None,
        subject: str | None = None,
        since: float | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """Events, oldest first, filtered by kind (a prefix ending in '.' matches a family)."""
        from sqlalchemy import select

        from assay.store._tables import events

        query = select(events).order_by(events.c.id)
        if kind is not None:
            query = (
                query.where(events.c.kind.startswith(kind))
                if kind.endswith(".")
                else query.where(events.c.kind == kind)
            )
        if subject is not None:
            query = query.where(events.c.subject == subject)
        if since is not None:
            query = query.where(events.c.ts >= since)
        if limit is not None:
            query = query.limit(limit)
        with self.read() as conn:
            return [
                Event(
                    id=row.id,
                    ts=row.ts,
                    actor=row.actor,
                    kind=row.kind,
                    subject=row.subject,
                    details=dict(row.details or {}),
                )
                for row in conn.execute(query)
            ]


def open_store(url: str, *, migrate: bool = True) -> Store:
    """Open the store at ``url``, migrating it to the current schema unless told not to."""
    store = Store(url)
    if migrate:
        store.migrate()
    return store
