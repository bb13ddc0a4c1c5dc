"""Which params belong to which stage instance: per-candidate scoping in a matrix, params from
other files, dataset names as deps, and what a run records as a stage's params."""

from __future__ import annotations

import json
from typing import Any

import pytest

from assay.errors import PipelineError
from assay.pipeline import build_dag
from tests.conftest import TmpProject, store_connection
from tests.pipeline.conftest import runs_log

PICK_STAGE: dict[str, Any] = {
    "kind": "pick",
    "matrix": {"model": ["rf", "lr"]},
    "choice": "${matrix.model}",
    "settings_for": {
        "rf": {"n_estimators": "${params.train.n_estimators}", "seed": "${params.seed}"},
        "lr": {"max_iter": 100, "seed": "${params.seed}"},
    },
    "out": "out/${stage_slug}.json",
    "params": ["seed", "train.n_estimators", "train.notes"],
}


def _pick_project(project: TmpProject, trees: int = 200) -> TmpProject:
    project.gen({"params.yaml": {"seed": 7, "train": {"n_estimators": trees, "notes": "x"}}})
    return project.config(stages={"train": PICK_STAGE})


def test_each_matrix_candidate_gets_only_the_params_its_options_use(
    tmp_project: TmpProject,
) -> None:
    dag = build_dag(_pick_project(tmp_project).load())
    # declared but interpolated by no candidate (a script could read it): kept for all
    assert dag.stages["train[model=rf]"].params == {
        "seed": 7, "train.n_estimators": 200, "train.notes": "x"}
    assert dag.stages["train[model=lr]"].params == {"seed": 7, "train.notes": "x"}
    assert dag.stages["train[model=lr]"].definition()["options"] == {
        "choice": "lr", "settings_for": {"lr": {"max_iter": 100, "seed": 7}},
        "out": "out/train-model-lr.json"}
    # the kind still gets all of its options
    assert set(dag.stages["train[model=lr]"].options["settings_for"]) == {"rf", "lr"}


def test_a_param_used_by_one_candidate_restales_only_that_candidate(
    tmp_project: TmpProject,
) -> None:
    _pick_project(tmp_project)
    assert tmp_project.invoke("run").code == 0
    assert sorted(runs_log(tmp_project)) == ["train[model=lr]", "train[model=rf]"]

    _pick_project(tmp_project, trees=300)
    status = json.loads(tmp_project.invoke("status", "--json").stdout)
    reasons = {s["stage"]: s["reasons"] for s in status["stages"]}
    assert reasons == {
        "train[model=rf]": [
            "option 'settings_for.rf.n_estimators' changed: 200 -> 300",
            "param 'train.n_estimators' changed: 200 -> 300",
        ],
        "train[model=lr]": [],
    }
    text = tmp_project.invoke("status").stdout
    assert "kind options changed" not in text
    assert "  - option 'settings_for.rf.n_estimators' changed: 200 -> 300" in text

    result = json.loads(tmp_project.invoke("run", "--json").stdout)
    assert {s["stage"]: s["status"] for s in result["stages"]} == {
        "train[model=rf]": "succeeded", "train[model=lr]": "up-to-date"}
    assert json.loads((tmp_project.root / "out/train-model-rf.json").read_text()) == {
        "n_estimators": 300, "seed": 7}


def test_status_names_each_changed_option_and_env_entry(tmp_project: TmpProject) -> None:
    tmp_project.gen({"params.yaml": {"seed": 1}})
    stage = {"kind": "echo", "message": "one", "out": "o.json", "env": {"A": "1"}}
    tmp_project.config(stages={"e": stage})
    assert tmp_project.invoke("run").code == 0
    tmp_project.config(stages={"e": {**stage, "message": "two", "env": {"A": "2", "B": "b"}}})
    reasons = json.loads(tmp_project.invoke("status", "--json").stdout)["stages"][0]["reasons"]
    assert reasons == ["env 'A' changed: \"1\" -> \"2\"", "env 'B' added (\"b\")",
                       "option 'message' changed: \"one\" -> \"two\""]


def test_the_real_train_kind_scopes_hyperparams_for_to_its_estimator(
    tmp_project: TmpProject,
) -> None:
    tmp_project.gen({"params.yaml": {"seed": 7, "train": {"n_estimators": 200, "max_depth": 8,
                                                          "learning_rate": 0.1}},
                     "data/train.csv": "a,y\n1,0\n"})
    tmp_project.config(stages={"train": {
        "kind": "train",
        "matrix": {"model": ["random_forest", "logistic_regression"]},
        "estimator": "${matrix.model}",
        "hyperparams_for": {
            "random_forest": {"n_estimators": "${params.train.n_estimators}",
                              "max_depth": "${params.train.max_depth}"},
            "logistic_regression": {"max_iter": 1000},
        },
        "data": "data/train.csv", "target": "y", "seed": "${params.seed}",
        "params": ["seed", "train.n_estimators", "train.max_depth", "train.learning_rate"],
    }})
    dag = build_dag(tmp_project.load())
    assert dag.stages["train[model=logistic_regression]"].params == {
        "seed": 7, "train.learning_rate": 0.1}
    assert dag.stages["train[model=random_forest]"].params == {
        "seed": 7, "train.n_estimators": 200, "train.max_depth": 8, "train.learning_rate": 0.1}


def test_interpolated_params_come_from_the_file_the_stage_declares(
    tmp_project: TmpProject,
) -> None:
    tmp_project.gen({"params.yaml": {"seed": 1}, "tuning.yaml": {"lr": 0.05, "depth": 3}})
    tmp_project.config(stages={
        "a": {"cmd": "echo ${params.lr} ${params.seed} > a.txt", "outs": ["a.txt"],
              "params": [{"tuning.yaml": ["lr"]}]},
        "b": {"cmd": "echo ${params.tuning.yaml:depth} > b.txt", "outs": ["b.txt"]},
    })
    dag = build_dag(tmp_project.load())
    assert dag.stages["a"].cmd == "echo 0.05 1 > a.txt"
    assert dag.stages["a"].params == {"tuning.yaml:lr": 0.05, "seed": 1}
    assert dag.stages["b"].params == {"tuning.yaml:depth": 3}
    assert tmp_project.invoke("run").code == 0
    tmp_project.gen({"tuning.yaml": {"lr": 0.01, "depth": 3}})
    out = tmp_project.invoke("status").stdout
    assert "param 'tuning.yaml:lr' changed: 0.05 -> 0.01" in out
    assert "b: stale" not in out


def test_interpolated_params_are_found_in_the_projects_other_params_files(
    tmp_project: TmpProject,
) -> None:
    tmp_project.gen({"params.yaml": {"seed": 1}, "model.yaml": {"lr": 0.5}})
    tmp_project.config(params=["params.yaml", "model.yaml"],
                       stages={"a": {"cmd": "echo ${params.lr} > a.txt", "outs": ["a.txt"]}})
    assert build_dag(tmp_project.load()).stages["a"].params == {"model.yaml:lr": 0.5}
    tmp_project.config(params=["params.yaml", "model.yaml"],
                       stages={"a": {"cmd": "echo ${params.rate} > a.txt"}})
    with pytest.raises(PipelineError,
                       match=r"stage 'a' uses param 'rate', which is not in params\.yaml or "
                             r"model\.yaml"):
        build_dag(tmp_project.load())


def test_a_change_in_another_params_file_defeats_the_no_op_fast_path(
    tmp_project: TmpProject,
) -> None:
    tmp_project.gen({"params.yaml": {"seed": 1}, "tuning.yaml": {"lr": 0.05}})
    tmp_project.config(stages={"a": {"cmd": "echo ${params.lr} > a.txt", "outs": ["a.txt"],
                                     "params": [{"tuning.yaml": ["lr"]}]}})
    assert tmp_project.run("run").returncode == 0
    assert "up to date" in tmp_project.run("run").stdout
    tmp_project.gen({"tuning.yaml": {"lr": 0.07}})
    again = tmp_project.run("run")
    assert again.returncode == 0, again.stderr
    assert "up to date" not in again.stdout
    assert (tmp_project.root / "a.txt").read_text() == "0.07\n"


def test_dataset_names_stand_for_their_paths_in_deps_and_matrix_deps(
    tmp_project: TmpProject,
) -> None:
    tmp_project.gen({"data/eu.csv": "x\n1\n", "data/us.csv": "x\n2\n"})
    tmp_project.config(
        datasets={"eu": "data/eu.csv", "us": "data/us.csv"},
        stages={
            "count": {"matrix": {"region": ["eu", "us"]}, "cmd": "wc -l < data/${matrix.region}.csv",
                      "deps": ["${matrix.region}"]},
            "both": {"cmd": "true", "deps": ["eu", "us"]},
        },
    )
    dag = build_dag(tmp_project.load())
    assert dag.stages["count[region=eu]"].deps == ["data/eu.csv"]
    assert dag.stages["both"].deps == ["data/eu.csv", "data/us.csv"]
    assert tmp_project.invoke("run").code == 0
    tmp_project.gen({"data/us.csv": "x\n3\n"})
    status = json.loads(tmp_project.invoke("status", "--json").stdout)
    assert status["stale"] == ["count[region=us]", "both"]


def test_alias_pseudo_params_are_in_the_key_but_not_recorded_as_params(
    tmp_project: TmpProject,
) -> None:
    from sqlalchemy import select

    from assay.store.tables import params

    tmp_project.gen({"params.yaml": {"seed": 1}})
    tmp_project.config(stages={"compare": {
        "kind": "echo", "message": "m", "out": "o.json", "depends_on": ["churn@production"]}})
    dag = build_dag(tmp_project.load())
    assert "@alias:churn@production" in dag.stages["compare"].params
    result = tmp_project.invoke("run")
    assert result.code == 0, result.output
    lock_params = json.loads((tmp_project.root / "assay.lock").read_text())["stages"]["compare"]
    assert lock_params["params"] == {"seed": 1, "@alias:churn@production": None}
    with store_connection(tmp_project.load().store_url) as conn:
        assert conn.execute(select(params.c.key, params.c.value)).all() == [("seed", "1")]
