from __future__ import annotations

import threading
from pathlib import Path

import pytest

from assay.errors import StoreError, UsageError
from assay.store import HEAD_REVISION, Store, open_store


def test_migrates_to_head_and_matches_metadata(store_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from assay.store.tables import metadata

    store = open_store(store_url)
    assert store.current_revision() == HEAD_REVISION
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    store.close()
    assert diff == []


def test_events_are_appended_in_order_with_actor(store_url: str) -> None:
    store = open_store(store_url)
    store.record_event("data.add", "churn", {"hash": "abc"}, actor="ana@example.com")
    store.record_event("data.push", "churn", {"objects": 3})
    events = store.events()
    store.close()
    assert [(e.kind, e.subject, e.actor, e.details) for e in events] == [
        ("data.add", "churn", "ana@example.com", {"hash": "abc"}),
        ("data.push", "churn", "tester@example.com", {"objects": 3}),
    ]
    assert events[0].ts <= events[1].ts


def test_event_family_filter(store_url: str) -> None:
    store = open_store(store_url)
    for kind in ("data.add", "data.push", "model.promote"):
        store.record_event(kind, "x")
    assert [e.kind for e in store.events(kind="data.")] == ["data.add", "data.push"]
    assert [e.kind for e in store.events(kind="model.promote")] == ["model.promote"]
    store.close()


def test_event_in_failed_transaction_is_not_kept(store_url: str) -> None:
    store = open_store(store_url)
    with pytest.raises(RuntimeError, match="boom"), store.write() as conn:
        store.record_event("data.add", "x", conn=conn)
        raise RuntimeError("boom")
    assert store.events() == []
    store.close()


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


def test_sqlite_uses_wal_and_foreign_keys(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    with store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    store.close()


def test_unreachable_postgres_is_one_clear_error() -> None:
    store = open_store("postgresql+psycopg://nobody@127.0.0.1:1/none", migrate=False)
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

    created = open_store(store_url)  # an empty database: create_all + stamp
    with created.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    created.close()
    if store_url.startswith("sqlite"):
        migrated_url = f"sqlite:///{tmp_path / 'migrated.db'}"
    else:
        from tests.conftest import _drop_postgres_database, _new_postgres_database

        migrated_url = _new_postgres_database()
    try:
        migrated = Store(migrated_url)
        migrated.migrate(via_migrations=True)
        assert migrated.current_revision() == HEAD_REVISION
        migrated.close()
        assert _schema(store_url) == _schema(migrated_url)
    finally:
        if not store_url.startswith("sqlite"):
            _drop_postgres_database(migrated_url)


def test_stamped_fresh_database_is_at_head_for_alembic(store_url: str) -> None:
    from alembic.migration import MigrationContext

    store = open_store(store_url)
    with store.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == HEAD_REVISION
    store.close()
    again = open_store(store_url)  # a second open finds HEAD and migrates nothing
    assert again.current_revision() == HEAD_REVISION
    again.close()


def test_a_non_empty_unversioned_database_goes_through_the_migrations(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY)")
    store = Store(f"sqlite:///{path}")
    with pytest.raises(StoreError, match=r"Migrating the metadata store .* failed"):
        store.migrate()  # not empty: no create_all over someone else's tables
    store.close()


def test_sqlite_connections_are_reused_across_transactions(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    seen = set()
    for _ in range(5):
        with store.write() as conn:
            seen.add(id(conn.connection.dbapi_connection))
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    store.close()
    assert len(seen) == 1


def test_every_store_has_its_own_stable_instance_id(store_url: str, tmp_path: Path) -> None:
    from assay.pipeline._aliases import STORE_ID_SQL
    from assay.store import INSTANCE_SQL

    assert STORE_ID_SQL == INSTANCE_SQL  # the fast path's copy of the query
    created = open_store(store_url)
    first = created.instance_id()
    created.close()
    assert open_store(store_url).instance_id() == first
    migrated = Store(f"sqlite:///{tmp_path / 'migrated.db'}")
    migrated.migrate(via_migrations=True)  # through 0002_store_identity
    other = migrated.instance_id()
    migrated.close()
    assert len(first) == len(other) == 32 and first != other


def test_a_deleted_instance_id_is_replaced_by_a_new_one(store_url: str) -> None:
    from sqlalchemy import text

    store = open_store(store_url)
    first = store.instance_id()
    with store.write() as conn:
        conn.execute(text("DELETE FROM store_info"))
    second = store.instance_id()
    assert second != first and store.instance_id() == second
    store.close()
