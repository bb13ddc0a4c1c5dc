"""``assay watch`` and ``assay triggers`` on a real project: a data trigger fires once per new
dataset version (SQLite and PostgreSQL), one watch per project, a graceful stop, and a watch
killed mid-run whose firing the next watch carries on, once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.conftest import TmpProject

STEP = """\
import os, pathlib, time
rows = pathlib.Path("data/d.csv").read_text().splitlines()
pathlib.Path("started").write_text(str(os.getpid()))
if os.path.exists("slow"):          # the first attempt of the restart test hangs here
    os.remove("slow")
    time.sleep(120)
pathlib.Path("out.txt").write_text(f"{len(rows) - 1} rows\\n")
"""


def data_project(project: TmpProject, **trigger: Any) -> TmpProject:
    project.gen({"step.py": STEP, "data/d.csv": "a\n1\n2\n"})
    project.config(
        datasets={"d": "data/d.csv"},
        stages={"step": {"cmd": f"{sys.executable} step.py", "deps": ["step.py", "d"],
                         "outs": ["out.txt"]}},
        triggers={"on-data": {"data": "d", **trigger}})
    added = project.invoke("data", "add", "data/d.csv")
    assert added.code == 0, added.output
    return project


def new_version(project: TmpProject, rows: int) -> None:
    (project.root / "data" / "d.csv").write_text("a\n" + "".join(f"{i}\n" for i in range(rows)))
    added = project.invoke("data", "add", "data/d.csv")
    assert added.code == 0, added.output


def history(project: TmpProject) -> list[dict[str, Any]]:
    done = project.invoke("triggers", "history", "--json")
    assert done.code == 0, done.output
    return list(json.loads(done.stdout))


def test_a_data_trigger_fires_once_per_new_version(project_on: TmpProject) -> None:
    project = data_project(project_on)
    first = project.invoke("watch", "--once")
    assert first.code == 0, first.output
    assert "watching 0 monitor(s) and 1 trigger(s) (on-data)" in first.stderr
    assert history(project) == []  # v1 was added before the trigger was armed
    listed = json.loads(project.invoke("triggers", "list", "--json").stdout)
    assert listed[0]["kind"] == "data" and listed[0]["armed_at"] is not None

    new_version(project, 5)
    fired = project.invoke("watch", "--once")
    assert fired.code == 0, fired.output
    assert "trigger on-data fired (#1): dataset d v2" in fired.stderr
    [firing] = history(project)
    assert firing["state"] == "done" and firing["reason"] == "the run succeeded"
    assert firing["cause"].startswith("data:d:") and firing["details"]["version"] == 2
    assert (project.root / "out.txt").read_text() == "5 rows\n"
    [stage_run] = json.loads(project.invoke("runs", "show", firing["run_id"], "--json").stdout)
    assert stage_run["trigger"] == "data" and stage_run["run_id"] == firing["run_id"]

    again = project.invoke("watch", "--once")
    assert again.code == 0, again.output
    assert len(history(project)) == 1  # the same cause never fires twice


def test_the_cause_is_kept_on_the_run(tmp_project: TmpProject) -> None:
    from assay.store import open_store

    project = data_project(tmp_project)
    assert project.invoke("watch", "--once").code == 0
    new_version(project, 3)
    assert project.invoke("watch", "--once").code == 0
    [firing] = history(project)
    loaded = project.load()
    with open_store(loaded.store_url) as store, store.read() as conn:
        details = conn.execute(_sql("SELECT details FROM runs WHERE id = :id"),
                               {"id": firing["run_id"]}).scalar()
    cause = (json.loads(details) if isinstance(details, str) else details)["cause"]
    assert cause["trigger"] == "on-data" and cause["firing"] == firing["id"]
    assert cause["kind"] == "data" and cause["cause"] == firing["cause"]


def _sql(text: str) -> Any:
    from assay.store.statements import _sql as make

    return make(text)


def test_fire_by_hand_and_its_dry_run(tmp_project: TmpProject) -> None:
    project = data_project(tmp_project)
    dry = project.invoke("triggers", "fire", "on-data", "--dry-run", "--json")
    assert dry.code == 0, dry.output
    plan = json.loads(dry.stdout)
    assert plan["stages"] == [{"stage": "step", "action": "run", "reasons": plan["stages"][0][
        "reasons"]}] and plan["deploy"] is None
    assert history(project) == [] and not (project.root / "out.txt").exists()
    fired = project.invoke("triggers", "fire", "on-data")
    assert fired.code == 0, fired.output
    [firing] = history(project)
    assert firing["kind"] == "manual" and firing["state"] == "done"
    [stage_run] = json.loads(project.invoke("runs", "show", firing["run_id"], "--json").stdout)
    assert stage_run["trigger"] == "manual"
    missing = project.invoke("triggers", "fire", "on-dat")
    assert missing.code == 2 and "did you mean 'on-data'" in missing.stderr


def _start_watch(project: TmpProject, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "assay", "watch", "--interval", "1s", *args],
        cwd=project.root, env={**os.environ, **project.env}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait_for(what: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = what()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_one_watch_per_project_and_a_graceful_stop(tmp_project: TmpProject) -> None:
    project = data_project(tmp_project)
    first = _start_watch(project)
    try:
        _wait_for(lambda: (project.root / ".assay" / "watch.lock").exists()
                  and (project.root / ".assay" / "watch.lock").read_text().strip())
        second = project.invoke("watch", "--once")
        assert second.code == 2
        assert f"another assay watch (pid {first.pid}) is running" in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=30)
    assert first.returncode == 0, err
    assert "stopped" in err
    again = project.invoke("watch", "--once")  # the lock went with the process
    assert again.code == 0, again.output


def test_a_killed_watch_leaves_its_firing_to_the_next_one_which_fires_it_once(
    tmp_project: TmpProject,
) -> None:
    project = data_project(tmp_project)
    watch = _start_watch(project)
    try:
        _wait_for(lambda: project.invoke("triggers", "list", "--json").code == 0 and json.loads(
            project.invoke("triggers", "list", "--json").stdout)[0]["armed_at"])
        (project.root / "slow").write_text("")
        (project.root / "started").unlink(missing_ok=True)
        new_version(project, 7)
        _wait_for(lambda: (project.root / "started").exists()
                  and not (project.root / "slow").exists())
        [firing] = history(project)
        assert firing["state"] == "running" and firing["attempts"] == 1
    finally:
        os.killpg(watch.pid, signal.SIGKILL)  # the watch, and its run's own processes
        watch.communicate(timeout=30)
    resumed = project.invoke("watch", "--once")
    assert resumed.code == 0, resumed.output
    assert "taking over from a watch that stopped (running, attempt 2)" in resumed.stderr
    [firing] = history(project)
    assert firing["state"] == "done" and firing["attempts"] == 2
    assert (project.root / "out.txt").read_text() == "7 rows\n"
    runs = json.loads(project.invoke("runs", "list", "--json").stdout)
    assert len({r["run_id"] for r in runs if r.get("trigger") == "data"}) >= 1
    again = project.invoke("watch", "--once")
    assert again.code == 0 and len(history(project)) == 1


def test_trigger_config_errors_name_the_line(tmp_project: TmpProject) -> None:
    cases = [
        ({"t": {"schedule": "61 * * * *"}}, "triggers.t.schedule: '61 * * * *' is not a cron"),
        ({"t": {"data": "d", "schedule": "* * * * *"}}, "a trigger takes exactly one cause"),
        ({"t": {"data": "e"}}, "triggers.t.data: 'e' is not a dataset under datasets:"),
        ({"t": {"data": "d", "profile": "nightly"}}, "triggers.t.profile: 'nightly' is not"),
        ({"t": {"data": "d", "deploy": "prod"}}, "triggers.t.deploy: 'prod' is not a "
                                                "deployment"),
        ({"t": {"data": "d", "severity": "error"}}, "severity: belongs to a monitor trigger"),
        ({"t": {"monitor": "m"}},
         "triggers.t.monitor: 'm' is not a deployment or dataset monitor"),
    ]
    for triggers, message in cases:
        tmp_project.config(datasets={"d": "data/d.csv"}, triggers=triggers)
        done = tmp_project.invoke("triggers", "list")
        assert done.code == 2, (triggers, done.output)
        assert message in done.stderr, (triggers, done.stderr)
        assert "assay.yaml:" in done.stderr


def test_watch_without_a_project_store_path_problem_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "assay", "watch", "--once", "--interval", "x"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
