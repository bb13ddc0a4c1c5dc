"""``assay run`` never restores a stage out from a corrupt cache object: it quarantines and
names it, then pulls a good copy from the default remote or runs the stage again."""

from __future__ import annotations

import json
import shutil

import pytest

from assay.objects import LocalCache
from tests.conftest import TmpProject
from tests.data.test_integrity import mangle
from tests.pipeline.conftest import lock, runs_log

MAKE = ("echo make >> runs.log && mkdir -p out && printf 'alpha%.0s' $(seq 300) > out/a.txt "
        "&& printf 'beta%.0s' $(seq 200) > out/b.txt && printf 'model%.0s' $(seq 250) > "
        "model.bin")


def _project(project: TmpProject, **config: object) -> TmpProject:
    project.config(stages={"make": {"cmd": MAKE, "outs": ["out", "model.bin"]}}, **config)
    first = project.invoke("run")
    assert first.code == 0, first.output
    return project


def _corrupt(project: TmpProject, kind: str) -> tuple[str, bytes]:
    outs = lock(project)["stages"]["make"]["outs"]
    cache = LocalCache(project.root / ".assay" / "cache")
    oid = outs["out"] if kind == "manifest" else outs["model.bin"]
    path = cache.path_of(oid)
    bad = mangle(path.read_bytes(), kind, b"another object's bytes")
    path.chmod(0o644)
    path.write_bytes(bad)
    shutil.rmtree(project.root / "out")
    (project.root / "model.bin").unlink()
    return oid, bad


def _outs_are_good(project: TmpProject) -> bool:
    return ((project.root / "out" / "a.txt").read_text() == "alpha" * 300
            and (project.root / "model.bin").read_text() == "model" * 250)


@pytest.mark.parametrize("kind", ["truncated", "flipped-byte", "empty", "other-object",
                                  "manifest"])
def test_a_corrupt_out_is_quarantined_and_its_stage_runs_again(tmp_project: TmpProject,
                                                               kind: str) -> None:
    project = _project(tmp_project)
    oid, bad = _corrupt(project, kind)
    result = project.invoke("run")
    assert result.code == 0, result.output
    assert runs_log(project) == ["make", "make"]  # it ran again, it was not restored
    assert f"Not restoring {'out' if kind == 'manifest' else 'model.bin'} from the cache" \
        in result.output
    quarantined = project.root / ".assay" / "quarantine" / oid
    assert f"quarantined to {quarantined}" in result.output
    assert quarantined.read_bytes() == bad
    assert _outs_are_good(project)
    status = project.invoke("status", "--json")
    assert json.loads(status.stdout)["stale"] == []


def test_a_corrupt_out_is_restored_from_a_good_remote_copy(tmp_project: TmpProject) -> None:
    project = _project(tmp_project, remotes={"origin": "../remote"}, default_remote="origin")
    assert project.invoke("data", "push").code == 0  # the stage outs in assay.lock go too
    _corrupt(project, "flipped-byte")
    result = project.invoke("run", "--json")
    assert result.code == 0, result.output
    assert [s["status"] for s in json.loads(result.stdout)["stages"]] == ["restored"]
    assert runs_log(project) == ["make"] and _outs_are_good(project)
    assert project.invoke("fsck").code == 0
