"""Read snapshots (one read transaction of ``open_store(url, read_only=True)``) answer every
query of ``assay runs``; tests/store/test_backends.py runs the same queries on every store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.conftest import TmpProject
from tests.tracking.scripts import SCRIPT, python


def _url(project: TmpProject) -> str:
    return project.store_url or f"sqlite:///{project.root / '.assay' / 'assay.db'}"


def test_one_snapshot_answers_filters_show_compare_and_history(project_on: TmpProject) -> None:
    from assay.tracking import (
        MetricFilter,
        compare_runs,
        get_runs,
        list_runs,
        metric_history,
        open_reader,
        resolve,
    )

    for model, depth, auc in (("rf", "4", "0.91"), ("lr", "4", "0.72"), ("gb", "6", "0.85")):
        assert python(project_on, SCRIPT, model, depth, auc).returncode == 0
    with open_reader(_url(project_on)) as db:
        rows = list_runs(db, metric_filters=[MetricFilter.parse("roc_auc>0.8")],
                         params={"depth": "4"}, tags={"team": "growth"}, stage="explore")
        every = list_runs(db, limit=2)
        full = get_runs(db, resolve(db, every[0].run_id[:8]))
        compared = compare_runs(every)
        history = metric_history(db, every[0].id, "loss")
    assert [r.params["model"] for r in rows] == ["rf"]
    assert [r.params["model"] for r in every] == ["gb", "lr"]
    assert [(r.id, r.tags, r.metrics["roc_auc"]) for r in full] == [
        (every[0].id, {"team": "growth", "stage": "dev"}, 0.85)]
    assert [a["path"] for a in full[0].artifacts] == ["notes.txt"]
    assert {p["key"]: p["differs"] for p in compared["params"]} == {
        "depth": True, "lr": False, "model": True}
    assert [round(v, 4) for _, v, _ in history][:3] == [1.0, 0.5, 0.3333] and len(history) == 20


def test_a_store_not_created_yet_is_created_then_read_without_sqlalchemy(
        tmp_project: TmpProject) -> None:
    from assay.store import SqlAlchemyStore, SqliteStore
    from assay.tracking import list_runs, open_reader

    url = _url(tmp_project)
    assert not (tmp_project.root / ".assay" / "assay.db").exists()
    with open_reader(url) as db:
        assert isinstance(db.store, SqlAlchemyStore)  # a reader creates no file itself
        assert list_runs(db) == []
    with open_reader(url) as db:  # now it exists, at the current revision
        assert isinstance(db.store, SqliteStore) and db.store.read_only


def test_a_store_at_another_revision_is_not_read_with_plain_sqlite(
        tmp_project: TmpProject) -> None:
    from assay.errors import StoreError
    from assay.tracking import open_reader

    assert python(tmp_project, SCRIPT, "rf", "4", "0.9").returncode == 0
    path = tmp_project.root / ".assay" / "assay.db"
    db = sqlite3.connect(path)
    try:
        db.execute("UPDATE alembic_version SET version_num = 'zzzz'")
        db.commit()
    finally:
        db.close()
    # the Store path takes over, and it refuses to guess how to migrate an unknown revision
    with pytest.raises(StoreError, match=r"Migrating the metadata store .* failed"):
        open_reader(f"sqlite:///{path}")


def test_reading_a_damaged_store_is_a_store_error(tmp_path: Path) -> None:
    from assay.errors import StoreError
    from assay.store import HEAD_REVISION
    from assay.tracking import list_runs, open_reader

    path = tmp_path / "assay.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE alembic_version (version_num TEXT)")
    db.execute("INSERT INTO alembic_version VALUES (?)", (HEAD_REVISION,))
    db.commit()
    db.close()
    with open_reader(f"sqlite:///{path}") as reader, \
            pytest.raises(StoreError, match=r"Reading the metadata store .* failed: no such table"):
        list_runs(reader)
