"""The executor seam: another executor plugs into run_pipeline, and resources are honoured."""

from __future__ import annotations

import json
from pathlib import Path

from assay.pipeline import read_lock, run_pipeline
from tests.conftest import TmpProject
from tests.pipeline.conftest import runs_log, three_stages
from tests.pipeline.thread_executor import ThreadExecutor


def test_another_executor_runs_the_pipeline_through_the_interface(
    tmp_project: TmpProject,
) -> None:
    three_stages(tmp_project)
    executor = ThreadExecutor(2)
    try:
        result = run_pipeline(tmp_project.load(), executor=executor)
    finally:
        executor.close()
    assert result.status == "succeeded", result.to_json()
    assert {o.stage: o.status for o in result.outcomes} == {
        "prep": "succeeded", "train[model=rf]": "succeeded", "train[model=lr]": "succeeded",
        "report": "succeeded"}
    assert sorted(j.stage for j in executor.jobs) == sorted(
        ["prep", "train[model=rf]", "train[model=lr]", "report"])
    assert sorted(runs_log(tmp_project)) == sorted(
        ["prep", "train[model=rf]", "train[model=lr]", "report"])
    assert set(read_lock(tmp_project.root)) == {"prep", "train[model=rf]", "train[model=lr]",
                                                 "report"}
    rows = "".join(f"{i}\n" for i in range(1, 11))
    assert (tmp_project.root / "report.txt").read_text() == f"{rows}lr\n{rows}rf\n"
    again = ThreadExecutor(2)
    try:
        second = run_pipeline(tmp_project.load(), executor=again)
    finally:
        again.close()
    assert {o.status for o in second.outcomes} == {"up-to-date"}
    assert again.jobs == []


def test_another_executor_reports_failures_like_the_local_pool(tmp_project: TmpProject) -> None:
    tmp_project.config(stages={
        "bad": {"cmd": "exit 4"},
        "slow": {"cmd": "sleep 5", "timeout": 0.3},
    })
    executor = ThreadExecutor(2)
    try:
        result = run_pipeline(tmp_project.load(), executor=executor, keep_going=True)
    finally:
        executor.close()
    assert {o.stage: o.reason for o in result.outcomes} == {
        "bad": "exited with code 4", "slow": "timed out after 0.3s"}
    assert result.exit_code == 1


def test_resources_are_passed_to_the_executor(tmp_project: TmpProject) -> None:
    tmp_project.config(stages={"gpu": {"cmd": "true", "resources": {
        "cpus": 2, "memory": "1GB", "gpus": 1}}})
    executor = ThreadExecutor(4)
    try:
        assert run_pipeline(tmp_project.load(), executor=executor).status == "succeeded"
    finally:
        executor.close()
    assert [j.resources for j in executor.jobs] == [{"cpus": 2, "memory": "1GB", "gpus": 1}]


def _interval(root: Path, name: str) -> tuple[float, float]:
    return (float((root / f"t/{name}.start").read_text()),
            float((root / f"t/{name}.end").read_text()))


def test_a_stage_asking_for_two_cpus_takes_two_slots(tmp_project: TmpProject) -> None:
    def timed(name: str, **extra: object) -> dict[str, object]:
        return {"cmd": f"mkdir -p t; date +%s.%N > t/{name}.start; sleep 0.4; "
                       f"date +%s.%N > t/{name}.end", **extra}

    tmp_project.config(stages={
        "a": timed("a"), "big": timed("big", resources={"cpus": 2}), "b": timed("b"),
        "c": timed("c")})
    result = tmp_project.invoke("run", "-j", "2", "--json")
    assert result.code == 0, result.output
    spans = {n: _interval(tmp_project.root, n) for n in ("a", "big", "b", "c")}
    big_start, big_end = spans["big"]
    for name in ("a", "b", "c"):
        start, end = spans[name]
        assert end <= big_start or start >= big_end, f"{name} ran alongside big"
    assert spans["a"][0] < spans["b"][1] and spans["b"][0] < spans["a"][1]  # -j 2 otherwise


def test_more_cpus_than_slots_runs_alone_with_a_warning(tmp_project: TmpProject) -> None:
    tmp_project.config(stages={"huge": {"cmd": "echo ok > o.txt", "outs": ["o.txt"],
                                        "resources": {"cpus": 4}}})
    result = tmp_project.invoke("run", "-j", "1")
    assert result.code == 0, result.output
    assert ("Stage 'huge' asks for 4 cpus, but this run has 1 slots (-j); it runs alone on "
            "all of them") in result.stderr
    assert json.loads((tmp_project.root / "assay.lock").read_text())["stages"]["huge"]
