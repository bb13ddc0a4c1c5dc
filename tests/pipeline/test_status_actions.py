"""``assay status`` separates what must run from what a run restores from the cache, says a
stage that ran and failed failed, and ``assay run --single`` runs only the named stages."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import TmpProject
from tests.pipeline.conftest import runs_log, three_stages


def _status(project: TmpProject) -> dict[str, object]:
    result = project.invoke("status", "--json")
    assert result.code == 0, result.output
    body: dict[str, object] = json.loads(result.stdout)
    return body


def test_deleted_outs_are_restorable_not_must_run(tmp_project: TmpProject) -> None:
    three_stages(tmp_project)
    assert tmp_project.invoke("run").code == 0
    shutil.rmtree(tmp_project.root / "models")
    shutil.rmtree(tmp_project.root / "data")
    (tmp_project.root / "report.txt").unlink()
    body = _status(tmp_project)
    assert body["must_run"] == []
    assert body["restorable"] == ["prep", "train[model=rf]", "train[model=lr]", "report"]
    out = tmp_project.invoke("status").stdout
    assert "train[model=rf]: stale (restorable from cache)\n" in out
    assert out.endswith("4 of 4 stages are stale: 0 must run, 4 can be restored from the cache; "
                        "run: assay run\n")
    dry = tmp_project.invoke("run", "--dry-run").stdout
    assert "prep: would restore from cache: out 'data/prep.txt' missing" in dry
    (tmp_project.root / "runs.log").unlink()
    assert tmp_project.invoke("run").code == 0
    assert runs_log(tmp_project) == []  # all four restored, as status said


def test_a_changed_param_makes_the_stage_and_its_downstream_must_run(
    tmp_project: TmpProject,
) -> None:
    three_stages(tmp_project)
    assert tmp_project.invoke("run").code == 0
    tmp_project.gen({"params.yaml": {"seed": 7, "prep": {"rows": 4}, "train": {"trees": 5}}})
    body = _status(tmp_project)
    assert body["must_run"] == ["prep", "train[model=rf]", "train[model=lr]", "report"]
    out = tmp_project.invoke("status").stdout
    assert "prep: stale (must run)\n  - command changed\n  - param 'prep.rows' changed: 10 -> 4\n" in out
    assert out.endswith("4 of 4 stages are stale: 4 must run, 0 can be restored from the cache; "
                        "run: assay run\n")


def test_a_stage_that_ran_and_failed_says_failed(tmp_project: TmpProject) -> None:
    three_stages(tmp_project, prep={"cmd": "echo prep >> runs.log && exit 3"})
    assert tmp_project.invoke("run").code == 1
    body = _status(tmp_project)
    stages = {s["stage"]: s for s in body["stages"]}  # type: ignore[attr-defined]
    assert stages["prep"]["failed"].startswith("failed in run ")
    assert stages["prep"]["failed"].endswith(": exited with code 3")
    assert stages["prep"]["reasons"] == []
    assert stages["report"]["failed"] is None
    out = tmp_project.invoke("status").stdout
    assert "prep: stale, failed in run " in out and ": exited with code 3; must run\n" in out
    assert "never run" not in out.split("train")[0]


def test_single_reruns_only_the_named_stages(tmp_project: TmpProject) -> None:
    three_stages(tmp_project)
    assert tmp_project.invoke("run").code == 0
    (tmp_project.root / "runs.log").unlink()
    result = tmp_project.invoke("run", "-s", "train", "--force", "--json")
    assert result.code == 0, result.output
    assert sorted(runs_log(tmp_project)) == ["train[model=lr]", "train[model=rf]"]
    (tmp_project.root / "runs.log").unlink()
    assert tmp_project.invoke("run", "--single", "report", "--force").code == 0
    assert runs_log(tmp_project) == ["report"]
    bare = tmp_project.invoke("run", "--single")
    assert bare.code == 2 and "name the stages to run alone" in bare.output


UP_TO_DATE = "Pipeline is up to date (4 stages).\n"


def test_status_of_an_unchanged_pipeline_is_the_no_op_decision(
    tmp_project: TmpProject, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from assay.cli._front import dispatch

    three_stages(tmp_project)
    assert tmp_project.invoke("run").code == 0
    monkeypatch.chdir(tmp_project.root)
    assert dispatch(["status"]) == 0  # the marker the run wrote
    assert dispatch(["status", "--json"]) is None
    assert dispatch(["status", "prep"]) is None
    assert dispatch(["status", "--profile", "ci"]) is None  # never fresh under ci
    for env in ({}, {"ASSAY_NO_FASTPATH": "1"}):  # the shortcut, then the full path
        shown = tmp_project.run("status", env=env)
        assert (shown.returncode, shown.stdout, shown.stderr) == (0, UP_TO_DATE, "")
    (tmp_project.root / "data" / "prep.txt").write_text("x\n")
    assert dispatch(["status"]) is None  # an out changed: the full status explains
    assert "prep: stale (restorable from cache)" in tmp_project.invoke("status").stdout
    assert tmp_project.invoke("run").code == 0
    (tmp_project.root / ".assay" / "pipeline" / "fresh.json").unlink()
    assert tmp_project.invoke("status").stdout == UP_TO_DATE  # the full status remembers...
    assert dispatch(["status"]) == 0  # ...so the next one is answered by the shortcut
