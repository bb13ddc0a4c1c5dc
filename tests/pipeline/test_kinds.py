"""The StageKind seam: kinds are planned at DAG time and run in their own subprocess."""

from __future__ import annotations

import json

from assay.pipeline import build_dag, get_kind, kind_refs
from tests.conftest import TmpProject


def _echo_project(project: TmpProject, **extra: object) -> TmpProject:
    project.gen({"params.yaml": {"seed": 11}})
    project.config(stages={"hello": {
        "kind": "echo", "matrix": {"lang": ["en", "fr"]},
        "message": "hi ${matrix.lang}", "out": "out/${stage_slug}.json", **extra}})
    return project


def test_kinds_come_from_entry_points_and_the_extra_hook() -> None:
    refs = kind_refs()
    assert refs["echo"] == "tests.pipeline.kinds_fixture:KIND"
    assert get_kind("echo").name == "echo"


def test_kind_plan_adds_outs_and_params(tmp_project: TmpProject) -> None:
    dag = build_dag(_echo_project(tmp_project).load())
    stage = dag.stages["hello[lang=en]"]
    assert stage.outs == ["out/hello-lang-en.json"]
    assert stage.params == {"seed": 11}
    assert stage.options == {"message": "hi en", "out": "out/hello-lang-en.json"}


def test_kind_runs_in_a_subprocess_with_context_and_tracking(tmp_project: TmpProject) -> None:
    _echo_project(tmp_project)
    result = tmp_project.invoke("run", "--json")
    assert result.code == 0, result.output
    body = json.loads((tmp_project.root / "out" / "hello-lang-fr.json").read_text())
    assert body["message"] == "hi fr"
    assert body["matrix"] == {"lang": "fr"}
    assert body["seed"] == 11
    assert body["env"]["ASSAY_STAGE"] == "hello[lang=fr]"
    assert body["env"]["ASSAY_STAGE_RUN_ID"] == body["stage_run_id"]
    assert body["env"]["ASSAY_RUN_ID"] == body["run_id"] == json.loads(result.stdout)["run_id"]
    shown = json.loads(tmp_project.invoke("runs", "show", body["stage_run_id"], "--json").stdout)
    assert shown[0]["metrics"] == {"echo_len": 5.0}
    again = json.loads(tmp_project.invoke("run", "--json").stdout)
    assert {s["status"] for s in again["stages"]} == {"up-to-date"}


def test_failing_kind_fails_the_stage(tmp_project: TmpProject) -> None:
    _echo_project(tmp_project, fail=True)
    result = tmp_project.invoke("run", "--json")
    assert result.code == 1
    reasons = {s["reason"] for s in json.loads(result.stdout)["stages"]}
    assert "exited with code 1" in reasons
