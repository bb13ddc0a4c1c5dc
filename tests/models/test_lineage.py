"""Lineage of ``kind: train``: the versioned dataset upstream of a prepared training file."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from assay.objects import hash_file
from tests.conftest import TmpProject
from tests.models.worlds import churn_frame

pytestmark = pytest.mark.slow

PREPARE = '''
import polars as pl

frame = pl.read_parquet("data/churn.parquet")
frame.filter(pl.col("customer_id") % 4 != 0).write_parquet("data/train.parquet")
frame.filter(pl.col("customer_id") % 4 == 0).write_parquet("data/holdout.parquet")
'''

CONTRACT = {
    "name": "churn",
    "columns": {"churned": {"dtype": "integer", "nullable": False, "allowed": [0, 1]}},
}


def _pipeline(project: TmpProject) -> None:
    project.gen({"prepare.py": PREPARE, "contracts/churn.yaml": CONTRACT})
    project.config(
        datasets={"churn": "data/churn.parquet"},
        contracts={"churn": {"path": "contracts/churn.yaml", "data": "churn"}},
        stages={
            "validate": {"kind": "validate", "contract": "churn"},
            "prepare": {
                "cmd": f"{sys.executable} prepare.py",
                "needs": ["validate"],
                "deps": ["prepare.py", "churn"],
                "outs": ["data/train.parquet", "data/holdout.parquet"],
            },
            "train": {
                "kind": "train",
                "estimator": "logistic_regression",
                "hyperparams": {"max_iter": 500},
                "data": "data/train.parquet",
                "validation": "data/holdout.parquet",
                "target": "churned",
                "features": {"exclude": ["customer_id"]},
            },
        },
    )


def _added_and_run(project: TmpProject) -> None:
    """The pipeline on 600 rows of churn data, added as version 1, run once."""
    _pipeline(project)
    (project.root / "data").mkdir()
    churn_frame(600, seed=1).write_parquet(project.root / "data" / "churn.parquet")
    assert project.invoke("data", "add", "data/churn.parquet").code == 0
    assert project.run("run").returncode == 0


def _datasets(project: TmpProject) -> list[dict[str, Any]]:
    meta = json.loads((project.root / "models" / "train" / "model.json").read_text())
    found: list[dict[str, Any]] = meta["lineage"]["datasets"]
    return found


def _expected(project: TmpProject, churn_version: int) -> list[dict[str, Any]]:
    root = project.root
    pointer = (root / "data" / "churn.parquet.assay").read_text()
    churn_oid = next(line.split()[1] for line in pointer.splitlines() if line.startswith("oid:"))
    assert churn_oid == hash_file(root / "data" / "churn.parquet")

    def entry(name: str, version: int | None, path: str, role: str, stage: str | None,
              oid: str) -> dict[str, Any]:
        return {"name": name, "version": version, "hash": oid, "oid": oid, "path": path,
                "role": role, "stage": stage}

    return [
        entry("data/train.parquet", None, "data/train.parquet", "train", None,
              hash_file(root / "data" / "train.parquet")),
        entry("data/holdout.parquet", None, "data/holdout.parquet", "validation", None,
              hash_file(root / "data" / "holdout.parquet")),
        entry("churn", churn_version, "data/churn.parquet", "upstream", "prepare", churn_oid),
    ]


def test_train_lineage_reaches_the_versioned_dataset_through_the_pipeline(
    tmp_project: TmpProject,
) -> None:
    _pipeline(tmp_project)
    (tmp_project.root / "data").mkdir()
    churn_frame(600, seed=1).write_parquet(tmp_project.root / "data" / "churn.parquet")
    added = tmp_project.invoke("data", "add", "data/churn.parquet")
    assert added.code == 0, added.output
    first = tmp_project.run("run")
    assert first.returncode == 0, first.stdout + first.stderr
    assert _datasets(tmp_project) == _expected(tmp_project, churn_version=1)

    churn_frame(700, seed=2).write_parquet(tmp_project.root / "data" / "churn.parquet")
    assert tmp_project.invoke("data", "add", "data/churn.parquet").code == 0
    second = tmp_project.run("run")
    assert second.returncode == 0, second.stdout + second.stderr
    assert _datasets(tmp_project) == _expected(tmp_project, churn_version=2)


def test_an_unversioned_upstream_file_is_not_called_a_dataset(tmp_project: TmpProject) -> None:
    _pipeline(tmp_project)
    (tmp_project.root / "data").mkdir()
    churn_frame(600, seed=1).write_parquet(tmp_project.root / "data" / "churn.parquet")
    result = tmp_project.run("run")
    assert result.returncode == 0, result.stdout + result.stderr
    found = _datasets(tmp_project)
    # declared under datasets: but never added: named, with no version; prepare.py is code
    assert [(d["name"], d["version"], d["role"], d["stage"]) for d in found] == [
        ("data/train.parquet", None, "train", None),
        ("data/holdout.parquet", None, "validation", None),
        ("churn", None, "upstream", "prepare"),
    ]


def test_the_lock_says_which_data_produced_a_file_even_after_the_data_moved_on(
    tmp_project: TmpProject,
) -> None:
    from assay.models import DataInput, dataset_lineage

    _added_and_run(tmp_project)
    used = hash_file(tmp_project.root / "data" / "churn.parquet")
    churn_frame(50, seed=9).write_parquet(tmp_project.root / "data" / "churn.parquet")  # not rerun
    project = tmp_project.load()
    inputs = [DataInput("train", "data/train.parquet", "data/train.parquet")]

    def upstream() -> list[tuple[str, int | None]]:
        found = dataset_lineage(project, inputs, store_url=project.store_url)
        return [(d["hash"], d["version"]) for d in found if d["role"] == "upstream"]

    # data/train.parquet is still the file prepare wrote from version 1: the lock proves it
    assert upstream() == [(used, 1)]
    # without lock entries (not written yet), only the pipeline definition is left: the data
    # as it is now
    lock = json.loads((tmp_project.root / "assay.lock").read_text())
    del lock["stages"]["prepare"], lock["stages"]["validate"]
    (tmp_project.root / "assay.lock").write_text(json.dumps(lock))
    assert upstream() == [(hash_file(tmp_project.root / "data" / "churn.parquet"), None)]
    # a lock entry for other bytes of the file lends it nothing
    churn_frame(80, seed=4).write_parquet(tmp_project.root / "data" / "train.parquet")
    lock["stages"]["prepare"] = {"key": "k", "deps": {"data/churn.parquet": used},
                                 "out_hashes": {"data/train.parquet": "0" * 64}}
    (tmp_project.root / "assay.lock").write_text(json.dumps(lock))
    assert upstream() == [(hash_file(tmp_project.root / "data" / "churn.parquet"), None)]


def test_the_pipeline_a_run_hands_over_gives_the_lineage_planning_gives(
    tmp_project: TmpProject,
) -> None:
    # a train stage gets the run's stages (outs, deps) in its context instead of planning the
    # pipeline again; both give the same lineage (no lock: the pipeline is all there is)
    from assay.models import DataInput, dataset_lineage
    from assay.pipeline import build_dag

    _added_and_run(tmp_project)
    (tmp_project.root / "assay.lock").unlink()
    project = tmp_project.load()
    table = build_dag(project).stage_table()
    inputs = [DataInput("train", "data/train.parquet", "data/train.parquet"),
              DataInput("validation", "data/holdout.parquet", "data/holdout.parquet")]
    handed = dataset_lineage(project, inputs, store_url=project.store_url, pipeline=table)
    planned = dataset_lineage(project, inputs, store_url=project.store_url)
    assert handed == planned
    assert [(d["name"], d["version"], d["stage"]) for d in handed if d["role"] == "upstream"] == [
        ("churn", 1, "prepare")]
