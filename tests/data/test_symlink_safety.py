"""Checkout and pull never write or delete through a symlink (issue 11, defect 2).

Each test builds a real project whose tracked folder was replaced by a hostile layout (as if
someone had committed symlinks to git), runs the real CLI, and compares snapshots of every
tree that must not change: a folder outside the project, ``.git`` and a canary in ``.assay``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import TmpProject, invoke
from tests.hostile_layouts import SHAPES, snapshot

FILES = {"a.txt": b"alpha\n", "sub/b.txt": b"beta\n", "hk/pre-commit": b"#!/bin/sh\ntouch PWNED\n"}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git project tracking data/d (pushed to ../remote), and a folder outside it."""
    base = tmp_path_factory.mktemp("symlinks")
    root = base / "project"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    project = TmpProject(root)
    project.config(remotes={"origin": "../remote"}, default_remote="origin")
    (root / ".assay" / "canary").mkdir(parents=True)
    (root / ".assay" / "canary" / "keep.txt").write_text("canary\n")
    for rel, data in FILES.items():
        path = root / "data" / "d" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    os.chmod(root / "data" / "d" / "hk" / "pre-commit", 0o755)
    assert project.invoke("data", "add", "data/d").code == 0
    assert project.invoke("data", "push").code == 0
    outside = base / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "dir" / "b.txt").write_bytes(b"outside, must survive\n")
    (outside / "victim.txt").write_bytes(b"outside file\n")
    return base


@pytest.fixture
def world(template: Path, tmp_path: Path) -> Path:
    for name in ("project", "remote", "outside"):
        shutil.copytree(template / name, tmp_path / name, symlinks=True)
    return tmp_path


OPERATIONS = {
    "checkout": ["data", "checkout"],
    "pull": ["data", "pull"],
    "checkout-force": ["data", "checkout", "--force"],
    "pull-force": ["data", "pull", "--force"],
}


@pytest.mark.parametrize("operation", list(OPERATIONS))
@pytest.mark.parametrize("shape", list(SHAPES))
def test_checkout_and_pull_never_write_through_a_symlink(world: Path, shape: str,
                                                         operation: str) -> None:
    root, outside = world / "project", world / "outside"
    shutil.rmtree(root / "data" / "d")
    if operation.startswith("pull"):
        shutil.rmtree(root / ".assay" / "cache")
    SHAPES[shape](root / "data" / "d", outside)
    guarded = {"outside": outside, ".git": root / ".git", "canary": root / ".assay" / "canary"}
    before = {name: snapshot(path) for name, path in guarded.items()}

    result = invoke(OPERATIONS[operation], cwd=root)

    assert {name: snapshot(path) for name, path in guarded.items()} == before
    assert not (root / ".git" / "hooks" / "pre-commit").exists()
    if operation.endswith("force"):  # the links themselves are replaced by the real data
        assert result.code == 0, result.output
        d = root / "data" / "d"
        assert not any(p.is_symlink() for p in [d, *d.rglob("*")])
        assert {p.relative_to(d).as_posix(): p.read_bytes()
                for p in d.rglob("*") if p.is_file()} == FILES
        assert invoke(["data", "status", "--json"], cwd=root).code == 0
    else:  # a symlink is content the cache lacks: refused, one line, nothing touched
        assert result.code == 1, result.output
        assert result.stderr.count("\n") == 1
        assert "error: Modified in the workspace and not in the cache: data/d (" in result.stderr
        assert "discard it with --force" in result.stderr


def test_a_tracked_path_under_a_symlinked_folder_is_never_written(world: Path) -> None:
    root, outside = world / "project", world / "outside"
    shutil.rmtree(root / "data" / "d")
    shutil.move(root / "data", outside / "disk")  # the pointer now lives outside, behind a link
    (root / "data").symlink_to(outside / "disk")
    before = snapshot(outside)
    explicit = invoke(["data", "checkout", "--force", "data/d"], cwd=root)
    assert explicit.code == 2, explicit.output
    assert "is outside the project" in explicit.stderr
    everything = invoke(["data", "checkout", "--force"], cwd=root)  # links are not walked
    assert (everything.code, everything.stdout) == (0, "no tracked data\n")
    assert snapshot(outside) == before
