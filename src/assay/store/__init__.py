"""The metadata store: SQLAlchemy tables, transactions, Alembic migrations, the event log.

SQLite (WAL, busy timeout, ``BEGIN IMMEDIATE`` writes) at ``.assay/assay.db`` by default;
PostgreSQL when ``ASSAY_STORE_URL`` or ``store:`` in assay.yaml says ``postgresql+psycopg://``.
Tables live in :mod:`assay.store.tables`; import it only inside functions that need it, so the
CLI does not pay for SQLAlchemy at start-up.
"""

from __future__ import annotations

from assay.store._direct import DirectStore, open_run_store
from assay.store._engine import is_sqlite, sqlite_path
from assay.store._store import HEAD_REVISION, INSTANCE_SQL, Event, Store, open_store

RunStore = Store | DirectStore
"""What a pipeline run records into (see :func:`open_run_store`)."""

__all__ = ["HEAD_REVISION", "INSTANCE_SQL", "DirectStore", "Event", "RunStore", "Store", "is_sqlite",
           "open_run_store", "open_store", "sqlite_path"]
