"""The stat cache: (path, inode, size, mtime_ns) -> object id, so unchanged files are never rehashed.

It lives in ``.assay/state.db``, separate from the metadata store (which may be a shared
PostgreSQL server): a SQLite file opened as the store's files are
(:func:`assay.store._sqlite.connect_sqlite`: WAL, ``synchronous = NORMAL``), with its statements in
:mod:`assay.store.statements`. Reads and writes are batched: callers look up every path they need
in one query and record what they hashed in one transaction.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

from assay.store import statements as sql
from assay.store._sqlite import connect_sqlite, execute_many, sqlite_transaction

_BATCH = sql.MAX_IN


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
            conn = connect_sqlite(self.path)
            try:
                conn.execute(sql.STAT_CACHE_SCHEMA.sql)
            except BaseException:
                conn.close()
                raise
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
            return conn.execute(sql.STAT_CACHE_UNDER.sql,
                                {"low": prefix, "high": prefix + "\U0010ffff"}).fetchall()
        statement, params = sql.stat_cache_entries(paths)
        return conn.execute(statement.sql, params).fetchall()

    def get(self, path: str, st: os.stat_result) -> str | None:
        """The known object id of one file, or None."""
        return self.lookup({path: st}).get(path)

    def record(self, entries: Iterable[tuple[str, os.stat_result, str]]) -> None:
        """Remember (absolute path, stat, oid) for each entry, in one transaction."""
        values = [{"path": path, "inode": st.st_ino, "size": st.st_size,
                   "mtime_ns": st.st_mtime_ns, "oid": oid} for path, st, oid in entries]
        if not values:
            return
        with self._lock:
            try:
                with sqlite_transaction(self._connect()) as conn:
                    execute_many(conn, sql.PUT_STAT_CACHE_ENTRY, values)
            except sqlite3.Error:
                # The stat cache is an optimisation: failing to update it never fails a command.
                return
