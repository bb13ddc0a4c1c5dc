"""``assay data push``/``pull`` carry the pipeline's stage outs, so a clone restores stages."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from assay.data import stage_outs
from assay.errors import ConfigError
from assay.objects import LocalCache
from tests.conftest import TmpProject

STAGES = {
    "prep": {
        "cmd": "echo prep >> ../runs.log && mkdir -p out && seq 5 > out/prep.txt",
        "outs": ["out/prep.txt"],
    },
    "train": {
        "cmd": "echo train >> ../runs.log && mkdir -p models/m && (cat out/prep.txt; echo w) > "
               "models/m/weights.txt && echo meta > models/m/meta.txt",
        "deps": ["out/prep.txt"],
        "outs": ["models/m"],
    },
}


def _pipeline(project: TmpProject, **config: Any) -> TmpProject:
    project.config(stages=STAGES, **config)
    project.gen({"raw.csv": "a\n1\n"})
    return project


def _runs(project: TmpProject) -> list[str]:
    log = project.root.parent / "runs.log"
    return log.read_text().split() if log.exists() else []


def _run(project: TmpProject) -> dict[str, str]:
    result = project.invoke("run", "--json")
    assert result.code == 0, result.output
    return {s["stage"]: s["status"] for s in json.loads(result.stdout)["stages"]}


def _fresh_clone(project: TmpProject) -> None:
    """What a new clone has: the committed files (pointers, assay.lock), no cache, no outs."""
    shutil.rmtree(project.root / ".assay")
    shutil.rmtree(project.root / "out")
    shutil.rmtree(project.root / "models")
    (project.root / "raw.csv").unlink()
    (project.root.parent / "runs.log").unlink(missing_ok=True)


def test_a_clone_restores_pushed_stage_outs_instead_of_rerunning(
    tmp_project: TmpProject,
) -> None:
    _pipeline(tmp_project, remotes={"origin": "../remote"}, default_remote="origin")
    assert _run(tmp_project) == {"prep": "succeeded", "train": "succeeded"}
    assert tmp_project.invoke("data", "add", "raw.csv").code == 0
    outs = {o.path: o.oid for o in stage_outs(tmp_project.root)}
    assert set(outs) == {"out/prep.txt", "models/m"}
    pushed = tmp_project.invoke("data", "push", "--json")
    assert pushed.code == 0, pushed.output
    # raw.csv, prep.txt, the models/m manifest and its 2 files
    assert json.loads(pushed.stdout)["transferred"] == 5
    remote = LocalCache(tmp_project.root.parent / "remote")
    assert all(remote.exists(oid) for oid in outs.values())

    _fresh_clone(tmp_project)
    assert _run(tmp_project) == {"prep": "restored", "train": "restored"}
    assert _runs(tmp_project) == []
    weights = tmp_project.root / "models" / "m" / "weights.txt"
    assert weights.read_text() == "1\n2\n3\n4\n5\nw\n"


def test_pull_fills_the_cache_with_stage_outs_for_the_next_run(tmp_project: TmpProject) -> None:
    _pipeline(tmp_project, remotes={"origin": "../remote"})  # no default_remote: run cannot pull
    assert _run(tmp_project) == {"prep": "succeeded", "train": "succeeded"}
    assert tmp_project.invoke("data", "add", "raw.csv").code == 0
    assert tmp_project.invoke("data", "push").code == 0
    _fresh_clone(tmp_project)
    pulled = tmp_project.invoke("data", "pull")
    assert pulled.code == 0, pulled.output
    assert "pulled 5 objects" in pulled.stdout and "restored  raw.csv" in pulled.stdout
    assert not (tmp_project.root / "models").exists()  # outs come back through assay run
    assert _run(tmp_project) == {"prep": "restored", "train": "restored"}
    assert _runs(tmp_project) == []


def test_stage_outs_missing_locally_or_remotely_are_listed_not_fatal(
    tmp_project: TmpProject,
) -> None:
    _pipeline(tmp_project, remotes={"origin": "../remote"})
    assert _run(tmp_project) == {"prep": "succeeded", "train": "succeeded"}
    outs = {o.path: o.oid for o in stage_outs(tmp_project.root)}
    cache = LocalCache(tmp_project.root / ".assay" / "cache")
    cache.remove(outs["out/prep.txt"])
    pushed = tmp_project.invoke("data", "push")
    assert pushed.code == 0, pushed.output
    assert pushed.stdout.splitlines() == [
        "pushed 3 objects (248 B) to 'origin'; 0 already there",
        "1 stage out not in the local cache, not pushed (run the pipeline to make them): "
        "out/prep.txt",
    ]
    shutil.rmtree(tmp_project.root / ".assay")
    pulled = tmp_project.invoke("data", "pull", "--json")
    assert pulled.code == 0, pulled.output
    assert json.loads(pulled.stdout)["unavailable"] == ["out/prep.txt"]
    assert LocalCache(tmp_project.root / ".assay" / "cache").exists(outs["models/m"])


def test_explicit_paths_push_only_those_paths(tmp_project: TmpProject) -> None:
    _pipeline(tmp_project, remotes={"origin": "../remote"})
    assert _run(tmp_project) == {"prep": "succeeded", "train": "succeeded"}
    assert tmp_project.invoke("data", "add", "raw.csv").code == 0
    pushed = json.loads(tmp_project.invoke("data", "push", "raw.csv", "--json").stdout)
    assert (pushed["transferred"], pushed["unavailable"]) == (1, [])


def test_gc_keeps_the_stage_outs_of_assay_lock(tmp_project: TmpProject) -> None:
    _pipeline(tmp_project)
    assert _run(tmp_project) == {"prep": "succeeded", "train": "succeeded"}
    cache = LocalCache(tmp_project.root / ".assay" / "cache")
    outs = [o.oid for o in stage_outs(tmp_project.root)]
    result = tmp_project.invoke("gc", "--json")
    assert result.code == 0, result.output
    kept = set(cache.iter_objects())
    assert {*outs, *(e.oid for e in cache.manifest(next(o for o in outs if o.endswith(".dir"))))
            } <= kept
    shutil.rmtree(tmp_project.root / "models")
    assert _run(tmp_project)["train"] == "restored"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "assay.lock is corrupt (Expecting property name"),
        ('{"stages": {"a": {"outs": {"x": "zzz"}}}}',
         "assay.lock is corrupt (stage 'a' out x has a bad object id 'zzz')"),
    ],
    ids=["not-json", "bad-oid"],
)
def test_a_corrupt_lock_file_is_a_clear_error(tmp_path: Path, text: str, reason: str) -> None:
    (tmp_path / "assay.lock").write_text(text)
    with pytest.raises(ConfigError, match=r"restore it from git") as info:
        stage_outs(tmp_path)
    assert str(info.value).startswith(reason)


def test_gc_keeps_the_environment_a_run_recorded(tmp_project: TmpProject) -> None:
    _pipeline(tmp_project)
    assert _run(tmp_project)["prep"] == "succeeded"
    run_id = json.loads(tmp_project.invoke("runs", "list", "--json").stdout)[0]["run_id"]
    assert tmp_project.invoke("gc").code == 0
    env = tmp_project.invoke("runs", "env", run_id)
    assert env.code == 0, env.output
    assert "python" in env.output.lower()
