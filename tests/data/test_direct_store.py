"""`assay data add` writes its records with plain sqlite3 when the store is a SQLite file at the
current schema: the rows are the ones the SQLAlchemy path writes, SQLAlchemy is never imported,
and a broken database still ends in one clear line with nothing half-recorded."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from assay.config import Project
from assay.data import Workspace
from assay.errors import StoreError
from tests.conftest import TmpProject

PROBE = (
    "import atexit, sys\n"
    "atexit.register(lambda: sys.stderr.write('SQLA=%s\\n' % ('sqlalchemy' in sys.modules)))\n"
    "sys.argv = ['assay', *sys.argv[1:]]\n"
    "from assay._launcher import main\n"
    "main()\n"
)


def _rows(db: Path) -> tuple[list[Any], list[Any]]:
    conn = sqlite3.connect(db)
    try:
        versions = conn.execute(
            "SELECT id, name, path, hash, kind, size, nfiles, rows, schema, profile, git_commit,"
            " message, typeof(created_at) FROM dataset_versions ORDER BY id").fetchall()
        events = conn.execute(
            "SELECT id, actor, kind, subject, details, typeof(ts) FROM events"
            " WHERE kind = 'data.add' ORDER BY id").fetchall()
    finally:
        conn.close()
    return versions, events


def _add_all(project: TmpProject, *, direct: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Workspace, "direct_sqlite", direct)
    with Workspace(Project.load(project.root)) as ws:
        ws.add(project.root / "first.txt")  # creates the store: always the Store path
        ws.add(project.root / "table.csv", message="a table, profiled")
        (project.root / "first.txt").write_text("second version\n")
        ws.add(project.root / "first.txt")
        ws.add(project.root / "folder")


@pytest.fixture
def make_project(tmp_path: Path) -> Any:
    def make(name: str) -> TmpProject:
        root = tmp_path / name
        root.mkdir()
        project = TmpProject(root)
        project.gen({"assay.yaml": {"project": "direct"}, "first.txt": "first version\n",
                     "table.csv": "a,b\n1,x\n2,y\n", "folder/one.bin": b"\x01" * 100,
                     "folder/two.bin": b"\x02" * 200})
        return project
    return make


def test_direct_and_sqlalchemy_paths_write_the_same_rows(
    make_project: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    direct, full = make_project("direct"), make_project("full")
    _add_all(direct, direct=True, monkeypatch=monkeypatch)
    _add_all(full, direct=False, monkeypatch=monkeypatch)
    got, want = _rows(direct.root / ".assay" / "assay.db"), _rows(full.root / ".assay" / "assay.db")
    assert got == want
    versions, events = got
    assert [(v[1], v[7]) for v in versions] == [("first", None), ("table", 2), ("first", None),
                                                 ("folder", None)]
    assert '"version": 2' in events[2][4]


def test_a_second_add_does_not_import_sqlalchemy(tmp_project: TmpProject) -> None:
    tmp_project.gen({"a.bin": b"a" * 10, "b.bin": b"b" * 10})
    assert tmp_project.run("data", "add", "a.bin").returncode == 0  # creates the store
    done = subprocess.run([sys.executable, "-c", PROBE, "data", "add", "b.bin"],
                          cwd=tmp_project.root, env={**os.environ, **tmp_project.env},
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "SQLA=False" in done.stderr
    assert tmp_project.run("data", "log", "b").stdout.count("v1") == 1


def test_an_older_schema_goes_through_the_store(tmp_project: TmpProject) -> None:
    tmp_project.gen({"a.bin": b"a" * 10, "b.bin": b"b" * 10})
    assert tmp_project.run("data", "add", "a.bin").returncode == 0
    db = tmp_project.root / ".assay" / "assay.db"
    conn = sqlite3.connect(db)
    conn.execute("UPDATE alembic_version SET version_num = '0001'")
    conn.execute("DROP TABLE store_info")
    conn.commit()
    conn.close()
    assert tmp_project.run("data", "add", "b.bin").returncode == 0  # migrated, then recorded
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] != "0001"
    assert conn.execute("SELECT count(*) FROM dataset_versions").fetchone()[0] == 2
    conn.close()


def test_a_corrupt_database_is_one_line_and_writes_no_pointer(tmp_project: TmpProject) -> None:
    tmp_project.gen({"a.bin": b"a" * 10, "b.bin": b"b" * 10})
    assert tmp_project.run("data", "add", "a.bin").returncode == 0
    db = tmp_project.root / ".assay" / "assay.db"
    for extra in ("-wal", "-shm"):
        Path(f"{db}{extra}").unlink(missing_ok=True)
    db.write_bytes(b"this is not a database, but it is long enough to look like a header" * 20)
    done = tmp_project.run("data", "add", "b.bin")
    assert done.returncode != 0
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: ") and "assay.db" in line, line
    assert not (tmp_project.root / "b.bin.assay").exists()


def test_a_locked_database_raises_store_error_and_rolls_back(tmp_project: TmpProject,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    from assay.store import _direct

    tmp_project.gen({"a.bin": b"a" * 10})
    assert tmp_project.run("data", "add", "a.bin").returncode == 0
    db = tmp_project.root / ".assay" / "assay.db"
    monkeypatch.setattr(_direct, "SQLITE_BUSY_TIMEOUT_MS", 200)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError, match="locked"), \
                _direct.direct_sqlite_write(f"sqlite:///{db}") as conn:
            raise AssertionError(f"got a connection while another writer held the lock: {conn}")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
