"""SQLite files opened with the standard library: the one place in assay that calls
``sqlite3.connect``, and the settings every such connection gets.

Three kinds of SQLite file use it: the metadata store (:class:`assay.store.SqliteStore`, and the
SQLAlchemy engine's pool for the same file), the stat cache (``.assay/state.db``) and the run
cache index (``.assay/pipeline/keys.db``). All of them run in WAL mode with ``synchronous =
NORMAL`` (a crash never corrupts the file; the last transactions may be lost) and a busy timeout;
transactions are begun by the caller (``BEGIN IMMEDIATE`` for writes, so two writers queue on the
busy timeout instead of failing on lock upgrade). Read-only opens (``mode=ro``) serve the fast
checks that must never create or change a file.

Writers of the metadata store also take turns (:func:`write_turn`) and keep a little disk in
reserve beside it (:func:`keep_reserve`), so that how a run ended can be recorded on a full disk.
"""

from __future__ import annotations

import contextlib
import functools
import operator
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from assay.errors import StoreError

if TYPE_CHECKING:
    from assay.store.statements import Statement

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Disk held beside a SQLite store so that how a run ended can be recorded on a full disk: the
# few pages that mark a run and its stage runs ended (and their events) fit many times over.
RESERVE_BYTES = 256 * 1024


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def sqlite_path(url: str) -> Path | None:
    """The database file of a ``sqlite:///path`` URL (None for in-memory and other stores)."""
    if not url.startswith("sqlite:///"):
        return None
    raw = url[len("sqlite:///") :].split("?", 1)[0]
    return None if raw in ("", ":memory:") else Path(raw)


def connect_sqlite(path: Path | str, *, read_only: bool = False,
                   busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    """A connection to the SQLite file ``path`` (``":memory:"`` for a private in-memory one),
    set up by :func:`configure_sqlite`; ``read_only`` opens it ``mode=ro`` (it must exist, and
    nothing is written, not even the journal mode).

    The connection is in autocommit mode: the caller begins transactions itself
    (:func:`sqlite_transaction`). It may be used from other threads, one at a time.

    Raises:
        sqlite3.Error: the file cannot be opened (or, read-only, does not exist).
    """
    timeout = busy_timeout_ms / 1000
    if read_only:
        target = f"file:{quote(os.fspath(path))}?mode=ro"
        conn = sqlite3.connect(target, uri=True, timeout=timeout, isolation_level=None,
                               check_same_thread=False)
    else:
        conn = sqlite3.connect(path, timeout=timeout, isolation_level=None,
                               check_same_thread=False)
    try:
        configure_sqlite(conn, busy_timeout_ms, read_only=read_only)
    except BaseException:
        conn.close()
        raise
    return conn


def configure_sqlite(conn: sqlite3.Connection, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
                     *, read_only: bool = False) -> None:
    """Set up a ``sqlite3`` connection as every assay connection is: BEGIN emitted by the
    caller, a busy timeout, and (unless ``read_only``) WAL, ``synchronous = NORMAL`` and
    foreign keys."""
    conn.isolation_level = None
    cursor = conn.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if not read_only:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


@contextlib.contextmanager
def sqlite_transaction(conn: sqlite3.Connection, *, write: bool = True
                       ) -> Iterator[sqlite3.Connection]:
    """One transaction on an autocommit connection: ``BEGIN IMMEDIATE`` (``write``) or a
    deferred ``BEGIN`` (a read snapshot); committed when the block ends, rolled back if it
    raises. Driver errors propagate as ``sqlite3.Error`` for the caller to translate."""
    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # the body's error is the one to report
                conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise


def execute_many(conn: sqlite3.Connection, statement: Statement,
                 rows: Sequence[Mapping[str, Any]]) -> None:
    """Run ``statement`` once per parameter mapping of ``rows`` (already encoded).

    Bound by position: ``sqlite3`` binds a tuple faster than it looks names up in a mapping,
    which shows in a tracking flush of thousands of points or a stat cache update of thousands
    of files.
    """
    text, names = positional(statement.sql)
    if len(names) == 1:
        only = names[0]
        conn.executemany(text, [(row[only],) for row in rows])
        return
    values: Callable[[Mapping[str, Any]], Any] = operator.itemgetter(*names) if names \
        else (lambda row: ())
    conn.executemany(text, [values(row) for row in rows])


_PLACEHOLDER = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|(?<![:\w]):([A-Za-z_]\w*)""")


@functools.lru_cache(maxsize=256)
def positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """``sql`` with ``?`` for each ``:name`` (quoted text left alone), and the names in order
    (one per ``?``, so a name used twice is listed twice)."""
    names: list[str] = []

    def mark(match: re.Match[str]) -> str:
        if match.group(1) is None:
            return match.group(0)  # a string literal or a quoted identifier
        names.append(match.group(1))
        return "?"

    return _PLACEHOLDER.sub(mark, sql), tuple(names)


# -- the disk reserved beside a store ------------------------------------------------------


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


# -- write turns ---------------------------------------------------------------------------

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
