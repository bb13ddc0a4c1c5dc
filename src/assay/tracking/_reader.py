"""Read snapshots of the run tables, cheap enough for a command-line process.

``assay runs list`` is a short process whose cost is mostly start-up: importing SQLAlchemy alone
takes longer than the query. So a SQLite store that is already at the current schema revision is
read with the standard library's ``sqlite3`` (read-only, one transaction, so every query of a
command sees the same snapshot). Anything else (PostgreSQL, a missing database, an older schema
that needs migrating) goes through :class:`assay.store.Store`. Queries are plain SQL with
``:name`` placeholders, which both paths accept, so there is one query text per question.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from assay.errors import StoreError

if TYPE_CHECKING:
    import sqlite3

    from assay.store import Store

Row = tuple[Any, ...]
Params = Mapping[str, Any]
_BUSY_TIMEOUT_S = 30.0
CHUNK = 500  # ids per IN (...) list


class RunReader:
    """One read-only snapshot of the store; close it (or use ``with``) when done.

    Example::

        with open_reader("sqlite:///.assay/assay.db") as db:
            rows = list_runs(db, metric_filters=[MetricFilter.parse("roc_auc>0.8")])
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._stack = contextlib.ExitStack()
        self._sqlite: sqlite3.Connection | None = None
        self._conn: Any = None  # a SQLAlchemy Connection on the Store path

    @property
    def is_plain_sqlite(self) -> bool:
        """True when reads go through ``sqlite3`` rather than SQLAlchemy."""
        return self._sqlite is not None

    def rows(self, sql: str, params: Params | None = None) -> list[Row]:
        """All rows of ``sql`` as tuples."""
        return list(self.iter(sql, params))

    def iter(self, sql: str, params: Params | None = None) -> Iterator[Row]:
        """Rows of ``sql`` one at a time (stop early without reading the rest)."""
        import sqlite3

        if self._sqlite is not None:
            cursor = self._sqlite.cursor()
            try:
                for row in cursor.execute(sql, dict(params or {})):
                    yield tuple(row)
            except sqlite3.Error as exc:
                raise StoreError(f"Reading the metadata store {self.url} failed: {exc}",
                                 url=self.url) from exc
            finally:
                cursor.close()  # also when the caller stops early
            return
        from sqlalchemy import text

        for row in self._conn.execute(text(sql), dict(params or {})):
            yield tuple(row)

    def _close_sqlite(self) -> None:
        import sqlite3

        if self._sqlite is not None:
            with contextlib.suppress(sqlite3.Error):
                self._sqlite.execute("ROLLBACK")
            self._sqlite.close()
            self._sqlite = None

    def close(self) -> None:
        self._close_sqlite()
        self._stack.close()

    def __enter__(self) -> RunReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._close_sqlite()
        # the store's read() sees the exception: it rolls back and names the store on errors
        self._stack.__exit__(exc_type, exc, tb)


def _open_plain_sqlite(url: str) -> sqlite3.Connection | None:
    """A read-only ``sqlite3`` connection inside a read transaction, or None if the store
    needs the full path (no file yet, or a schema revision other than the current one)."""
    import sqlite3

    from assay.store import HEAD_REVISION, sqlite_path

    path = sqlite_path(url)
    if path is None or not path.is_file():
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=_BUSY_TIMEOUT_S,
                               isolation_level=None)
    except sqlite3.Error:
        return None
    try:
        conn.execute("BEGIN")
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        conn.close()
        return None
    if row is None or str(row[0]) != HEAD_REVISION:
        conn.execute("ROLLBACK")
        conn.close()
        return None
    return conn


def open_reader(source: Store | str, *, allow_plain_sqlite: bool = True) -> RunReader:
    """A read snapshot of ``source`` (a store, or a store URL).

    Args:
        source: the store, or its URL (opened, and migrated if needed, only when the plain
            ``sqlite3`` path cannot serve it).
        allow_plain_sqlite: False always reads through SQLAlchemy.

    Raises:
        StoreError: the store cannot be reached or migrated.
        UsageError: the URL is not a supported store URL.
    """
    url = source if isinstance(source, str) else source.url
    reader = RunReader(url)
    reader._sqlite = _open_plain_sqlite(url) if allow_plain_sqlite else None
    if reader._sqlite is not None:
        return reader
    try:
        if isinstance(source, str):
            from assay.store import open_store

            store = reader._stack.enter_context(open_store(url))
        else:
            store = source
        reader._conn = reader._stack.enter_context(store.read())
    except BaseException:
        reader.close()
        raise
    return reader


@contextlib.contextmanager
def snapshot(source: Store | str | RunReader) -> Iterator[RunReader]:
    """``source`` itself when it is a reader already, else a new one closed afterwards."""
    if isinstance(source, RunReader):
        yield source
        return
    with open_reader(source) as reader:
        yield reader


def in_list(name: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """``(":name0, :name1", {"name0": ..., "name1": ...})`` for an ``IN (...)`` clause."""
    params = {f"{name}{i}": value for i, value in enumerate(values)}
    return ", ".join(f":{key}" for key in params), params


def chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]
