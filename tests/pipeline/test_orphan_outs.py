"""Outs of stages no longer in the pipeline (a value removed from a matrix): ``assay status``
reports them, ``assay gc --workspace`` removes them and their assay.lock entries."""

from __future__ import annotations

import json

import pytest

from assay.pipeline import read_lock
from tests.conftest import TmpProject
from tests.pipeline.conftest import three_stages

LR_OUTS = ["models/train-model-lr.json", "models/train-model-lr.txt"]


def _drop_lr(project: TmpProject) -> None:
    assert project.invoke("run").code == 0
    three_stages(project, train={"matrix": {"model": ["rf"]}})
    assert project.invoke("run").code == 0


def test_status_reports_the_outs_of_a_removed_matrix_value(
    tmp_project: TmpProject, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from assay.cli._front import dispatch

    three_stages(tmp_project)
    _drop_lr(tmp_project)
    body = json.loads(tmp_project.invoke("status", "--json").stdout)
    assert body["orphan_outs"] == [{"stage": "train[model=lr]", "path": p} for p in LR_OUTS]
    assert body["stale"] == []
    out = tmp_project.invoke("status").stdout
    assert out == ("Pipeline is up to date (3 stages).\n"
                   f"2 outs of stages no longer in the pipeline are left in the workspace "
                   f"(first: {LR_OUTS[0]}); remove: assay gc --workspace\n")
    monkeypatch.chdir(tmp_project.root)
    assert dispatch(["run"]) == 0  # nothing to run...
    assert dispatch(["status"]) is None  # ...but status has something to say


def test_gc_workspace_removes_them_and_their_lock_entries(
    tmp_project: TmpProject, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from assay.cli._front import dispatch

    three_stages(tmp_project)
    _drop_lr(tmp_project)
    dry = tmp_project.invoke("gc", "--workspace", "--dry-run")
    assert dry.code == 0, dry.output
    assert f"would remove {LR_OUTS[0]} (out of 'train[model=lr]', no longer in the pipeline)" \
        in dry.stdout
    assert all((tmp_project.root / p).exists() for p in LR_OUTS)
    done = tmp_project.invoke("gc", "--workspace", "--json")
    assert done.code == 0, done.output
    assert [o["path"] for o in json.loads(done.stdout)["workspace_outs"]] == LR_OUTS
    assert not any((tmp_project.root / p).exists() for p in LR_OUTS)
    assert (tmp_project.root / "models" / "train-model-rf.txt").exists()
    assert set(read_lock(tmp_project.root)) == {"prep", "train[model=rf]", "report"}
    assert tmp_project.invoke("status").stdout == "Pipeline is up to date (3 stages).\n"
    monkeypatch.chdir(tmp_project.root)
    assert dispatch(["status"]) == 0
