"""The stat cache: (path, inode, size, mtime_ns) -> object id, so unchanged files are never rehashed.

It lives in ``.assay/state.db`` (stdlib sqlite3 in WAL mode), separate from the metadata store,
which may be a shared PostgreSQL server. Reads and writes are batched: callers look up every path
they need in one query and record what they hashed in one transaction.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS state (
    path TEXT PRIMARY KEY,
    inode INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    oid TEXT NOT NULL
)
"""
_BATCH = 500


def _signature(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class StateDB:
    """The stat cache at ``path`` (created on first use).

    Example:
        >>> state = StateDB(project.state_dir / "state.db")
        >>> known = state.lookup({"/p/data/a.csv": os.stat("/p/data/a.csv")})
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 30000")
            with contextlib.suppress(sqlite3.OperationalError):
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(_SCHEMA)
            conn.commit()
            self._conn = conn
        return self._conn

    def close(self) -> None:
        """Close the connection (the object can be used again afterwards)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> StateDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def lookup(self, stats: Mapping[str, os.stat_result]) -> dict[str, str]:
        """The known object ids of the files in ``stats`` (absolute path -> its stat).

        Only entries whose inode, size and mtime_ns all still match are returned. Many paths
        under one folder are loaded with one range query.
        """
        if not stats:
            return {}
        rows: list[tuple[str, int, int, int, str]] = []
        with self._lock:
            try:
                rows = self._select(list(stats))
            except sqlite3.Error:
                return {}  # an optimisation: an unreadable stat cache means hashing again
        found: dict[str, str] = {}
        for path, inode, size, mtime_ns, oid in rows:
            st = stats.get(path)
            if st is not None and _signature(st) == (inode, size, mtime_ns):
                found[path] = oid
        return found

    def _select(self, paths: list[str]) -> list[tuple[str, int, int, int, str]]:
        conn = self._connect()
        if len(paths) > _BATCH:
            prefix = os.path.commonpath(paths)
            return conn.execute(
                "SELECT path, inode, size, mtime_ns, oid FROM state WHERE path >= ? AND path < ?",
                (prefix, prefix + "\U0010ffff"),
            ).fetchall()
        marks = ",".join("?" * len(paths))
        return conn.execute(
            f"SELECT path, inode, size, mtime_ns, oid FROM state WHERE path IN ({marks})", paths,
        ).fetchall()

    def get(self, path: str, st: os.stat_result) -> str | None:
        """The known object id of one file, or None."""
        return self.lookup({path: st}).get(path)

    def record(self, entries: Iterable[tuple[str, os.stat_result, str]]) -> None:
        """Remember (absolute path, stat, oid) for each entry, in one transaction."""
        values = [(path, *_signature(st), oid) for path, st, oid in entries]
        if not values:
            return
        with self._lock:
            try:
                conn = self._connect()
                with conn:
                    conn.executemany(
                        "INSERT OR REPLACE INTO state (path, inode, size, mtime_ns, oid) "
                        "VALUES (?, ?, ?, ?, ?)",
                        values,
                    )
            except sqlite3.Error:
                # The stat cache is an optimisation: failing to update it never fails a command.
                return
