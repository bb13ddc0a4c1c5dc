"""Creating engines: SQLite tuned for concurrent local use, PostgreSQL as configured."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
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
# Disk held beside a SQLite store so that how a run ended can be recorded on a full disk: the
# few pages that mark a run and its stage runs ended (and their events) fit many times over.
RESERVE_BYTES = 256 * 1024
# PostgreSQL's SQLSTATE for "disk full"; SQLite says SQLITE_FULL
_PG_DISK_FULL = "53100"
_SQLITE_FULL = 13


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def sqlite_path(url: str) -> Path | None:
    """The database file of a ``sqlite:///path`` URL (None for in-memory)."""
    if not url.startswith("sqlite:///"):
        return None
    raw = url[len("sqlite:///") :].split("?", 1)[0]
    return None if raw in ("", ":memory:") else Path(raw)


def reserve_path(db: Path) -> Path:
    """The file that holds :data:`RESERVE_BYTES` of disk for the SQLite store ``db``."""
    return db.with_name(db.name + ".reserve")


def keep_reserve(db: Path) -> None:
    """Make sure the reserve beside ``db`` exists (best effort: on a full disk it waits for the
    next open). One ``stat`` when it is there already."""
    path = reserve_path(db)
    if path.exists():
        return
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            if hasattr(os, "posix_fallocate"):
                os.posix_fallocate(fd, 0, RESERVE_BYTES)  # blocks on disk, not a sparse file
            else:  # pragma: no cover - macOS
                os.write(fd, bytes(RESERVE_BYTES))
        finally:
            os.close(fd)
        os.replace(partial, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(partial)


def free_reserve(db: Path) -> bool:
    """Delete the reserve beside ``db`` (to record how a run ended on a full disk); False if
    there was none to free."""
    try:
        os.unlink(reserve_path(db))
    except OSError:
        return False
    return True


def is_disk_full(exc: BaseException | None) -> bool:
    """True when a driver error says the database's disk (or quota) is full."""
    import sqlite3

    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) == _SQLITE_FULL or (
            "disk is full" in str(exc))
    return getattr(exc, "sqlstate", None) == _PG_DISK_FULL


_TURNS = threading.local()  # this thread's turns: database path -> depth
_TURN_FDS: set[int] = set()  # lock files open in this process (closed in a forked child)
_TURN_FDS_LOCK = threading.Lock()


def _close_turns_in_child() -> None:
    for fd in list(_TURN_FDS):
        with contextlib.suppress(OSError):
            os.close(fd)  # a fork's copy must not keep the parent's turn
    _TURN_FDS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_turns_in_child)


def _wait_for_turn(fd: int, timeout: float) -> bool:
    """Block until this open file holds its ``flock``; False after ``timeout`` seconds. Unless
    it returns True, ``fd`` is released: now, or by the helper thread once the lock comes.

    ``flock`` has no timeout, so a contended wait runs in a helper thread that the caller can
    stop waiting for (also when interrupted).
    """
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        pass
    except BaseException:
        _release_turn_fd(fd)
        raise
    state = {"granted": False, "abandoned": False}
    guard = threading.Lock()

    def wait() -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            with guard:
                state["abandoned"] = True
            _release_turn_fd(fd)
            return
        with guard:
            if not state["abandoned"]:
                state["granted"] = True
                return
        _release_turn_fd(fd)  # the caller gave up meanwhile: pass the turn on

    helper = threading.Thread(target=wait, name="assay-store-turn", daemon=True)
    try:
        helper.start()
    except BaseException:
        _release_turn_fd(fd)
        raise
    try:
        helper.join(timeout)
    finally:
        with guard:
            state["abandoned"] = not state["granted"]
    return state["granted"]


def _release_turn_fd(fd: int) -> None:
    with _TURN_FDS_LOCK:
        _TURN_FDS.discard(fd)
    with contextlib.suppress(OSError):
        os.close(fd)  # releases the flock


@contextlib.contextmanager
def write_turn(db: Path | None, timeout: float = SQLITE_BUSY_TIMEOUT_MS / 1000) -> Iterator[None]:
    """This thread's turn to write the SQLite store ``db`` (nothing for other stores).

    Writers wait for their turn on an exclusive ``flock`` of ``<db>.write.lock``, which the
    kernel hands over the moment it is released; SQLite's own busy handler instead sleeps and
    retries (up to 100 ms a sleep), so under many writers a transaction could wait for seconds
    while others kept winning. A nested write in the same thread does not wait again.

    Raises:
        StoreError: another writer held its turn for ``timeout`` seconds.
    """
    if db is None:
        yield
        return
    depths: dict[str, int] = _TURNS.__dict__.setdefault("depths", {})
    key = str(db)
    if depths.get(key):
        depths[key] += 1
        try:
            yield
        finally:
            depths[key] -= 1
        return
    try:
        fd = os.open(db.with_name(db.name + ".write.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield  # a read-only folder: SQLite's own locking still applies
        return
    with _TURN_FDS_LOCK:
        _TURN_FDS.add(fd)
    if not _wait_for_turn(fd, timeout):  # fd is the helper thread's to release now
        raise StoreError(f"Metadata store {db} stayed busy for {timeout:g} s: another writer "
                         f"holds {db.name}.write.lock; retry when it is done", path=str(db))
    depths[key] = 1
    try:
        yield
    finally:
        depths[key] = 0
        _release_turn_fd(fd)


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
            keep_reserve(path)
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
