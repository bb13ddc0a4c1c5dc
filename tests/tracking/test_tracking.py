"""The tracking API (batched writes, crash safety, pipeline attachment) and ``assay runs``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TmpProject

SCRIPT = """
import sys
import assay
with assay.start_run(name="explore", tags={"team": "growth"}):
    assay.log_params({"lr": 0.1, "model": sys.argv[1]})
    assay.log_param("depth", int(sys.argv[2]))
    for step in range(20):
        assay.log_metric("loss", 1.0 / (step + 1), step=step)
    assay.log_metrics({"roc_auc": float(sys.argv[3]), "accuracy": 0.8})
    assay.set_tag("stage", "dev")
    open("notes.txt", "w").write("hello")
    assay.log_artifact("notes.txt")
"""

CRASH = """
import assay
assay.log_param("lr", 0.5)
assay.log_metric("loss", 0.7, step=1)
raise RuntimeError("boom")
"""


def _python(project: TmpProject, code: str, *args: str) -> subprocess.CompletedProcess[str]:
    script = project.root / "script.py"
    script.write_text(code)
    return subprocess.run([sys.executable, str(script), *args], cwd=project.root,
                          env={**__import__("os").environ, **project.env},
                          capture_output=True, text=True, timeout=120, check=False)


def _list(project: TmpProject, *args: str) -> list[dict[str, object]]:
    result = project.invoke("runs", "list", "--json", *args)
    assert result.code == 0, result.output
    rows: list[dict[str, object]] = json.loads(result.stdout)
    return rows


def test_adhoc_run_records_everything(project_on: TmpProject) -> None:
    done = _python(project_on, SCRIPT, "rf", "4", "0.9")
    assert done.returncode == 0, done.stderr
    rows = _list(project_on)
    assert len(rows) == 1
    row = rows[0]
    assert row["stage"] == "explore" and row["status"] == "succeeded" and row["run_kind"] == "adhoc"
    assert row["params"] == {"lr": 0.1, "model": "rf", "depth": 4}
    assert row["metrics"] == {"loss": 0.05, "roc_auc": 0.9, "accuracy": 0.8}
    assert row["tags"] == {"team": "growth", "stage": "dev"}
    shown = json.loads(project_on.invoke("runs", "show", str(row["id"])[:8], "--json").stdout)[0]
    assert shown["artifacts"][0]["path"] == "notes.txt"
    assert shown["artifacts"][0]["size"] == 5


def test_crashing_script_keeps_what_it_logged(tmp_project: TmpProject) -> None:
    done = _python(tmp_project, CRASH)
    assert done.returncode == 1 and "boom" in done.stderr
    row = _list(tmp_project)[0]
    assert row["params"] == {"lr": 0.5}
    assert row["metrics"] == {"loss": 0.7}
    assert row["status"] == "failed"


def test_filters_show_compare_and_metric_history(tmp_project: TmpProject, tmp_path: Path) -> None:
    for model, depth, auc in (("rf", "4", "0.91"), ("lr", "2", "0.72"), ("gb", "6", "0.85")):
        assert _python(tmp_project, SCRIPT, model, depth, auc).returncode == 0
    assert [r["params"]["model"] for r in _list(tmp_project)] == ["gb", "lr", "rf"]  # type: ignore[index]
    assert [r["params"]["model"] for r in _list(tmp_project, "--metric", "roc_auc>0.8")] == ["gb", "rf"]  # type: ignore[index]
    assert [r["params"]["model"] for r in _list(tmp_project, "--metric", "roc_auc>=0.8", "--metric", "roc_auc<0.9")] == ["gb"]  # type: ignore[index]
    assert [r["params"]["model"] for r in _list(tmp_project, "--param", "model=lr")] == ["lr"]  # type: ignore[index]
    assert [r["params"]["model"] for r in _list(tmp_project, "--param", "depth=6")] == ["gb"]  # type: ignore[index]
    assert len(_list(tmp_project, "--tag", "team=growth", "--limit", "2")) == 2
    assert _list(tmp_project, "--stage", "nope") == []
    ids = [str(r["id"]) for r in _list(tmp_project)]

    compared = json.loads(tmp_project.invoke("runs", "compare", ids[0], ids[1], "--json").stdout)
    by_key = {row["key"]: row for row in compared["params"]}
    assert by_key["lr"] == {"key": "lr", "values": [0.1, 0.1], "differs": False}
    assert by_key["model"]["differs"] is True
    table = tmp_project.invoke("runs", "compare", ids[0], ids[1])
    assert table.code == 0 and "roc_auc" in table.stdout

    csv, png, html = tmp_path / "loss.csv", tmp_path / "loss.png", tmp_path / "loss.html"
    result = tmp_project.invoke("runs", "metric", ids[0], "loss", "--csv", csv, "--plot", png)
    assert result.code == 0, result.output
    lines = csv.read_text().splitlines()
    assert lines[0] == "step,value,timestamp" and len(lines) == 21
    assert lines[2].startswith("1,0.5,")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert tmp_project.invoke("runs", "metric", ids[0], "loss", "--plot", html).code == 0
    assert "<svg" in html.read_text()
    history = json.loads(tmp_project.invoke("runs", "metric", ids[0], "loss", "--json").stdout)
    assert [h["step"] for h in history["history"]] == list(range(20))
    shown = tmp_project.invoke("runs", "show", ids[0])
    assert "roc_auc" in shown.stdout and "notes.txt" in shown.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["list", "--metric", "roc_auc>>1"], "Bad metric filter", id="bad-metric-filter"),
        pytest.param(["list", "--param", "novalue"], "Bad --param filter", id="bad-param-filter"),
        pytest.param(["show", "ffffffff"], "No run 'ffffffff'", id="unknown-run"),
        pytest.param(["show", "../x"], "No run '../x'", id="junk-run"),
        pytest.param(["compare", "ffffffff"], "No run", id="compare-unknown"),
    ],
)
def test_bad_runs_arguments(tmp_project: TmpProject, args: list[str], message: str) -> None:
    result = tmp_project.invoke("runs", *args)
    assert result.code == 2
    assert message in result.stderr


def test_metric_errors(tmp_project: TmpProject, tmp_path: Path) -> None:
    assert _python(tmp_project, SCRIPT, "rf", "4", "0.9").returncode == 0
    run_id = str(_list(tmp_project)[0]["id"])
    missing = tmp_project.invoke("runs", "metric", run_id, "los")
    assert missing.code == 2 and "has no metric 'los'; did you mean 'loss'" in missing.stderr
    bad_plot = tmp_project.invoke("runs", "metric", run_id, "loss", "--plot", tmp_path / "x.gif")
    assert bad_plot.code == 2 and "--plot must end in .png or .html" in bad_plot.stderr


def test_library_api_outside_a_project_is_a_tracking_error(tmp_path: Path) -> None:
    code = "import assay\ntry:\n    assay.log_metric('x', 1)\nexcept Exception as e:\n    print(type(e).__name__, e)\n"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.stdout.startswith("TrackingError No active run and no assay project here")


def test_non_numeric_metric_is_rejected(tmp_project: TmpProject) -> None:
    from assay.errors import TrackingError
    from assay.tracking import log_metric

    with pytest.raises(TrackingError, match="Metric 'acc' must be a number, got 'high'"):
        log_metric("acc", "high")  # type: ignore[arg-type]


def test_stage_script_attaches_to_its_stage_run(tmp_project: TmpProject) -> None:
    (tmp_project.root / "train.py").write_text(
        "import assay, json\n"
        "assay.log_param('model', 'rf')\n"
        "for s in range(3):\n    assay.log_metric('loss', 1 - s / 10, step=s)\n"
        "run = assay.tracking.active_stage_run()\n"
        "run_id, stage_run_id, url = run\n"
        "json.dump({'stage_run_id': stage_run_id, 'stage': run.stage}, open('who.json', 'w'))\n"
    )
    tmp_project.config(stages={"train": {"cmd": f"{sys.executable} train.py", "outs": ["who.json"]}})
    assert tmp_project.invoke("run").code == 0
    who = json.loads((tmp_project.root / "who.json").read_text())
    rows = _list(tmp_project, "--stage", "train")
    assert rows[0]["id"] == who["stage_run_id"] and who["stage"] == "train"
    assert rows[0]["metrics"] == {"loss": 0.8}
    assert rows[0]["params"] == {"model": "rf"}
    assert rows[0]["run_kind"] == "pipeline"
