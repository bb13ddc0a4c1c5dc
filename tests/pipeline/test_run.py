"""Running pipelines: caching, restore, status explanations, profiles, records, the lock file."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from assay.cli._front import dispatch
from assay.pipeline import LOCK_FILE, read_lock, run_pipeline
from tests.conftest import TmpProject, store_connection
from tests.pipeline.conftest import lock, runs_log, three_stages


def _statuses(result_json: dict[str, object]) -> dict[str, str]:
    return {s["stage"]: s["status"] for s in result_json["stages"]}  # type: ignore[attr-defined, index]


def test_run_caches_then_noop_then_explains_param_change(tmp_project: TmpProject) -> None:
    three_stages(tmp_project)
    first = tmp_project.invoke("run", "--json", "-j", "2")
    assert first.code == 0, first.output
    assert set(_statuses(json.loads(first.stdout)).values()) == {"succeeded"}
    assert sorted(runs_log(tmp_project)) == sorted(
        ["prep", "train[model=rf]", "train[model=lr]", "report"])
    entries = lock(tmp_project)["stages"]
    assert set(entries) == {"prep", "train[model=rf]", "train[model=lr]", "report"}
    assert entries["prep"]["params"] == {"prep.rows": 10}
    assert entries["train[model=rf]"]["deps"]["data/prep.txt"]

    second = tmp_project.invoke("run", "--json")
    assert set(_statuses(json.loads(second.stdout)).values()) == {"up-to-date"}
    assert len(runs_log(tmp_project)) == 4

    tmp_project.gen({"params.yaml": {"seed": 7, "prep": {"rows": 10}, "train": {"trees": 9}}})
    status = tmp_project.invoke("status")
    assert status.code == 0
    assert "train[model=rf]: stale" in status.stdout
    assert "param 'train.trees' changed: 5 -> 9" in status.stdout
    assert "prep" not in status.stdout.split("stale")[0]
    as_json = json.loads(tmp_project.invoke("status", "--json").stdout)
    assert as_json["stale"] == ["train[model=rf]", "train[model=lr]", "report"]

    third = json.loads(tmp_project.invoke("run", "--json").stdout)
    assert _statuses(third)["prep"] == "up-to-date"
    assert _statuses(third)["train[model=rf]"] == "succeeded"
    assert _statuses(third)["report"] == "up-to-date"  # train's outs did not change


def test_status_names_changed_dep_command_and_missing_out(tmp_project: TmpProject) -> None:
    three_stages(tmp_project)
    assert tmp_project.invoke("run").code == 0
    (tmp_project.root / "data" / "prep.txt").write_text("edited\n")
    (tmp_project.root / "report.txt").unlink()
    out = tmp_project.invoke("status").stdout
    assert "dep 'data/prep.txt' changed" in out
    assert "out 'data/prep.txt' modified" in out
    assert "out 'report.txt' missing" in out
    three_stages(tmp_project, report={"cmd": "cat models/*.txt > report.txt"})
    assert "command changed" in tmp_project.invoke("status").stdout


def test_deleted_outs_are_restored_from_cache_without_running(tmp_project: TmpProject) -> None:
    three_stages(tmp_project)
    assert tmp_project.invoke("run").code == 0
    shutil.rmtree(tmp_project.root / "models")
    (tmp_project.root / "runs.log").unlink()
    result = json.loads(tmp_project.invoke("run", "--json").stdout)
    assert _statuses(result)["train[model=rf]"] == "restored"
    assert runs_log(tmp_project) == []
    assert (tmp_project.root / "models" / "train-model-rf.txt").read_text().endswith("rf\n")


def test_switching_params_back_restores_the_earlier_outs(tmp_project: TmpProject) -> None:
    three_stages(tmp_project)
    assert tmp_project.invoke("run", "--profile", "ci").code == 0
    assert tmp_project.invoke("run").code == 0
    assert len((tmp_project.root / "data" / "prep.txt").read_text().split()) == 10
    (tmp_project.root / "runs.log").unlink()
    ci = json.loads(tmp_project.invoke("run", "--profile", "ci", "--json").stdout)
    assert set(_statuses(ci).values()) == {"restored"}
    assert runs_log(tmp_project) == []


def test_force_and_targets(tmp_project: TmpProject) -> None:
    three_stages(tmp_project)
    result = json.loads(tmp_project.invoke("run", "train", "--json").stdout)
    assert set(_statuses(result)) == {"prep", "train[model=rf]", "train[model=lr]"}
    forced = json.loads(tmp_project.invoke("run", "prep", "--force", "--json").stdout)
    assert _statuses(forced) == {"prep": "succeeded"}


def test_dry_run_changes_nothing(tmp_project: TmpProject) -> None:
    three_stages(tmp_project)
    result = tmp_project.invoke("run", "--dry-run")
    assert result.code == 0
    assert "prep: would run: never run" in result.stdout
    assert not (tmp_project.root / LOCK_FILE).exists()
    assert runs_log(tmp_project) == []


def test_run_records_run_and_stage_runs(tmp_project: TmpProject) -> None:
    three_stages(tmp_project)
    result = tmp_project.invoke("run", "--json", env={"CI": "true"})
    run_id = json.loads(result.stdout)["run_id"]
    from sqlalchemy import select

    from assay.objects import LocalCache
    from assay.store.tables import artifacts, metrics, params, runs, stage_runs

    project = tmp_project.load()
    with store_connection(project.store_url) as conn:
        run = conn.execute(select(runs).where(runs.c.id == run_id)).one()
        assert (run.kind, run.trigger, run.status, run.exit_code) == ("pipeline", "ci", "succeeded", 0)
        assert run.actor == "tester@example.com"
        env = json.loads(LocalCache(project.cache_dir).read_bytes(run.env_hash))
        assert {"python", "platform", "packages"} <= set(env)
        assert "pydantic" in env["packages"]
        rows = {r.stage: r for r in conn.execute(select(stage_runs).where(stage_runs.c.run_id == run_id))}
        assert rows["train[model=rf]"].group == "train"
        rf = rows["train[model=rf]"].id
        assert conn.execute(select(params.c.key, params.c.value).where(params.c.stage_run_id == rf)).all() == [("train.trees", "5")]
        assert conn.execute(select(metrics.c.key, metrics.c.value).where(metrics.c.stage_run_id == rf)).all() == [("acc", 0.75)]
        kinds = {a.path: a.kind for a in conn.execute(select(artifacts).where(artifacts.c.stage_run_id == rf))}
        assert kinds == {"models/train-model-rf.txt": "out", "models/train-model-rf.json": "metrics"}
    assert (project.logs_dir / run_id / "train-model-rf.log").exists()


NOOP = "Pipeline is up to date (4 stages); nothing to run.\n"


def test_no_op_fast_path_decides_without_the_cli(tmp_project: TmpProject, monkeypatch: pytest.MonkeyPatch) -> None:
    three_stages(tmp_project)
    assert tmp_project.invoke("run").code == 0
    monkeypatch.chdir(tmp_project.root)
    assert dispatch(["run"]) == 0
    assert dispatch(["run", "--force"]) is None
    assert dispatch(["run", "--profile", "ci"]) is None  # never ran fresh under ci
    (tmp_project.root / "data" / "prep.txt").write_text("x\n")
    assert dispatch(["run"]) is None
    assert tmp_project.invoke("run").code == 0
    assert dispatch(["run"]) == 0
    tmp_project.gen({"params.yaml": {"seed": 7, "prep": {"rows": 4}, "train": {"trees": 5}}})
    assert dispatch(["run"]) is None


def test_a_no_op_run_prints_one_line_and_records_nothing(tmp_project: TmpProject) -> None:
    three_stages(tmp_project)
    assert tmp_project.run("run").returncode == 0
    runs_before = _run_ids(tmp_project)
    for env in ({}, {"ASSAY_NO_FASTPATH": "1"}):  # the shortcut, then the full path
        again = tmp_project.run("run", env=env)
        assert (again.returncode, again.stdout, again.stderr) == (0, NOOP, "")
    assert _run_ids(tmp_project) == runs_before and len(runs_before) == 1
    assert sorted(runs_log(tmp_project)) == sorted(
        ["prep", "train[model=rf]", "train[model=lr]", "report"])


def _run_ids(project: TmpProject) -> list[str]:
    import sqlite3

    conn = sqlite3.connect(project.root / ".assay" / "assay.db")
    try:
        return [r[0] for r in conn.execute("SELECT id FROM runs ORDER BY started_at")]
    finally:
        conn.close()


def test_library_run_and_profile(tmp_project: TmpProject) -> None:
    three_stages(tmp_project)
    result = run_pipeline(tmp_project.load(), profile="ci", jobs=2)
    assert result.status == "succeeded" and result.exit_code == 0
    assert read_lock(tmp_project.root, "ci")["prep"].params == {"prep.rows": 3}
    assert read_lock(tmp_project.root) == {}


def test_dag_formats(tmp_project: TmpProject) -> None:
    three_stages(tmp_project)
    mermaid = tmp_project.invoke("dag", "--format", "mermaid").stdout
    assert mermaid.startswith("flowchart LR")
    assert 's1["train[model=rf]"]' in mermaid and "s0 --> s1" in mermaid
    dot = tmp_project.invoke("dag", "--format", "dot").stdout
    assert '"train[model=lr]" -> "report";' in dot
    tree = tmp_project.invoke("dag").stdout
    assert "train[model=rf]" in tree and "report" in tree
    assert tmp_project.invoke("dag", "--format", "png").code == 2


def test_stage_env_vars_reach_commands(tmp_project: TmpProject) -> None:
    tmp_project.config(stages={"e": {
        "cmd": "env | grep ^ASSAY_ | sort > env.txt; echo $GREETING >> env.txt",
        "outs": ["env.txt"], "env": {"GREETING": "hello"}}})
    assert tmp_project.invoke("run").code == 0
    text = (tmp_project.root / "env.txt").read_text()
    for var in ("ASSAY_PROJECT=", "ASSAY_STORE_URL=", "ASSAY_RUN_ID=", "ASSAY_STAGE_RUN_ID=",
                "ASSAY_STAGE=e", "ASSAY_PROFILE="):
        assert var in text
    assert text.rstrip().endswith("hello")
    assert os.environ.get("GREETING") is None
    assert Path(tmp_project.root / ".assay" / "logs").is_dir()


def test_stages_get_params_with_the_profile_overrides(tmp_project: TmpProject) -> None:
    tmp_project.gen({"params.yaml": {"prep": {"rows": 10}, "seed": 1}})
    tmp_project.config(
        stages={"p": {"cmd": "cat $ASSAY_PARAMS_FILE > p.json", "outs": ["p.json"],
                      "params": ["prep.rows"]}},
        profiles={"ci": {"params": {"prep.rows": 3}, "env": {"SAMPLE": "yes"}}},
    )
    assert tmp_project.invoke("run", "--profile", "ci").code == 0
    assert json.loads((tmp_project.root / "p.json").read_text()) == {"prep": {"rows": 3}, "seed": 1}
    assert tmp_project.invoke("run").code == 0
    assert json.loads((tmp_project.root / "p.json").read_text()) == {"prep": {"rows": 10}, "seed": 1}


def test_live_and_plain_views_render_every_state(capsys: pytest.CaptureFixture[str]) -> None:
    from assay.pipeline import LiveReporter, PlainReporter

    for reporter in (LiveReporter(["a", "b[x=1]"]), PlainReporter()):
        reporter.message("hello")
        reporter.stage_started("a", 1)
        reporter.stage_output("a", "working")
        reporter.stage_finished("a", "succeeded", 0.1)
        reporter.stage_started("b[x=1]", 2)
        reporter.stage_finished("b[x=1]", "failed", 0.2, "exited with code 1")
        reporter.close()
    err = capsys.readouterr().err
    assert "hello" in err and "b[x=1]" in err
    assert "x b[x=1]: failed (0.20s): exited with code 1" in err
    assert "  [a] working" in err


def test_output_is_not_wrapped_when_stdout_is_not_a_terminal(tmp_project: TmpProject) -> None:
    long = "data/" + "x" * 120 + ".csv"
    tmp_project.gen({long: "1\n"})
    tmp_project.config(stages={"a": {"cmd": "true", "deps": [long]}})
    assert tmp_project.invoke("run").code == 0
    tmp_project.gen({long: "2\n"})
    assert f"a: would run: dep '{long}' changed\n" in tmp_project.invoke("run", "--dry-run").stdout
    assert f"  - dep '{long}' changed\n" in tmp_project.invoke("status").stdout
    help_text = tmp_project.invoke("run", "--help").stdout
    assert ("assay run --profile ci         # the CI profile's stages with its param overrides"
            in help_text)


def test_run_records_are_the_same_on_every_store(project_on: TmpProject) -> None:
    from sqlalchemy import select

    from assay.store.tables import artifacts, metrics, params, runs, stage_runs

    three_stages(project_on)
    first = project_on.invoke("run", "--json")
    assert first.code == 0, first.output
    again = project_on.invoke("run", "--json", "--force", "prep")
    assert again.code == 0, again.output
    with store_connection(project_on.store_url or "") as conn:
        assert sorted(conn.execute(select(runs.c.status)).scalars()) == ["succeeded"] * 2
        rows = conn.execute(select(stage_runs.c.stage, stage_runs.c.status, stage_runs.c.cached,
                                   stage_runs.c.details)).all()
        assert sorted((r.stage, r.status, r.cached, r.details) for r in rows) == [
            ("prep", "succeeded", False, {}), ("prep", "succeeded", False, {}),
            ("report", "succeeded", False, {}), ("train[model=lr]", "succeeded", False, {}),
            ("train[model=rf]", "succeeded", False, {})]
        assert sorted(conn.execute(select(params.c.key, params.c.value)).all()) == [
            ("prep.rows", "10"), ("prep.rows", "10"), ("train.trees", "5"), ("train.trees", "5")]
        assert sorted(conn.execute(select(metrics.c.key, metrics.c.value)).all()) == [
            ("acc", 0.75), ("acc", 0.75)]
        assert len(conn.execute(select(artifacts.c.hash)).all()) == 7


def test_a_stage_rerun_after_a_change_is_up_to_date_afterwards(tmp_project: TmpProject) -> None:
    three_stages(tmp_project)
    assert tmp_project.invoke("run").code == 0
    tmp_project.gen({"params.yaml": {"seed": 7, "prep": {"rows": 10}, "train": {"trees": 9}}})
    assert tmp_project.invoke("run").code == 0  # reruns train[*], which have deps and entries
    assert json.loads(tmp_project.invoke("status", "--json").stdout)["stale"] == []
    assert set(_statuses(json.loads(tmp_project.invoke("run", "--json").stdout)).values()) == {
        "up-to-date"}


def test_the_default_profile_takes_the_no_op_fast_path_of_a_plain_run(
    tmp_project: TmpProject, monkeypatch: pytest.MonkeyPatch,
) -> None:
    three_stages(tmp_project)
    assert tmp_project.invoke("run").code == 0
    monkeypatch.chdir(tmp_project.root)
    assert dispatch(["run", "--profile", "default"]) == 0
    assert dispatch(["run", "--profile=default"]) == 0


def test_a_cold_run_never_imports_sqlalchemy(tmp_project: TmpProject) -> None:
    """A new SQLite store gets its schema, and every record, through plain sqlite3."""
    import sqlite3

    from tests.data.test_fastpath import heavy, probe

    three_stages(tmp_project)
    done = probe(tmp_project, "run")
    assert done.returncode == 0, done.stderr
    assert "sqlalchemy" not in heavy(done)
    conn = sqlite3.connect(tmp_project.root / ".assay" / "assay.db")
    statuses = [r[0] for r in conn.execute("SELECT status FROM stage_runs")]
    conn.close()
    assert statuses == ["succeeded"] * 4


def test_a_corrupt_store_stops_the_run_with_one_line(tmp_project: TmpProject) -> None:
    three_stages(tmp_project)
    (tmp_project.root / ".assay" / "assay.db").write_bytes(b"garbage" * 1000)
    done = tmp_project.run("run")
    assert done.returncode == 3
    assert done.stderr.count("\n") == 1 and "not a database" in done.stderr
    assert not (tmp_project.root / "assay.lock").exists()
    assert not (tmp_project.root / "runs.log").exists()
