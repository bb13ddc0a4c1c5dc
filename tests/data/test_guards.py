"""What ``assay data add`` refuses: overlapping paths, files git or assay version, taken names."""

from __future__ import annotations

import json
import subprocess

import pytest

from assay.config import Project
from assay.data import Workspace
from assay.errors import UsageError
from tests.conftest import TmpProject


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def _tracked(project: TmpProject) -> list[str]:
    result = project.invoke("data", "status", "--json")
    assert result.code == 0, result.output
    return [e["path"] for e in json.loads(result.stdout)]


@pytest.fixture
def nested(tmp_project: TmpProject) -> TmpProject:
    tmp_project.gen({"data/dir/a": "a", "data/dir/b": "b", "data/top.txt": "top"})
    return tmp_project


def test_a_path_inside_a_tracked_folder_is_refused(nested: TmpProject) -> None:
    assert nested.invoke("data", "add", "data/dir").code == 0
    result = nested.invoke("data", "add", "data/dir/a")
    assert result.code == 2
    assert _one_line(result.stderr) == (
        "error: Cannot add data/dir/a: it is inside data/dir, which is already tracked by "
        "data/dir.assay; to version the change, run: assay data add data/dir")
    assert not (nested.root / "data" / "dir" / "a.assay").exists()
    assert _tracked(nested) == ["data/dir"]


def test_a_folder_that_contains_tracked_paths_is_refused(nested: TmpProject) -> None:
    assert nested.invoke("data", "add", "data/dir", "data/top.txt").code == 0
    gitignore = (nested.root / ".gitignore").read_text()
    result = nested.invoke("data", "add", "data")
    assert result.code == 2
    assert _one_line(result.stderr) == (
        "error: Cannot add data: it contains data/dir, which is already tracked by "
        "data/dir.assay and 1 more; add the paths separately, or stop tracking data/dir first "
        "(delete data/dir.assay and its .gitignore line)")
    assert not (nested.root / "data.assay").exists()
    assert (nested.root / ".gitignore").read_text() == gitignore  # pointers stay visible to git
    assert _tracked(nested) == ["data/dir", "data/top.txt"]


def test_the_library_refusal_names_the_overlapping_pointer(nested: TmpProject) -> None:
    with Workspace(Project.load(nested.root)) as ws:
        ws.add("data/dir")
        with pytest.raises(UsageError, match=r"inside data/dir") as info:
            ws.add(nested.root / "data" / "dir" / "b")
    assert info.value.pointer == "data/dir.assay"


@pytest.mark.parametrize(
    ("files", "arg", "message"),
    [
        ({}, "assay.yaml", "Refusing to track assay.yaml: it is the project's configuration; "
         "commit it to git instead"),
        ({"params.yaml": "seed: 1\n"}, "params.yaml",
         "Refusing to track params.yaml: it is a params file the pipeline reads; commit it to "
         "git instead"),
        ({"assay.lock": "{}\n"}, "assay.lock",
         "Refusing to track assay.lock: it is the pipeline's lock file; commit it to git "
         "instead"),
        ({".gitignore": "/x\n"}, ".gitignore",
         "Refusing to track .gitignore: it is git's ignore list; commit it to git instead"),
        ({"conf/params.yaml": "seed: 1\n"}, "conf",
         "Refusing to track conf: it contains conf/params.yaml (a params file the pipeline "
         "reads); commit that to git and track the data folders themselves"),
        ({"d.csv.assay": "x"}, "d.csv.assay.assay",
         "Refusing to track d.csv.assay: names ending in .assay are pointer files (commit them "
         "to git)"),
    ],
    ids=["assay-yaml", "params", "lock", "gitignore", "folder-with-params", "pointer-file"],
)
def test_files_that_git_versions_are_refused(tmp_project: TmpProject, files: dict[str, str],
                                             arg: str, message: str) -> None:
    tmp_project.config(params=["params.yaml", "conf/params.yaml"])
    tmp_project.gen(files)
    result = tmp_project.invoke("data", "add", arg)
    assert result.code == 2, result.output
    assert _one_line(result.stderr) == f"error: {message}"
    assert not (tmp_project.root / ".gitignore").is_file() or arg == ".gitignore"


def test_git_tracked_files_are_refused_until_git_rm_cached(tmp_project: TmpProject) -> None:
    tmp_project.gen({"data/x.csv": "a\n1\n", "data/raw/y.csv": "b\n2\n"})
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_project.root, check=True)
    subprocess.run([*git, "add", "data"], cwd=tmp_project.root, check=True)
    subprocess.run([*git, "commit", "-qm", "oops, data in git"], cwd=tmp_project.root, check=True)
    result = tmp_project.invoke("data", "add", "data/x.csv")
    assert result.code == 2
    assert _one_line(result.stderr) == (
        "error: data/x.csv is tracked by git; stop tracking it there first: "
        "git rm --cached data/x.csv")
    folder = tmp_project.invoke("data", "add", "data/raw")
    assert folder.code == 2
    assert _one_line(folder.stderr) == (
        "error: data/raw holds files tracked by git (data/raw/y.csv); stop tracking them there "
        "first: git rm -r --cached data/raw")
    assert not (tmp_project.root / ".gitignore").exists()
    subprocess.run(["git", "rm", "-q", "--cached", "data/x.csv"], cwd=tmp_project.root,
                   check=True)
    assert tmp_project.invoke("data", "add", "data/x.csv").code == 0


def test_two_paths_cannot_share_one_dataset_name(tmp_project: TmpProject) -> None:
    tmp_project.gen({"a/x.csv": "a\n1\n", "b/x.csv": "a\n2\n"})
    assert tmp_project.invoke("data", "add", "a/x.csv").code == 0
    result = tmp_project.invoke("data", "add", "b/x.csv")
    assert result.code == 2
    assert _one_line(result.stderr) == (
        "error: Dataset name 'x' is already used by a/x.csv (a/x.csv.assay); one name is one "
        "dataset's history, so pass another: assay data add b/x.csv --name b-x")
    assert not (tmp_project.root / "b" / "x.csv.assay").exists()
    renamed = tmp_project.invoke("data", "add", "b/x.csv", "--name", "b-x")
    assert renamed.code == 0 and "as 'b-x' v1" in renamed.stdout
    taken = tmp_project.invoke("data", "add", "b/x.csv", "--name", "x")
    assert taken.code == 2 and "already used by a/x.csv" in taken.stderr


def test_a_name_that_assay_yaml_gives_another_path_is_refused(tmp_project: TmpProject) -> None:
    tmp_project.config(datasets={"churn": "data/churn.csv"})
    tmp_project.gen({"other/churn.csv": "a\n1\n"})
    result = tmp_project.invoke("data", "add", "other/churn.csv")
    assert result.code == 2
    assert _one_line(result.stderr) == (
        "error: Dataset name 'churn' belongs to data/churn.csv (assay.yaml:3); pass another name "
        "for other/churn.csv: assay data add other/churn.csv --name other-churn")


def test_a_moved_dataset_keeps_its_name(tmp_project: TmpProject) -> None:
    tmp_project.gen({"old/x.csv": "a\n1\n"})
    assert tmp_project.invoke("data", "add", "old/x.csv").code == 0
    (tmp_project.root / "old" / "x.csv.assay").unlink()
    (tmp_project.root / "new").mkdir()
    (tmp_project.root / "old" / "x.csv").rename(tmp_project.root / "new" / "x.csv")
    moved = tmp_project.invoke("data", "add", "new/x.csv")
    assert moved.code == 0 and "unchanged" not in moved.stdout
    log = json.loads(tmp_project.invoke("data", "log", "x", "--json").stdout)
    assert [v["path"] for v in log] == ["old/x.csv"]  # same data: the same version
