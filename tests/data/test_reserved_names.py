"""Pointer files whose names address ``.git`` or ``.assay`` (or nothing) are refused
(issue 11, defect 3), one line naming them, while the other pointers still work.

Linux is case-sensitive: ``.GIT`` is not git's folder, so it is ordinary data.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import TmpProject
from tests.hostile_layouts import snapshot


@pytest.fixture
def tracked(tmp_project: TmpProject) -> TmpProject:
    """A git project tracking the folder data/d."""
    subprocess.run(["git", "init", "-q", str(tmp_project.root)], check=True)
    tmp_project.gen({"data/d/a.txt": "alpha\n", "data/d/sub/b.txt": "beta\n"})
    assert tmp_project.invoke("data", "add", "data/d").code == 0
    return tmp_project


def _state(root: Path) -> dict[str, object]:
    """.git whole, and the .assay files that hold the data (cache objects, the store)."""
    cache = root / ".assay" / "cache"
    return {".git": snapshot(root / ".git"), "cache": snapshot(cache),
            "store": (root / ".assay" / "assay.db").exists()}


BAD = {
    ".git.assay": "its data path .git addresses .git, which assay never writes or deletes",
    ".assay.assay": "its data path .assay addresses .assay, which assay never writes or deletes",
    "data/.git.assay": "its data path data/.git addresses .git, which assay never writes or "
                       "deletes",
    "data/.assay": "it names no data (nothing before '.assay')",
    "data/x.assay.assay": "its data would be another pointer file (x.assay)",
}


@pytest.mark.parametrize("bad", list(BAD))
@pytest.mark.parametrize("command", [["data", "checkout", "--force"], ["data", "checkout"],
                                     ["data", "pull", "--force"], ["data", "push"]],
                         ids=["checkout-force", "checkout", "pull-force", "push"])
def test_a_pointer_that_addresses_git_or_assay_is_refused_and_touches_nothing(
        tracked: TmpProject, bad: str, command: list[str]) -> None:
    root = tracked.root
    tracked.config(remotes={"origin": "../remote"}, default_remote="origin")
    shutil.copy(root / "data" / "d.assay", root / bad)  # a valid pointer, under a bad name
    shutil.rmtree(root / "data" / "d" / "sub")
    before = _state(root)
    result = tracked.invoke(*command)
    assert result.code == 2, result.output
    assert result.stderr == f"error: {bad}: refusing this pointer file: {BAD[bad]}; delete it: " \
                            f"git rm {bad}\n"
    assert _state(root) == before
    assert not (root / "data" / "d" / "sub").exists()  # refused before anything was written


def test_status_reports_bad_pointers_beside_the_good_ones(tracked: TmpProject) -> None:
    root = tracked.root
    for bad in BAD:
        shutil.copy(root / "data" / "d.assay", root / bad)
    result = tracked.invoke("data", "status", "--json")
    assert result.code == 2, result.output
    entries = json.loads(result.stdout)
    assert [(e["path"], e["states"]) for e in entries] == [
        ("data/d", ["ok"]),
        *sorted((bad, ["corrupt_pointer"]) for bad in BAD),
    ]
    assert {e["path"]: e["reason"] for e in entries if e["reason"]} == {
        bad: f"{bad}: refusing this pointer file: {reason}; delete it: git rm {bad}"
        for bad, reason in BAD.items()
    }
    assert result.stderr.count("\n") == 1
    assert "(and 4 more corrupt pointers)" in result.stderr
    table = tracked.invoke("data", "status")
    assert table.code == 2
    assert "ok  data/d" in table.stdout and "corrupt_pointer  data/.assay" in table.stdout


def test_adding_data_still_works_beside_a_bad_pointer(tracked: TmpProject) -> None:
    root = tracked.root
    shutil.copy(root / "data" / "d.assay", root / "data" / ".assay")
    tracked.gen({"data/e.txt": "epsilon\n"})
    result = tracked.invoke("data", "add", "data/e.txt")
    assert result.code == 0, result.output


def test_a_tracked_path_inside_a_nested_git_folder_is_refused(tracked: TmpProject) -> None:
    root = tracked.root
    (root / "data" / ".git").mkdir()
    shutil.copy(root / "data" / "d.assay", root / "data" / ".git" / "x.assay")
    result = tracked.invoke("data", "checkout", "--force", "data/.git/x")
    assert result.code == 2, result.output
    assert result.stderr == (
        "error: data/.git/x.assay: refusing this pointer file: its data path data/.git/x "
        "addresses .git, which assay never writes or deletes; delete it: git rm "
        "data/.git/x.assay\n")
    assert sorted(p.name for p in (root / "data" / ".git").iterdir()) == ["x.assay"]


@pytest.mark.parametrize("path", ["data/.git", "data/.assay", "data/d2"],
                         ids=["git", "assay", "folder-holding-git"])
def test_adding_a_reserved_name_is_refused(tracked: TmpProject, path: str) -> None:
    root = tracked.root
    tracked.gen({f"{path}/x.txt": "x\n"})
    if path == "data/d2":
        tracked.gen({"data/d2/.git/HEAD": "ref: refs/heads/main\n"})
    result = tracked.invoke("data", "add", path)
    assert result.code in (1, 2), result.output
    assert result.stderr.count("\n") == 1
    assert "'.git' is not allowed" in result.stderr or "'.assay' is not allowed" in \
        result.stderr
    assert not (root / f"{path}.assay").exists()


def test_upper_case_git_is_ordinary_data_on_linux(tracked: TmpProject) -> None:
    root = tracked.root
    tracked.gen({".GIT/config": "not git's\n", "data/.Assay/x": "not assay's\n"})
    assert tracked.invoke("data", "add", ".GIT", "data/.Assay").code == 0
    shutil.rmtree(root / ".GIT")
    shutil.rmtree(root / "data" / ".Assay")
    result = tracked.invoke("data", "checkout")
    assert result.code == 0, result.output
    assert (root / ".GIT" / "config").read_text() == "not git's\n"
    assert (root / "data" / ".Assay" / "x").read_text() == "not assay's\n"
