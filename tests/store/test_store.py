"""The SQLAlchemy store's own duties: Alembic migrations (fresh and replayed), one migrator at
a time, its pooled SQLite connections, its errors for unreachable or unsupported stores."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from assay.errors import StoreError, UsageError
from assay.store import HEAD_REVISION, SqlAlchemyStore, open_store


def _migrated(url: str) -> SqlAlchemyStore:
    store = SqlAlchemyStore(url)
    store.migrate()
    return store


def test_migrates_to_head_and_matches_metadata(store_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from assay.store.tables import metadata

    store = _migrated(store_url)
    assert store.current_revision() == HEAD_REVISION
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    store.close()
    assert diff == []


def test_concurrent_writers_all_land(store_url: str) -> None:
    open_store(store_url).close()
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        store = open_store(store_url)
        try:
            for i in range(20):
                store.record_event("load", f"w{n}", {"i": i})
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store = open_store(store_url)
    assert len(store.events(kind="load")) == 120
    store.close()


def test_unreachable_postgres_is_one_clear_error() -> None:
    store = SqlAlchemyStore("postgresql+psycopg://nobody@127.0.0.1:1/none")
    with pytest.raises(StoreError, match=r"Cannot reach the metadata store postgresql\+psycopg://nobody:\*\*\*@127.0.0.1:1/none"):
        store.migrate()


def test_unsupported_url_is_usage_error() -> None:
    with pytest.raises(UsageError, match="Unsupported store URL 'mysql://x'"):
        open_store("mysql://x")


def _schema(store_url: str) -> dict[str, object]:
    """Every table's columns, keys, foreign keys, indexes and unique constraints."""
    from sqlalchemy import create_engine, inspect

    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            insp = inspect(conn)
            return {
                table: {
                    "columns": [(c["name"], str(c["type"]), c["nullable"], c.get("default"))
                                for c in insp.get_columns(table)],
                    "pk": insp.get_pk_constraint(table),
                    "fks": sorted(insp.get_foreign_keys(table), key=repr),
                    "indexes": sorted(insp.get_indexes(table), key=repr),
                    "unique": sorted(insp.get_unique_constraints(table), key=repr),
                }
                for table in sorted(insp.get_table_names())
            }
    finally:
        engine.dispose()


def test_fresh_schema_equals_the_migrated_schema(store_url: str, tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from assay.store.tables import metadata

    created = _migrated(store_url)  # an empty database: create_all + stamp
    with created.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    created.close()
    if store_url.startswith("sqlite"):
        migrated_url = f"sqlite:///{tmp_path / 'migrated.db'}"
    else:
        from tests.conftest import _drop_postgres_database, _new_postgres_database

        migrated_url = _new_postgres_database()
    try:
        migrated = SqlAlchemyStore(migrated_url)
        migrated.migrate(via_migrations=True)
        assert migrated.current_revision() == HEAD_REVISION
        migrated.close()
        assert _schema(store_url) == _schema(migrated_url)
    finally:
        if not store_url.startswith("sqlite"):
            _drop_postgres_database(migrated_url)


def test_stamped_fresh_database_is_at_head_for_alembic(store_url: str) -> None:
    from alembic.migration import MigrationContext

    store = _migrated(store_url)
    with store.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == HEAD_REVISION
    store.close()
    again = _migrated(store_url)  # a second open finds HEAD and migrates nothing
    assert again.current_revision() == HEAD_REVISION
    again.close()


def test_a_non_empty_unversioned_database_goes_through_the_migrations(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY)")
    store = SqlAlchemyStore(f"sqlite:///{path}")
    with pytest.raises(StoreError, match=r"Migrating the metadata store .* failed"):
        store.migrate()  # not empty: no create_all over someone else's tables
    store.close()


def test_sqlite_connections_are_reused_across_transactions(tmp_path: Path) -> None:
    from assay.store import Statement

    store = _migrated(f"sqlite:///{tmp_path / 'a.db'}")
    with store.write() as conn:  # a TEMP table lives as long as its connection
        conn.execute(Statement("CREATE TEMP TABLE this_connection (x INTEGER)"))
    seen = []
    for _ in range(5):
        with store.write() as conn:
            seen.append(conn.execute(Statement(
                "SELECT count(*) FROM sqlite_temp_master WHERE name = 'this_connection'"
            )).scalar())
            assert conn.execute(Statement("PRAGMA foreign_keys")).scalar() == 1
    store.close()
    assert seen == [1] * 5


def test_every_store_has_its_own_stable_instance_id(store_url: str, tmp_path: Path) -> None:
    created = open_store(store_url)
    first = created.instance_id()
    created.close()
    assert open_store(store_url).instance_id() == first
    migrated = SqlAlchemyStore(f"sqlite:///{tmp_path / 'migrated.db'}")
    migrated.migrate(via_migrations=True)  # through 0002_store_identity
    other = migrated.instance_id()
    migrated.close()
    assert len(first) == len(other) == 32 and first != other


