"""Creating engines: SQLite tuned for concurrent local use, PostgreSQL as configured."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import StoreError, UsageError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

SQLITE_BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "assay_write"
# Pooled SQLite connections: opening one (and its PRAGMAs) costs more than a short write
# transaction, and a runner writes hundreds of them. Up to this many idle ones are kept.
SQLITE_POOL_SIZE = 4


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def sqlite_path(url: str) -> Path | None:
    """The database file of a ``sqlite:///path`` URL (None for in-memory)."""
    if not url.startswith("sqlite:///"):
        return None
    raw = url[len("sqlite:///") :].split("?", 1)[0]
    return None if raw in ("", ":memory:") else Path(raw)


def configure_sqlite(conn: Any, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> None:
    """Set up a ``sqlite3`` connection as every assay writer uses it: BEGIN emitted by the
    caller, WAL, a busy timeout, foreign keys (the engine's pool and the direct writer alike)."""
    conn.isolation_level = None
    cursor = conn.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def create_engine_for(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout, foreign keys, BEGIN IMMEDIATE writes.

    SQLite connections are pooled (set up once, reused by later transactions of this engine);
    ``Store.close`` disposes of them.

    Raises:
        UsageError: the URL is not a supported database URL.
        StoreError: the driver for the URL is not installed.
    """
    from sqlalchemy import create_engine, event
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError
    from sqlalchemy.pool import QueuePool

    if is_sqlite(url):
        path = sqlite_path(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            poolclass=QueuePool,
            pool_size=SQLITE_POOL_SIZE,
            max_overflow=16,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            configure_sqlite(dbapi_conn)

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            # Writers take the write lock up front, so two writers queue on busy_timeout
            # instead of failing with "database is locked" on lock upgrade.
            mode = "IMMEDIATE" if conn.get_execution_options().get(WRITE_OPTION) else "DEFERRED"
            # straight to the driver: this runs for every transaction, and SQLAlchemy's own
            # execution path costs more than the BEGIN itself (COMMIT still goes through it)
            conn.connection.dbapi_connection.execute(f"BEGIN {mode}")

        return engine
    if url.startswith("postgresql"):
        try:
            return create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=4)
        except NoSuchModuleError:
            raise StoreError(
                f"No driver for {url.split('://')[0]}; install the postgres extra: "
                "pip install 'assay[postgres]'"
            ) from None
        except ModuleNotFoundError as exc:
            raise StoreError(
                f"PostgreSQL driver missing ({exc.name}); install: pip install 'assay[postgres]'"
            ) from None
        except ArgumentError as exc:
            raise UsageError(f"Invalid store URL {url!r}: {exc}") from None
    raise UsageError(
        f"Unsupported store URL {url!r}; use sqlite:///PATH or postgresql+psycopg://...",
        url=url,
    )
