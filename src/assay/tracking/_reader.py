"""Read snapshots of the run tables, cheap enough for a command-line process.

``assay runs list`` is a short process whose cost is mostly start-up, so it reads through
:func:`assay.store.open_store` opened read-only: a SQLite store at the current schema is read with
the standard library alone (no SQLAlchemy import), anything else through SQLAlchemy. One
snapshot is one read transaction, so every query of a command sees the same data.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from assay.store.statements import MAX_IN

if TYPE_CHECKING:
    from assay.store import Connection, Rows, Store
    from assay.store.statements import Statement


class RunReader:
    """One read snapshot of the store; close it (or use ``with``) when done.

    Example::

        with open_reader("sqlite:///.assay/assay.db") as db:
            rows = list_runs(db, metric_filters=[MetricFilter.parse("roc_auc>0.8")])
    """

    def __init__(self, store: Store, conn: Connection, stack: contextlib.ExitStack) -> None:
        self.store = store
        self._conn = conn
        self._stack = stack

    @property
    def url(self) -> str:
        return self.store.url

    def execute(self, statement: Statement, params: Mapping[str, Any] | None = None) -> Rows:
        """Run one query of :mod:`assay.store.statements` in this snapshot."""
        return self._conn.execute(statement, params)

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> RunReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        # the store's read() sees the exception: it rolls back and names the store on errors
        self._stack.__exit__(exc_type, exc, tb)


def open_reader(source: Store | str) -> RunReader:
    """A read snapshot of ``source`` (a store, or a store URL opened read-only).

    Raises:
        StoreError: the store cannot be reached or migrated.
        UsageError: the URL is not a supported store URL.
    """
    stack = contextlib.ExitStack()
    try:
        if isinstance(source, str):
            from assay.store import open_store

            store = stack.enter_context(open_store(source, read_only=True))
        else:
            store = source
        conn = stack.enter_context(store.read())
    except BaseException:
        stack.close()
        raise
    return RunReader(store, conn, stack)


@contextlib.contextmanager
def snapshot(source: Store | str | RunReader) -> Iterator[RunReader]:
    """``source`` itself when it is a reader already, else a new one closed afterwards."""
    if isinstance(source, RunReader):
        yield source
        return
    with open_reader(source) as reader:
        yield reader


def chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    """``values`` in pieces that one ``IN (...)`` list takes."""
    for start in range(0, len(values), MAX_IN):
        yield values[start : start + MAX_IN]
