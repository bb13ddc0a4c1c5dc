"""Creating SQLAlchemy engines: SQLite tuned for concurrent local use, PostgreSQL as configured.

SQLite connections come from :func:`assay.store._sqlite.connect_sqlite` (the one place that
opens SQLite files), so the engine's pool and the plain ``sqlite3`` store share their settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assay.errors import StoreError, UsageError
from assay.store._sqlite import (
    SQLITE_BUSY_TIMEOUT_MS,
    connect_sqlite,
    is_sqlite,
    keep_reserve,
    sqlite_path,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

WRITE_OPTION = "assay_write"
# Pooled SQLite connections: opening one (and its PRAGMAs) costs more than a short write
# transaction, and a runner writes hundreds of them. Up to this many idle ones are kept.
SQLITE_POOL_SIZE = 4


def create_engine_for(url: str, *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout, foreign keys, BEGIN IMMEDIATE writes.

    SQLite connections are pooled (set up once, reused by later transactions of this engine);
    ``Store.close`` disposes of them.

    Raises:
        UsageError: the URL is not a supported database URL.
        StoreError: the driver for the URL is not installed.
    """
    from sqlalchemy import create_engine, event
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError
    from sqlalchemy.pool import QueuePool, StaticPool

    if is_sqlite(url):
        path = sqlite_path(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            keep_reserve(path)
            engine = create_engine(
                url, poolclass=QueuePool, pool_size=SQLITE_POOL_SIZE, max_overflow=16,
                creator=lambda: connect_sqlite(path, busy_timeout_ms=busy_timeout_ms))
        else:  # in memory: one database, so one connection
            engine = create_engine(
                url, poolclass=StaticPool,
                creator=lambda: connect_sqlite(":memory:", busy_timeout_ms=busy_timeout_ms))

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
