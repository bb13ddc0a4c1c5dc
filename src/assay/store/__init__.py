"""The metadata store: one protocol (:class:`Store`), two implementations, every SQL statement.

``open_store(url)`` gives a :class:`Store`: :class:`SqliteStore` (``sqlite3`` alone) for a SQLite
file at :data:`HEAD_REVISION`, else :class:`SqlAlchemyStore` (PostgreSQL, or a SQLite file that
Alembic creates or migrates first). Callers use transactions (``store.read()``,
``store.write()``), whose :class:`Connection` runs statements from
:mod:`assay.store.statements`, and the event log; they never learn which store they got.

SQLite (WAL, busy timeout, ``BEGIN IMMEDIATE`` writes in turn) at ``.assay/assay.db`` by default;
PostgreSQL when ``ASSAY_STORE_URL`` or ``store:`` in assay.yaml says ``postgresql+psycopg://``.
The tables are defined once, in :mod:`assay.store.tables` (SQLAlchemy, with Alembic
migrations). Names load on first use, so the fast paths pay only for what they touch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay._lazy import lazy_attributes

if TYPE_CHECKING:
    from assay.store._opener import open_store
    from assay.store._protocol import (
        HEAD_REVISION,
        Connection,
        Event,
        Rows,
        Store,
    )
    from assay.store._sqlalchemy_store import SqlAlchemyStore
    from assay.store._sqlite import is_sqlite, sqlite_path
    from assay.store._sqlite_store import SqliteStore
    from assay.store.statements import Statement

_PROTOCOL = "assay.store._protocol"
_LAZY: dict[str, str] = {
    "HEAD_REVISION": _PROTOCOL,
    "Connection": _PROTOCOL,
    "Event": _PROTOCOL,
    "Rows": _PROTOCOL,
    "SqlAlchemyStore": "assay.store._sqlalchemy_store",
    "SqliteStore": "assay.store._sqlite_store",
    "Statement": "assay.store.statements",
    "Store": _PROTOCOL,
    "is_sqlite": "assay.store._sqlite",
    "open_store": "assay.store._opener",
    "sqlite_path": "assay.store._sqlite",
}

__all__ = ["HEAD_REVISION", "Connection", "Event", "Rows", "SqlAlchemyStore", "SqliteStore",
           "Statement", "Store", "is_sqlite", "open_store", "sqlite_path"]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__, globals())
