"""``open_store(url)``: the one way to get a :class:`~assay.store.Store`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay.store._sqlite import SQLITE_BUSY_TIMEOUT_MS, sqlite_path

if TYPE_CHECKING:
    from assay.store._protocol import Store


def open_store(url: str, *, read_only: bool = False,
               busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> Store:
    """The store at ``url``, at the current schema.

    A SQLite file at :data:`~assay.store.HEAD_REVISION` (or a new, empty one, which gets the
    HEAD schema) is a :class:`~assay.store.SqliteStore`, used without importing SQLAlchemy.
    Anything else (PostgreSQL, a SQLite file at another revision, in memory) is a
    :class:`~assay.store.SqlAlchemyStore`, migrated first.

    Args:
        url: ``sqlite:///PATH`` or ``postgresql+psycopg://...``.
        read_only: open a SQLite file ``mode=ro`` (its writes raise StoreError); a file that
            does not exist yet is created (through SQLAlchemy) as for a writer.
        busy_timeout_ms: how long a SQLite writer waits for its turn and for the file's lock.

    Raises:
        StoreError: the store cannot be reached or migrated, or the file is not a database.
        UsageError: the URL is not a supported store URL.
    """
    if sqlite_path(url) is not None:
        from assay.store._sqlite_store import SqliteStore

        plain = SqliteStore.open(url, read_only=read_only, busy_timeout_ms=busy_timeout_ms)
        if plain is not None:
            return plain
    from assay.store._sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(url, busy_timeout_ms=busy_timeout_ms)
    try:
        store.migrate()
    except BaseException:
        store.close()
        raise
    return store
