"""The schema is defined once (SQLAlchemy tables + Alembic); the SQLite DDL that stores created
without SQLAlchemy run is generated from it, and ``open_store`` picks the implementation."""

from __future__ import annotations

import ast
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from assay.errors import StoreError
from assay.store import HEAD_REVISION, SqlAlchemyStore, SqliteStore, open_store
from assay.store import _sqlite_schema as generated
from assay.store._tables import sqlite_ddl
from tests.store.old_schemas import undo_revision_0004

ROOT = Path(__file__).resolve().parents[2]


def _master(db: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"
                            " ORDER BY type, name").fetchall()
    finally:
        conn.close()


def test_the_generated_sqlite_schema_is_create_alls() -> None:
    assert tuple(sqlite_ddl()) == generated.STATEMENTS, "run: python scripts/gen_sqlite_schema.py"


def test_the_generated_module_names_the_test_that_checks_it() -> None:
    doc = " ".join((generated.__doc__ or "").split())
    named = next(word for word in doc.split() if word.startswith("tests/"))
    path, _, name = named.partition("::")
    tree = ast.parse((ROOT / path).read_text())
    tests = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert name in tests and name == test_the_generated_sqlite_schema_is_create_alls.__name__


def test_a_store_created_without_sqlalchemy_is_the_one_sqlalchemy_creates(
        tmp_path: Path) -> None:
    plain_db, alchemy_db = tmp_path / "plain.db", tmp_path / "alchemy.db"
    plain = SqliteStore.open(f"sqlite:///{plain_db}")
    assert plain is not None
    plain_id = plain.instance_id()
    plain.close()
    with SqlAlchemyStore(f"sqlite:///{alchemy_db}") as alchemy:
        alchemy.migrate()
        alchemy_id = alchemy.instance_id()
    assert _master(plain_db) == _master(alchemy_db)
    with SqlAlchemyStore(f"sqlite:///{plain_db}") as again:  # Alembic takes it as it is
        assert again.current_revision() == HEAD_REVISION
        assert again.instance_id() == plain_id != alchemy_id


def test_open_store_uses_plain_sqlite_only_for_a_file_at_the_current_schema(
        tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.db"
    with open_store(f"sqlite:///{fresh}") as store:
        assert isinstance(store, SqliteStore)  # a new file gets the HEAD schema directly
    old = tmp_path / "old.db"
    SqliteStore.open(f"sqlite:///{old}").close()  # type: ignore[union-attr]
    conn = sqlite3.connect(old)
    conn.execute("UPDATE alembic_version SET version_num = '0002'")
    conn.execute("ALTER TABLE metrics DROP COLUMN value_kind")  # as revision 0002 had it
    undo_revision_0004(conn)  # and the deployments table before revision 0004
    conn.commit()
    conn.close()
    assert SqliteStore.open(f"sqlite:///{old}") is None
    with open_store(f"sqlite:///{old}") as store:  # migrated by Alembic, after a backup
        assert isinstance(store, SqlAlchemyStore)
        assert store.current_revision() == HEAD_REVISION
    assert list(tmp_path.glob("old.db.bak-0002-*"))
    with open_store(f"sqlite:///{old}") as store:
        assert isinstance(store, SqliteStore)
    foreign = tmp_path / "foreign.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE other (x)")
    conn.commit()
    conn.close()
    assert SqliteStore.open(f"sqlite:///{foreign}") is None  # not ours to create a schema in
    assert SqliteStore.open("sqlite://") is None  # in memory
    assert SqliteStore.open(f"sqlite:///{tmp_path / 'missing.db'}", read_only=True) is None


def test_a_file_that_is_not_a_database_is_one_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "garbage.db"
    db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match=r"garbage\.db failed: file is not a database"):
        open_store(f"sqlite:///{db}")
    assert db.read_bytes() == b"this is not a database" * 100


def test_a_read_only_store_refuses_writes_and_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "assay.db"
    open_store(f"sqlite:///{db}").close()
    before = db.read_bytes()
    with open_store(f"sqlite:///{db}", read_only=True) as store:
        assert len(store.instance_id()) == 32
        with pytest.raises(StoreError, match="opened read-only"), store.write():
            pass
    assert db.read_bytes() == before
