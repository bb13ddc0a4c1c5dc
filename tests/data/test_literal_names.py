"""File names are taken literally, never percent-decoded, and a manifest is checked whole
before anything is written (issue 11, defect 7)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from assay.data._pointer import Pointer, write_pointer
from assay.objects import LocalCache, ManifestEntry, manifest_bytes
from tests.conftest import TmpProject

NAMES = ["a%20b.csv", "a b.csv", "%2e%2e", "%2e%2e%2f", "%2F", "100%.csv", "%252e%252e",
         "%00", "sub%2Fdir/x%2e%2e.txt", "%2e/%2e%2e"]


@pytest.fixture
def percent(tmp_project: TmpProject) -> TmpProject:
    """A folder of percent-laden names, and single files with them, all added and pushed."""
    tmp_project.config(remotes={"origin": "../remote"}, default_remote="origin")
    tmp_project.gen({f"data/d/{name}": f"content of {name}\n".encode() for name in NAMES})
    tmp_project.gen({"data/a%20b.csv": b"single\n", "data/100%.csv": b"percent\n"})
    added = tmp_project.invoke("data", "add", "data/d", "data/a%20b.csv", "data/100%.csv")
    assert added.code == 0, added.output
    assert tmp_project.invoke("data", "push").code == 0
    return tmp_project


def _files(root: Path) -> dict[str, bytes]:
    data = root / "data"
    return {p.relative_to(data).as_posix(): p.read_bytes()
            for p in data.rglob("*") if p.is_file() and not p.name.endswith(".assay")}


@pytest.mark.parametrize("command", [["data", "checkout"], ["data", "pull"]])
def test_percent_names_round_trip_byte_exact(percent: TmpProject, command: list[str]) -> None:
    root = percent.root
    before = _files(root)
    assert sorted(before) == sorted(["a%20b.csv", "100%.csv", *(f"d/{n}" for n in NAMES)])
    shutil.rmtree(root / "data" / "d")
    (root / "data" / "a%20b.csv").unlink()
    (root / "data" / "100%.csv").unlink()
    if command[1] == "pull":
        shutil.rmtree(root / ".assay" / "cache")
    result = percent.invoke(*command)
    assert result.code == 0, result.output
    assert _files(root) == before
    status = percent.invoke("data", "status")
    assert (status.code, status.stdout.splitlines()[-1]) == (0, "everything up to date")


def _craft(project: TmpProject, names: list[str]) -> None:
    """A pointer data/d.assay to a hand-made manifest listing ``names`` (objects cached)."""
    cache = LocalCache(project.root / ".assay" / "cache")
    entries = [ManifestEntry(path=name, oid=cache.add_bytes(f"{i}\n".encode()), size=2)
               for i, name in enumerate(names)]
    oid = cache.add_bytes(manifest_bytes(entries), suffix=".dir")
    write_pointer(project.root / "data" / "d.assay",
                  Pointer(oid=oid, size=2 * len(names), nfiles=len(names), name="d"))


CRAFTED = {
    "file-and-folder": (["x", "x/y"], "'x' is listed as a file and as a folder"),
    "long-path": (["ab/" * 1365 + "x"], "longer than 4095 bytes"),
    "deep": (["a/" * 300 + "b"], "more than 256 levels deep"),
    "long-name": (["n" * 4096], "a name is longer than 255 bytes"),
    "name-max-bytes": (["\u00e9" * 128], "a name is longer than 255 bytes"),
    "duplicate": (["x", "x"], "listed twice"),
    "double-slash": (["a//b"], "empty or '.' components"),
    "dot": (["./a"], "empty or '.' components"),
    "git": (["ok.txt", ".git/hooks/pre-commit"], "'.git' is not allowed"),
    "assay": ([".assay/cache/x"], "'.assay' is not allowed"),
    "dotdot": (["../../x"], "'..' is not allowed"),
    "absolute": (["/tmp/x"], "absolute paths are not allowed"),
}


@pytest.mark.parametrize("case", list(CRAFTED))
def test_an_unsafe_manifest_is_refused_before_anything_is_written(tmp_project: TmpProject,
                                                                  case: str) -> None:
    names, reason = CRAFTED[case]
    _craft(tmp_project, names)
    (tmp_project.root / ".git").mkdir()
    for command in (["data", "checkout"], ["data", "checkout", "--force"]):
        result = tmp_project.invoke(*command)
        assert result.code == 1, result.output
        assert result.stderr.count("\n") == 1, result.stderr
        assert "is unsafe (" in result.stderr and reason in result.stderr
        assert "nothing was written" in result.stderr
        assert not (tmp_project.root / "data" / "d").exists()
    assert list((tmp_project.root / ".git").iterdir()) == []
    status = tmp_project.invoke("data", "status")
    assert status.code in (0, 1, 2), status.output  # never a crash


@pytest.mark.parametrize(
    ("name", "reason"),
    [("new\nline.txt", "control characters"), ("back\\slash.txt", "backslashes")],
    ids=["newline", "backslash"],
)
def test_adding_a_name_checkout_would_refuse_is_refused(tmp_project: TmpProject, name: str,
                                                        reason: str) -> None:
    tmp_project.gen({f"data/d/{name}": "x", "data/d/ok.txt": "ok"})
    result = tmp_project.invoke("data", "add", "data/d")
    assert result.code == 1, result.output
    assert result.stderr.count("\n") == 1
    assert reason in result.stderr and "rename it or move it out" in result.stderr
    assert not (tmp_project.root / "data" / "d.assay").exists()
