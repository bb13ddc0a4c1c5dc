"""A profile run records into its own lock and leaves the full run's outs and assay.lock as
they were."""

from __future__ import annotations

import json

import pytest

from assay.pipeline import read_lock
from tests.conftest import TmpProject
from tests.pipeline.conftest import runs_log, three_stages

PROFILE_LOCK = ".assay/pipeline/profiles/ci.lock"


def _statuses(project: TmpProject, *args: str) -> dict[str, str]:
    result = project.invoke("run", *args, "--json")
    assert result.code == 0, result.output
    return {s["stage"]: s["status"] for s in json.loads(result.stdout)["stages"]}


def test_a_profile_run_keeps_assay_lock_and_the_full_outs(tmp_project: TmpProject) -> None:
    three_stages(tmp_project)
    assert tmp_project.invoke("run").code == 0
    full_lock = (tmp_project.root / "assay.lock").read_bytes()
    full_report = (tmp_project.root / "report.txt").read_text()
    (tmp_project.root / "runs.log").unlink()

    assert set(_statuses(tmp_project, "--profile", "ci").values()) == {"succeeded"}
    assert len(runs_log(tmp_project)) == 4  # it ran, on its own params
    assert (tmp_project.root / "assay.lock").read_bytes() == full_lock
    assert read_lock(tmp_project.root, "ci")["prep"].params == {"prep.rows": 3}
    assert (tmp_project.root / PROFILE_LOCK).is_file()
    # the workspace holds the full run's outs again, so the full pipeline is up to date
    assert (tmp_project.root / "report.txt").read_text() == full_report
    assert len((tmp_project.root / "data" / "prep.txt").read_text().split()) == 10
    assert set(_statuses(tmp_project).values()) == {"up-to-date"}
    status = tmp_project.invoke("status")
    assert status.code == 0 and "up to date" in status.stdout

    (tmp_project.root / "runs.log").unlink()
    assert set(_statuses(tmp_project, "--profile", "ci").values()) <= {"restored", "up-to-date"}
    assert runs_log(tmp_project) == []  # the profile's results come from the cache
    assert (tmp_project.root / "assay.lock").read_bytes() == full_lock
    assert (tmp_project.root / "report.txt").read_text() == full_report


def test_the_no_op_shortcut_agrees_with_the_full_path_after_a_put_back(
    tmp_project: TmpProject, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from assay.cli._front import dispatch

    three_stages(tmp_project)
    assert tmp_project.invoke("run").code == 0
    assert tmp_project.invoke("run", "--profile", "ci").code == 0
    monkeypatch.chdir(tmp_project.root)
    # the workspace holds the full run's outs: the ci profile is not up to date here (its
    # next run restores its outs), and the shortcut must not say otherwise
    assert dispatch(["run", "--profile", "ci"]) is None
    result = json.loads(tmp_project.invoke("run", "--json").stdout)
    assert result["status"] == "up-to-date"  # the put-back outs are the full run's
    assert dispatch(["run"]) == 0


def test_a_profile_run_before_any_full_run_leaves_its_outs(tmp_project: TmpProject) -> None:
    three_stages(tmp_project)
    assert tmp_project.invoke("run", "--profile", "ci").code == 0
    assert not (tmp_project.root / "assay.lock").exists()
    assert (tmp_project.root / "data" / "prep.txt").read_text() == "1\n2\n3\n"
    assert set(_statuses(tmp_project).values()) == {"succeeded"}  # the full run has its own
    assert len((tmp_project.root / "data" / "prep.txt").read_text().split()) == 10


def test_an_unreadable_profile_lock_only_costs_a_restore(tmp_project: TmpProject) -> None:
    three_stages(tmp_project)
    assert tmp_project.invoke("run", "--profile", "ci").code == 0
    (tmp_project.root / PROFILE_LOCK).write_text("{not json")  # what a crash may leave
    (tmp_project.root / "runs.log").unlink()
    assert set(_statuses(tmp_project, "--profile", "ci").values()) <= {"restored", "up-to-date"}
    assert runs_log(tmp_project) == []
    assert read_lock(tmp_project.root, "ci")["prep"].params == {"prep.rows": 3}
    (tmp_project.root / "assay.lock").write_text("{not json")  # assay.lock is never guessed
    assert tmp_project.invoke("run").code == 2
