from __future__ import annotations

import json
import os
import shutil

import pytest

from assay.config import Project
from assay.data import Workspace
from assay.errors import DataError
from tests.conftest import TmpProject


def _states(project: TmpProject, *args: str) -> dict[str, list[str]]:
    result = project.invoke("data", "status", "--json", *args)
    assert result.code == 0, result.output
    return {e["path"]: e["states"] for e in json.loads(result.stdout)}


def test_status_reports_modified_missing_not_in_cache_and_not_pushed(
    data_project: TmpProject,
) -> None:
    root = data_project.root
    assert data_project.invoke("data", "add", "data/table.parquet", "data/images").code == 0
    assert _states(data_project) == {"data/images": ["ok"], "data/table.parquet": ["ok"]}
    assert _states(data_project, "-r") == {
        "data/images": ["not_pushed"], "data/table.parquet": ["not_pushed"]}
    assert data_project.invoke("data", "push").code == 0
    assert _states(data_project, "--remote") == {
        "data/images": ["ok"], "data/table.parquet": ["ok"]}
    (root / "data" / "images" / "new.bin").write_bytes(b"new")
    (root / "data" / "table.parquet").unlink()
    assert _states(data_project) == {
        "data/images": ["modified"], "data/table.parquet": ["missing"]}
    shutil.rmtree(root / ".assay" / "cache")
    assert _states(data_project, "data/table.parquet") == {
        "data/table.parquet": ["missing", "not_in_cache"]}
    text = data_project.invoke("data", "status")
    assert "missing, not_in_cache  data/table.parquet" in text.stdout


def test_checkout_restores_and_never_destroys_uncached_edits(data_project: TmpProject) -> None:
    root = data_project.root
    assert data_project.invoke("data", "add", "data/images").code == 0
    original = (root / "data" / "images" / "img1.bin").read_bytes()
    shutil.rmtree(root / "data" / "images")
    result = data_project.invoke("data", "checkout", "--json")
    assert json.loads(result.stdout) == {"actions": {"data/images": "restored"}}
    assert (root / "data" / "images" / "img1.bin").read_bytes() == original

    (root / "data" / "images" / "img1.bin").write_bytes(b"precious edit")
    refused = data_project.invoke("data", "checkout", "data/images")
    assert refused.code == 1
    assert refused.stderr.strip().splitlines() == [
        "error: Modified in the workspace and not in the cache: data/images; keep the change "
        "with: assay data add PATH, or discard it with --force"]
    assert (root / "data" / "images" / "img1.bin").read_bytes() == b"precious edit"
    forced = data_project.invoke("data", "checkout", "--force")
    assert forced.code == 0 and "restored  data/images" in forced.stdout
    assert (root / "data" / "images" / "img1.bin").read_bytes() == original
    assert data_project.invoke("data", "checkout").stdout.strip() == "unchanged  data/images"


def test_checkout_replaces_workspace_content_that_is_safely_in_the_cache(
    data_project: TmpProject,
) -> None:
    root = data_project.root
    with Workspace(Project.load(root)) as ws:
        v1 = ws.add("data/table.parquet")
        first = (root / "data" / "table.parquet").read_bytes()
        pointer_v1 = (root / "data" / "table.parquet.assay").read_text()
        from tests.data.conftest import write_table

        write_table(root / "data" / "table.parquet", rows=70)
        v2 = ws.add("data/table.parquet")
        assert v1.oid != v2.oid
        (root / "data" / "table.parquet.assay").write_text(pointer_v1)  # like git checkout
        assert ws.checkout().actions == {"data/table.parquet": "restored"}
    assert (root / "data" / "table.parquet").read_bytes() == first


def test_checkout_verifies_hashes_before_materialising(data_project: TmpProject) -> None:
    root = data_project.root
    assert data_project.invoke("data", "add", "data/table.parquet").code == 0
    oid = json.loads(data_project.invoke("data", "status", "--json").stdout)[0]["oid"]
    obj = root / ".assay" / "cache" / oid[:2] / oid[2:]
    (root / "data" / "table.parquet").unlink()
    os.chmod(obj, 0o644)
    obj.write_bytes(b"bit rot")
    result = data_project.invoke("data", "checkout")
    assert result.code == 1
    assert f"cache object {oid} is corrupt; run: assay fsck" in result.stderr
    assert not (root / "data" / "table.parquet").exists()


def test_library_checkout_raises_with_paths(data_project: TmpProject) -> None:
    root = data_project.root
    with Workspace(Project.load(root)) as ws:
        ws.add("data/table.parquet")
        os.chmod(root / "data" / "table.parquet", 0o644)
        (root / "data" / "table.parquet").write_bytes(b"edited")
        with pytest.raises(DataError, match=r"not in the cache: data/table\.parquet") as info:
            ws.checkout()
        assert info.value.paths == ["data/table.parquet"]
