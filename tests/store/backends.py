"""The store implementations the shared suite runs on: plain ``sqlite3``, SQLAlchemy on SQLite,
and SQLAlchemy on PostgreSQL (skipped without ``ASSAY_TEST_POSTGRES_URL``; CI always sets it)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from assay.store import SqlAlchemyStore, SqliteStore, Store
from tests.conftest import POSTGRES_URL, _drop_postgres_database, _new_postgres_database

IMPLEMENTATIONS = ["sqlite3", "sqlalchemy-sqlite", "sqlalchemy-postgres"]


@dataclass
class Backend:
    """One implementation on a fresh, empty database at ``url``."""

    name: str
    url: str

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @property
    def path(self) -> Path:
        return Path(self.url[len("sqlite:///"):])

    def open(self, *, busy_timeout_ms: int = 30_000) -> Store:
        """A new store object of this implementation (the schema is created on first use)."""
        if self.name == "sqlite3":
            store = SqliteStore.open(self.url, busy_timeout_ms=busy_timeout_ms)
            assert store is not None, "a new or current SQLite file is the plain store's"
            return store
        alchemy = SqlAlchemyStore(self.url, busy_timeout_ms=busy_timeout_ms)
        alchemy.migrate()
        return alchemy


def backend_for(name: str, folder: Path) -> Iterator[Backend]:
    """A fresh database of implementation ``name`` (dropped afterwards on PostgreSQL)."""
    if name != "sqlalchemy-postgres":
        yield Backend(name, f"sqlite:///{folder / 'store' / 'assay.db'}")
        return
    if not POSTGRES_URL:
        pytest.skip("no PostgreSQL: set ASSAY_TEST_POSTGRES_URL (CI always does)")
    url = _new_postgres_database()
    try:
        yield Backend(name, url)
    finally:
        _drop_postgres_database(url)
