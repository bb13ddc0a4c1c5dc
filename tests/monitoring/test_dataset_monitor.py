"""A dataset monitor: each new version of a dataset against its reference (by default its first
version), with the same drift engine and contract checks as a deployment's traffic; assay watch
computes a window per new version, and its finding can fire a trigger."""

from __future__ import annotations

import json
import sys

from tests.conftest import TmpProject
from tests.monitoring.worlds import training_frame


def _project(project: TmpProject, **monitor: object) -> TmpProject:
    (project.root / "data").mkdir(exist_ok=True)
    training_frame(3000, seed=0).write_parquet(project.root / "data" / "d.parquet")
    project.gen({"step.py": "open('out.txt', 'w').write('ok')\n"})
    project.config(
        datasets={"d": "data/d.parquet"},
        stages={"step": {"cmd": f"{sys.executable} step.py", "deps": ["step.py", "d"],
                         "outs": ["out.txt"]}},
        monitoring={"batches": {"dataset": "d", **monitor}},
        triggers={"on-drift": {"monitor": "batches", "cooldown": "1s"}})
    done = project.invoke("data", "add", "data/d.parquet")
    assert done.code == 0, done.output
    return project


def _new_version(project: TmpProject, seed: int, shift: float) -> None:
    path = project.root / "data" / "d.parquet"
    next_path = path.with_name("d.next.parquet")
    training_frame(3000, seed=seed, shift=shift).write_parquet(next_path)
    next_path.replace(path)  # a new file moved into place, never the cache's link edited
    done = project.invoke("data", "add", "data/d.parquet")
    assert done.code == 0, done.output


def test_each_new_version_is_compared_with_the_first(tmp_project: TmpProject) -> None:
    project = _project(tmp_project)
    first = project.invoke("monitor", "batches", "--json")
    assert first.code == 0, first.output
    window = json.loads(first.stdout)
    assert window["versions"] == ["v1"] and window["verdict"] == "no_drift"
    assert window["deployment"] == "" and window["model"] == "d"
    assert "prediction" not in [c["column"] for c in window["columns"]]
    _new_version(project, seed=1, shift=0.5)
    second = project.invoke("monitor", "batches", "--json")
    assert second.code == 1, second.output
    drifted = json.loads(second.stdout)
    assert drifted["versions"] == ["v2"] and drifted["verdict"] == "drift"
    assert [c["column"] for c in drifted["columns"] if c["status"] == "drift"] == ["a"]
    assert drifted["reference"].startswith("d@v1 ")
    assert drifted["start"] is None and drifted["rows"] == 3000
    rows = project.invoke("monitor", "batches", "--window-rows", "10")
    assert rows.code == 2 and "its window is the newest version" in rows.stderr


def test_watch_computes_a_window_per_new_version_and_fires_on_its_finding(
    tmp_project: TmpProject,
) -> None:
    project = _project(tmp_project)
    armed = project.invoke("watch", "--once", "--no-alerts")
    assert armed.code == 0, armed.output
    assert "monitor batches: window 1: no_drift" in armed.stderr
    again = project.invoke("watch", "--once", "--no-alerts")
    assert "monitor batches: window" not in again.stderr  # v1 was looked at already
    _new_version(project, seed=2, shift=0.6)
    fired = project.invoke("watch", "--once", "--no-alerts")
    assert fired.code == 0, fired.output
    assert "monitor batches: window 2: drift" in fired.stderr
    assert "trigger on-drift fired (#1): [warn] drift on batches (dataset d v2): a" in fired.stderr
    [firing] = json.loads(project.invoke("triggers", "history", "--json").stdout)
    assert firing["state"] == "done" and firing["cause"] == "window:2"


def test_dataset_monitor_config_errors(tmp_project: TmpProject) -> None:
    cases = [
        ({"dataset": "e"}, "monitoring.m.dataset: no dataset 'e' under datasets:"),
        ({"dataset": "d", "window": {"rows": 10}}, "window belong to a deployment monitor"),
        ({"dataset": "d", "deployment": "x"}, "a monitoring entry takes one of"),
    ]
    for entry, message in cases:
        tmp_project.config(datasets={"d": "data/d.parquet"}, monitoring={"m": entry})
        done = tmp_project.invoke("monitor", "m")
        assert done.code == 2, (entry, done.output)
        assert message in done.stderr, (entry, done.stderr)
