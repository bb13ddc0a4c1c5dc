from __future__ import annotations

import json
import time

import pytest

from assay.config import Project
from assay.data import Workspace, diff, versions
from assay.errors import DataError, UsageError
from tests.conftest import TmpProject, store_connection
from tests.data.conftest import write_table


def test_log_lists_versions_with_latest_contract_result(project_on: TmpProject) -> None:
    path = project_on.root / "data" / "t.parquet"
    write_table(path, rows=20)
    assert project_on.invoke("data", "add", "data/t.parquet").code == 0
    write_table(path, rows=30, extra=True)
    assert project_on.invoke("data", "add", "data/t.parquet").code == 0
    from assay.store import open_store

    store = open_store(project_on.store_url or project_on.load().store_url)
    with Workspace(Project.load(project_on.root), store=store) as ws:
        found = versions(ws.store, "t")
        from assay.store.tables import contract_results

        with store_connection(ws.store.url) as conn:
            for passed in (False, True):
                conn.execute(contract_results.insert().values(
                    contract="t_contract", data_hash=found[1].hash, passed=passed, errors=0,
                    warnings=1, report={}, actor="ci", created_at=time.time()))
    store.close()
    result = project_on.invoke("data", "log", "t", "--json")
    log = json.loads(result.stdout)
    assert [(v["version"], v["rows"]) for v in log] == [(1, 20), (2, 30)]
    assert log[0]["contract"] is None
    assert log[1]["contract"]["passed"] is True and log[1]["actor"] == "tester@example.com"
    text = project_on.invoke("data", "log", "t").stdout.splitlines()
    assert text[0].startswith("v2 ") and "30 rows  contract t_contract: passed" in text[0]


def test_diff_of_tables_shows_schema_rows_and_column_changes(tmp_project: TmpProject) -> None:
    path = tmp_project.root / "t.csv"
    write_table(path, rows=20)
    tmp_project.invoke("data", "add", "t.csv")
    write_table(path, rows=30, extra=True)
    tmp_project.invoke("data", "add", "t.csv")
    result = json.loads(tmp_project.invoke("data", "diff", "t", "--json").stdout)
    assert result["schema"] == {"added": {"flag": "Int64"}, "removed": {}, "changed": {}}
    assert result["rows"] == {"a": 20, "b": 30, "delta": 10}
    assert result["columns"]["amount"]["max"] == [28.5, 43.5]
    text = tmp_project.invoke("data", "diff", "t", "1", "2").stdout
    assert "column added: flag Int64" in text and "rows: 20 -> 30 (+10)" in text


def test_diff_of_directories_lists_added_removed_modified(data_project: TmpProject) -> None:
    root = data_project.root
    data_project.invoke("data", "add", "data/images")
    (root / "data" / "images" / "img0.bin").unlink()
    (root / "data" / "images" / "img1.bin").write_bytes(b"changed")
    (root / "data" / "images" / "z.bin").write_bytes(b"new")
    data_project.invoke("data", "add", "data/images")
    with Workspace(Project.load(root)) as ws:
        result = diff(ws.store, ws.cache, "images", "1", "v2")
        assert result.files == {"added": ["z.bin"], "removed": ["img0.bin"],
                                "modified": ["img1.bin"]}
        assert diff(ws.store, ws.cache, "images", "-1", "2").is_same
        with pytest.raises(UsageError, match="has no version 7"):
            diff(ws.store, ws.cache, "images", "7")
        with pytest.raises(DataError, match=r"No dataset named 'imgs'.*did you mean 'images'"):
            versions(ws.store, "imgs")
    missing = data_project.invoke("data", "log", "nope")
    assert missing.code == 1 and missing.stderr.startswith("error: No dataset named 'nope'")


def test_data_log_shows_the_message_given_to_data_add(tmp_project: TmpProject) -> None:
    path = tmp_project.root / "t.csv"
    write_table(path, rows=20)
    assert tmp_project.invoke("data", "add", "t.csv").code == 0
    write_table(path, rows=30)
    added = tmp_project.invoke("data", "add", "t.csv", "-m", "March batch\nfrom the new export")
    assert added.code == 0, added.output
    lines = tmp_project.invoke("data", "log", "t").stdout.splitlines()
    assert [line[:3] for line in lines] == ["v2 ", "   ", "   ", "v1 "]
    assert lines[1:3] == ["    March batch", "    from the new export"]
