from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import yaml

from assay.config import Project
from assay.data import Workspace, read_pointer
from assay.objects import hash_tree
from assay.store import open_store
from tests.conftest import TmpProject, store_connection
from tests.data.conftest import write_table
from tests.store.old_schemas import undo_revision_0004


def _rows(project: TmpProject) -> list[dict[str, object]]:
    from sqlalchemy import select

    from assay.store.tables import dataset_versions as dv

    store = open_store(project.store_url or project.load().store_url)
    with store_connection(store.url) as conn:
        found = [dict(r) for r in conn.execute(select(dv).order_by(dv.c.id)).mappings()]
    store.close()
    return found


def test_add_table_writes_pointer_gitignore_and_version_with_profile(
    project_on: TmpProject,
) -> None:
    write_table(project_on.root / "data" / "t.parquet", rows=40)
    result = project_on.invoke("data", "add", "data/t.parquet", "--json")
    assert result.code == 0, result.output
    [added] = json.loads(result.stdout)
    pointer = yaml.safe_load((project_on.root / "data" / "t.parquet.assay").read_text())
    assert pointer == {"oid": added["oid"], "size": added["size"], "nfiles": 1, "name": "t",
                       "version": 1, "history": [{"version": 1, "oid": added["oid"],
                                                  "size": added["size"], "nfiles": 1,
                                                  "rows": 40}]}
    assert added["oid"] == hash_tree(project_on.root / "data" / "t.parquet").oid
    assert "/data/t.parquet" in (project_on.root / ".gitignore").read_text().splitlines()
    [row] = _rows(project_on)
    assert (row["name"], row["rows"], row["kind"], row["actor"]) == (
        "t", 40, "file", "tester@example.com")
    assert row["schema"] == {"id": "Int64", "amount": "Float64", "plan": "String"}
    assert row["profile"]["amount"]["max"] == 58.5 and row["profile"]["plan"]["distinct"] == 2
    store = open_store(project_on.store_url or "")
    [event] = store.events(kind="data.add")
    store.close()
    assert event.subject == "t" and event.details["version"] == 1


def test_readding_unchanged_data_is_a_noop_and_changes_make_a_new_version(
    tmp_project: TmpProject,
) -> None:
    write_table(tmp_project.root / "d.csv", rows=10)
    assert tmp_project.invoke("data", "add", "d.csv").code == 0
    again = tmp_project.invoke("data", "add", "d.csv")
    assert again.code == 0 and again.stdout.startswith("unchanged d.csv")
    write_table(tmp_project.root / "d.csv", rows=12)
    third = tmp_project.invoke("data", "add", "d.csv", "-m", "two more rows")
    assert "as 'd' v2" in third.stdout and "12 rows" in third.stdout
    assert [(r["rows"], r["message"]) for r in _rows(tmp_project)] == [
        (10, None), (12, "two more rows")]


def test_add_directory_through_the_library_uses_configured_name(
    data_project: TmpProject,
) -> None:
    data_project.config(datasets={"pictures": "data/images"})
    with Workspace(Project.load(data_project.root)) as ws:
        result = ws.add(data_project.root / "data" / "images")
        assert (result.name, result.nfiles, result.changed) == ("pictures", 7, True)
        assert result.oid == hash_tree(data_project.root / "data" / "images").oid
        assert ws.has_all(result.oid)
        assert ws.add("data/images.assay").changed is False  # the pointer names its data
    pointer = read_pointer(data_project.root / "data" / "images.assay")
    assert pointer.is_dir and pointer.nfiles == 7


def test_hardlink_mode_leaves_a_readonly_workspace_file(tmp_project: TmpProject) -> None:
    tmp_project.config(cache={"type": ["hardlink", "copy"]})
    tmp_project.gen({"big.bin": b"z" * 5000})
    result = tmp_project.invoke("data", "add", "big.bin", "--json")
    assert result.code == 0 and json.loads(result.stdout)[0]["mode"] == "hardlink"
    mode = os.stat(tmp_project.root / "big.bin").st_mode
    assert not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def test_two_concurrent_adds_from_real_processes_both_land(tmp_project: TmpProject) -> None:
    tmp_project.gen({f"a/f{i}": os.urandom(2000) for i in range(150)})
    tmp_project.gen({f"b/f{i}": os.urandom(2000) for i in range(150)})
    env = {**os.environ, **tmp_project.env}
    procs = [
        subprocess.Popen([sys.executable, "-m", "assay", "data", "add", name],
                         cwd=tmp_project.root, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for name in ("a", "b", "a")
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    assert sorted(r["name"] for r in _rows(tmp_project)) == ["a", "b"]
    status = tmp_project.invoke("data", "status", "--json")
    assert [e["states"] for e in json.loads(status.stdout)] == [["ok"], ["ok"]]
    assert tmp_project.invoke("fsck").code == 0
    ignored = (tmp_project.root / ".gitignore").read_text().splitlines()
    assert sorted(ignored) == [".*.assay-tmp", "/a", "/b"]  # data, and assay temp files


_SQLALCHEMY_PROBE = (
    "import atexit, sys\n"
    "atexit.register(lambda: sys.stderr.write('SQLA=%s\\n' % ('sqlalchemy' in sys.modules)))\n"
    "sys.argv = ['assay', *sys.argv[1:]]\n"
    "from assay._launcher import main\n"
    "main()\n"
)


def test_adding_to_a_current_sqlite_store_does_not_import_sqlalchemy(
        tmp_project: TmpProject) -> None:
    tmp_project.gen({"a.bin": b"a" * 10, "b.bin": b"b" * 10})
    for name in ("a.bin", "b.bin"):  # the first add creates the store, the second reuses it
        done = subprocess.run([sys.executable, "-c", _SQLALCHEMY_PROBE, "data", "add", name],
                              cwd=tmp_project.root, env={**os.environ, **tmp_project.env},
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        assert "SQLA=False" in done.stderr
    assert tmp_project.run("data", "log", "b").stdout.count("v1") == 1


def test_an_older_schema_is_migrated_then_recorded(tmp_project: TmpProject) -> None:
    import sqlite3

    tmp_project.gen({"a.bin": b"a" * 10, "b.bin": b"b" * 10})
    assert tmp_project.run("data", "add", "a.bin").returncode == 0
    db = tmp_project.root / ".assay" / "assay.db"
    conn = sqlite3.connect(db)
    conn.execute("UPDATE alembic_version SET version_num = '0001'")
    conn.execute("DROP TABLE store_info")
    undo_revision_0004(conn)  # and the deployments table before revision 0004
    conn.commit()
    conn.close()
    assert tmp_project.run("data", "add", "b.bin").returncode == 0  # migrated, then recorded
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] != "0001"
    assert conn.execute("SELECT count(*) FROM dataset_versions").fetchone()[0] == 2
    conn.close()


def test_a_corrupt_database_is_one_line_and_writes_no_pointer(tmp_project: TmpProject) -> None:
    from pathlib import Path

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
