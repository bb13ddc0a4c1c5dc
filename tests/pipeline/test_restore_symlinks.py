"""Restoring a stage out from the run cache never writes or deletes through a symlink.

The restore goes through the same object checkout as ``assay data checkout`` (the path choke
point): inside the out, a symlink is replaced by the real data (the link itself, never its
target); a symlinked folder on the way to the out is refused.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import TmpProject
from tests.hostile_layouts import SHAPES, snapshot

FILES = {"a.txt": b"alpha\n", "sub/b.txt": b"beta\n", "hk/pre-commit": b"#!/bin/sh\n"}
MAKE = ("mkdir -p data/d/sub data/d/hk && printf 'alpha\\n' > data/d/a.txt && "
        "printf 'beta\\n' > data/d/sub/b.txt && printf '#!/bin/sh\\n' > data/d/hk/pre-commit && "
        "echo ran >> runs.log")

@pytest.fixture
def world(tmp_path: Path) -> tuple[TmpProject, Path]:
    root = tmp_path / "project"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    project = TmpProject(root)
    project.config(stages={"make": {"cmd": MAKE, "outs": ["data/d"]}})
    (root / ".assay" / "canary").mkdir(parents=True)
    (root / ".assay" / "canary" / "keep.txt").write_text("canary\n")
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "dir" / "b.txt").write_bytes(b"outside, must survive\n")
    (outside / "victim.txt").write_bytes(b"outside file\n")
    first = project.invoke("run")
    assert first.code == 0, first.output
    (root / "runs.log").unlink()
    shutil.rmtree(root / "data" / "d")
    return project, outside


def _guarded(root: Path, outside: Path) -> dict[str, object]:
    return {"outside": snapshot(outside), ".git": snapshot(root / ".git"),
            "canary": snapshot(root / ".assay" / "canary")}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_stage_out_restore_replaces_links_never_their_targets(
        world: tuple[TmpProject, Path], shape: str) -> None:
    project, outside = world
    root = project.root
    SHAPES[shape](root / "data" / "d", outside)
    before = _guarded(root, outside)
    result = project.invoke("run", "--json")
    assert result.code == 0, result.output
    assert [s["status"] for s in json.loads(result.stdout)["stages"]] == ["restored"]
    assert not (root / "runs.log").exists()  # restored from the cache, not run
    assert _guarded(root, outside) == before
    d = root / "data" / "d"
    assert not any(p.is_symlink() for p in [d, *d.rglob("*")])
    assert {p.relative_to(d).as_posix(): p.read_bytes()
            for p in d.rglob("*") if p.is_file()} == FILES


def test_a_symlinked_folder_above_a_stage_out_is_refused(world: tuple[TmpProject, Path]) -> None:
    project, outside = world
    root = project.root
    os.rmdir(root / "data")
    (root / "data").symlink_to(outside / "dir")
    before = _guarded(root, outside)
    result = project.invoke("run")
    assert result.code == 2, result.output
    assert f"Refusing to write through {root / 'data'}: it is a symlink" in result.stderr
    assert _guarded(root, outside) == before
    assert not (root / "runs.log").exists()
