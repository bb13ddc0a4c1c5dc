"""On a SQLite store a pipeline run records through plain sqlite3 (DirectStore): the schema it
creates is the one SQLAlchemy's create_all makes, the rows are the ones the full Store writes,
SQLAlchemy is never imported, and what it cannot handle goes to the full Store."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from assay.errors import StoreError
from assay.store import HEAD_REVISION, DirectStore, Store, open_run_store, open_store
from assay.store._sqlite_schema import STATEMENTS
from assay.store._tables import sqlite_ddl
from tests.conftest import TmpProject
from tests.data.test_fastpath import heavy, probe
from tests.pipeline.conftest import three_stages


def _master(db: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"
                            " ORDER BY type, name").fetchall()
    finally:
        conn.close()


def test_the_saved_schema_is_create_alls() -> None:
    assert tuple(sqlite_ddl()) == STATEMENTS, "run: python scripts/gen_sqlite_schema.py"


def test_a_store_created_directly_is_the_one_the_full_store_creates(tmp_path: Path) -> None:
    direct_db, full_db = tmp_path / "direct.db", tmp_path / "full.db"
    with DirectStore.open(f"sqlite:///{direct_db}") as direct:
        assert direct is not None
    with open_store(f"sqlite:///{full_db}") as full:
        full_id = full.instance_id()
    assert _master(direct_db) == _master(full_db)
    with open_store(f"sqlite:///{direct_db}") as again:  # the full store takes it as it is
        assert again.current_revision() == HEAD_REVISION
        assert len(again.instance_id()) == 32 and again.instance_id() != full_id


def test_what_needs_migrating_is_left_to_the_full_store(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    open_store(f"sqlite:///{db}").close()
    conn = sqlite3.connect(db)
    conn.execute("UPDATE alembic_version SET version_num = '0001'")
    conn.commit()
    conn.close()
    assert DirectStore.open(f"sqlite:///{db}") is None
    unstamped = tmp_path / "unstamped.db"
    conn = sqlite3.connect(unstamped)
    conn.execute("CREATE TABLE other (x)")
    conn.commit()
    conn.close()
    assert DirectStore.open(f"sqlite:///{unstamped}") is None
    assert isinstance(open_run_store(f"sqlite:///{unstamped}"), Store)
    assert DirectStore.open("sqlite://") is None  # in memory


def test_a_file_that_is_not_a_database_is_one_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "garbage.db"
    db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="not a database"):
        DirectStore.open(f"sqlite:///{db}")
    assert db.read_bytes() == b"this is not a database" * 100


def _rows(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(db)
    try:
        def q(sql: str) -> list[tuple[Any, ...]]:
            return sorted(conn.execute(sql).fetchall(), key=repr)

        runs = [(*r[:-1], sorted((json.loads(r[-1]) or {}).get("stages", {})))
                for r in q("SELECT kind, trigger, status, profile, git_commit, git_dirty, actor,"
                           " typeof(env_hash), typeof(started_at), exit_code, typeof(ended_at),"
                           " details FROM runs")]
        return {
            "runs": runs,
            "stage_runs": q('SELECT stage, "group", status, cache_key, cached, attempt,'
                            " exit_code, typeof(started_at), typeof(ended_at), details,"
                            " log_path IS NOT NULL FROM stage_runs"),
            "params": q("SELECT key, value FROM params"),
            "metrics": q("SELECT key, value, step, typeof(ts) FROM metrics"),
            "artifacts": q("SELECT path, hash, size, kind FROM artifacts"),
            "events": q("SELECT kind, actor, details, typeof(ts) FROM events"),
        }
    finally:
        conn.close()


def test_records_are_the_rows_the_full_store_writes(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import assay.store

    results = []
    for name, direct in (("direct", True), ("full", False)):
        project = TmpProject(tmp_path / name)
        project.root.mkdir()
        three_stages(project)
        with monkeypatch.context() as patch:
            if not direct:
                patch.setattr(assay.store, "open_run_store", open_store)
            first = project.invoke("run")
            second = project.invoke("run", "--force", "prep")
        assert (first.code, second.code) == (0, 0), first.output + second.output
        results.append(_rows(project.root / ".assay" / "assay.db"))
    direct_rows, full_rows = results
    assert direct_rows == full_rows
    assert len(direct_rows["stage_runs"]) == 5 and direct_rows["metrics"]


def test_a_cold_run_never_imports_sqlalchemy(tmp_project: TmpProject) -> None:
    three_stages(tmp_project)
    done = probe(tmp_project, "run")
    assert done.returncode == 0, done.stderr
    assert "sqlalchemy" not in heavy(done)
    conn = sqlite3.connect(tmp_project.root / ".assay" / "assay.db")
    statuses = [r[0] for r in conn.execute("SELECT status FROM runs")]
    conn.close()
    assert statuses == ["succeeded"]


def test_a_corrupt_store_stops_the_run_with_one_line(tmp_project: TmpProject) -> None:
    three_stages(tmp_project)
    (tmp_project.root / ".assay" / "assay.db").write_bytes(b"garbage" * 1000)
    done = tmp_project.run("run")
    assert done.returncode == 3
    assert done.stderr.count("\n") == 1 and "not a database" in done.stderr
    assert not (tmp_project.root / "assay.lock").exists()
    assert not (tmp_project.root / "runs.log").exists()
