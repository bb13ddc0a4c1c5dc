"""Read snapshots: plain sqlite3 for a current local store, the Store (SQLAlchemy) otherwise;
both answer every query the same."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TmpProject
from tests.tracking.scripts import SCRIPT, python


def _url(project: TmpProject) -> str:
    return project.store_url or f"sqlite:///{project.root / '.assay' / 'assay.db'}"


def _answers(url: str, *, allow_plain_sqlite: bool) -> tuple[bool, list[Any]]:
    from assay.tracking import (
        MetricFilter,
        compare_runs,
        get_runs,
        list_runs,
        metric_history,
        open_reader,
        resolve,
    )

    with open_reader(url, allow_plain_sqlite=allow_plain_sqlite) as db:
        rows = list_runs(db, metric_filters=[MetricFilter.parse("roc_auc>0.8")],
                         params={"depth": "4"}, tags={"team": "growth"}, stage="explore")
        every = list_runs(db, limit=2)
        full = get_runs(db, resolve(db, every[0].run_id[:8]))
        return db.is_plain_sqlite, [
            [r.to_json() for r in rows], [r.to_json() for r in every],
            [r.to_json() for r in full], compare_runs(every),
            metric_history(db, every[0].id, "loss"),
        ]


def test_both_read_paths_give_the_same_answers(project_on: TmpProject) -> None:
    for model, depth, auc in (("rf", "4", "0.91"), ("lr", "4", "0.72"), ("gb", "6", "0.85")):
        assert python(project_on, SCRIPT, model, depth, auc).returncode == 0
    plain, fast = _answers(_url(project_on), allow_plain_sqlite=True)
    orm, full = _answers(_url(project_on), allow_plain_sqlite=False)
    assert (plain, orm) == (_url(project_on).startswith("sqlite"), False)
    assert fast == full
    assert [r["params"]["model"] for r in fast[0]] == ["rf"]
    assert len(fast[4]) == 20


def test_a_store_not_created_yet_is_created_by_the_store_path(tmp_project: TmpProject) -> None:
    from assay.tracking import list_runs, open_reader

    url = _url(tmp_project)
    assert not (tmp_project.root / ".assay" / "assay.db").exists()
    with open_reader(url) as db:
        assert not db.is_plain_sqlite
        assert list_runs(db) == []
    with open_reader(url) as db:  # now it exists, at the current revision
        assert db.is_plain_sqlite


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
    with open_reader(f"sqlite:///{path}") as reader:
        assert reader.is_plain_sqlite
        with pytest.raises(StoreError, match=r"Reading the metadata store .* failed: no such table"):
            list_runs(reader)
