"""``assay runs``: list filters, show (git, trigger, profile, user, environment, exit codes,
timings), env, compare, metric export; bad arguments."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TmpProject
from tests.tracking.scripts import SCRIPT, list_json, python, show_json

TRAIN = ("import assay\nassay.log_param('model', 'rf')\n"
         "for s in range(3):\n    assay.log_metric('loss', 1 - s / 10, step=s)\n")


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-c", "user.name=Tester", "-c", "user.email=t@example.com",
                           *args], cwd=root, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _git_project(project: TmpProject) -> str:
    """Make the project a git repository with one commit; return the commit."""
    project.gen({".gitignore": ".assay/\nscript.py\nnotes.txt\n"})
    _git(project.root, "init", "-q")
    _git(project.root, "add", "-A")
    _git(project.root, "commit", "-q", "-m", "init")
    return _git(project.root, "rev-parse", "HEAD")


def _pipeline(project: TmpProject) -> None:
    project.gen({"train.py": TRAIN, "params.yaml": {"trees": 5}})
    project.config(
        stages={"train": {"cmd": f"{sys.executable} train.py", "params": ["trees"]},
                "broken": {"cmd": "exit 3", "needs": ["train"]}},
        profiles={"ci": {"params": {"trees": 2}}},
    )


def test_list_filters_by_param_metric_tag_and_stage(project_on: TmpProject) -> None:
    for model, depth, auc in (("rf", "4", "0.91"), ("lr", "2", "0.72"), ("gb", "6", "0.85")):
        assert python(project_on, SCRIPT, model, depth, auc).returncode == 0

    def models(*args: str) -> list[str]:
        return [r["params"]["model"] for r in list_json(project_on, *args)]

    assert models() == ["gb", "lr", "rf"]
    assert models("--metric", "roc_auc>0.8") == ["gb", "rf"]
    assert models("--metric", "roc_auc>=0.8", "--metric", "roc_auc<0.9") == ["gb"]
    assert models("--metric", "roc_auc>0.8", "--limit", "1") == ["gb"]
    assert models("--param", "model=lr") == ["lr"]
    assert models("--param", "depth=6") == ["gb"]
    assert models("--param", "depth=6", "--param", "model=rf") == []
    assert models("--tag", "team=growth", "--limit", "2") == ["gb", "lr"]
    assert models("--stage", "explore", "--metric", "accuracy==0.8") == ["gb", "lr", "rf"]
    assert models("--stage", "nope") == []
    table = project_on.invoke("runs", "list", "--metric", "roc_auc>0.8")
    assert table.code == 0 and "roc_auc" in table.stdout and "0.91" in table.stdout
    assert "0.72" not in table.stdout
    assert project_on.invoke("runs", "list", "--stage", "nope").stdout == "No runs match.\n"


def test_show_records_git_trigger_profile_user_environment_and_timings(
        tmp_project: TmpProject) -> None:
    _pipeline(tmp_project)
    commit = _git_project(tmp_project)
    assert tmp_project.invoke("run", "train", "--profile", "ci", "--trigger", "schedule").code == 0
    train = list_json(tmp_project, "--stage", "train")[0]
    assert {k: train[k] for k in ("git_commit", "git_dirty", "trigger", "profile", "user",
                                  "status", "exit_code", "run_status", "run_exit_code",
                                  "attempt", "run_kind")} == {
        "git_commit": commit, "git_dirty": False, "trigger": "schedule", "profile": "ci",
        "user": "tester@example.com", "status": "succeeded", "exit_code": 0,
        "run_status": "succeeded", "run_exit_code": 0, "attempt": 1, "run_kind": "pipeline"}
    assert train["params"] == {"trees": 2, "model": "rf"} and train["metrics"] == {"loss": 0.8}
    assert train["run_started_at"] <= train["started_at"] <= train["ended_at"] <= train[
        "run_ended_at"]
    assert train["duration"] == pytest.approx(train["ended_at"] - train["started_at"])
    assert train["run_duration"] == pytest.approx(train["run_ended_at"] - train["run_started_at"])
    assert len(train["env_hash"]) >= 32 and train["cache_key"] and train["log_path"]
    assert show_json(tmp_project, train["id"]) == [train]

    text = tmp_project.invoke("runs", "show", train["id"][:8])
    assert text.code == 0, text.output
    for expected in (f"commit: {commit[:12]}  user: tester@example.com",
                     f"environment: {train['env_hash'][:12]} (assay runs env {train['id'][:8]})",
                     "trigger schedule, profile ci", "exit code: 0  attempt: 1",
                     "status: succeeded  exit code: 0  started: "):
        assert expected in text.stdout
    assert "(dirty)" not in text.stdout

    (tmp_project.root / "params.yaml").write_text("trees: 7\n")  # a tracked file changes
    assert tmp_project.invoke("run", "train", "--trigger", "drift").code == 0
    again = list_json(tmp_project, "--stage", "train")[0]
    assert (again["git_commit"], again["git_dirty"], again["trigger"], again["profile"]) == (
        commit, True, "drift", None)
    assert f"commit: {commit[:12]} (dirty)" in tmp_project.invoke("runs", "show", again["id"]).stdout


def test_show_gives_a_failed_stage_its_exit_code_and_a_run_all_its_stages(
        tmp_project: TmpProject) -> None:
    _pipeline(tmp_project)
    assert tmp_project.invoke("run").code == 1
    broken = list_json(tmp_project, "--stage", "broken")[0]
    assert (broken["status"], broken["exit_code"], broken["run_status"],
            broken["run_exit_code"]) == ("failed", 3, "failed", 1)
    assert broken["git_commit"] is None and broken["git_dirty"] is None  # not a repository
    stages = show_json(tmp_project, broken["run_id"][:8])
    assert [s["stage"] for s in stages] == ["train", "broken"]
    text = tmp_project.invoke("runs", "show", broken["run_id"]).stdout
    assert "status: failed  exit code: 3" in text and "status: failed  exit code: 1" in text
    assert "commit: -" in text


def test_adhoc_run_records_git_state_and_its_environment(tmp_project: TmpProject) -> None:
    commit = _git_project(tmp_project)
    assert python(tmp_project, SCRIPT, "rf", "4", "0.9").returncode == 0
    row = list_json(tmp_project)[0]
    assert (row["git_commit"], row["git_dirty"], row["trigger"], row["user"]) == (
        commit, False, "manual", "tester@example.com")
    done = tmp_project.invoke("runs", "env", row["id"][:8], "--json")
    assert done.code == 0, done.output
    env = json.loads(done.stdout)
    assert (env["run_id"], env["env_hash"]) == (row["run_id"], row["env_hash"])
    assert env["environment"]["python"] == sys.version.split()[0]
    assert "typer" in env["environment"]["packages"]
    text = tmp_project.invoke("runs", "env", row["run_id"]).stdout
    assert text.startswith(f"run {row['run_id']}  environment {row['env_hash']}\n"
                           f"python {sys.version.split()[0]} (")
    assert f"  typer=={env['environment']['packages']['typer']}\n" in text


def test_runs_env_names_a_fingerprint_missing_from_the_cache(tmp_project: TmpProject) -> None:
    assert python(tmp_project, SCRIPT, "rf", "4", "0.9").returncode == 0
    row = list_json(tmp_project)[0]
    from assay.objects import LocalCache

    LocalCache(tmp_project.load().cache_dir).path_of(row["env_hash"]).unlink()
    done = tmp_project.invoke("runs", "env", row["id"])
    assert done.code == 1
    assert f"error: Environment {row['env_hash'][:12]} of run {row['run_id'][:8]} is not in " \
           "the cache" in done.stderr


NONE_OR_MISSING = """
import sys, assay
with assay.start_run(name=sys.argv[1]):
    assay.log_param("lr", 0.1)
    if sys.argv[1] == "with-none":
        assay.log_param("opt", None)
        assay.log_metric("auc", 0.9)
"""


def test_compare_tells_a_missing_key_from_a_none_value(tmp_project: TmpProject) -> None:
    for name in ("with-none", "without"):
        assert python(tmp_project, NONE_OR_MISSING, name).returncode == 0
    ids = [r["id"] for r in list_json(tmp_project)]  # newest first: without, with-none
    compared = json.loads(tmp_project.invoke("runs", "compare", ids[1], ids[0], "--json").stdout)
    assert compared["params"] == [
        {"key": "lr", "values": [0.1, 0.1], "missing": [False, False], "differs": False},
        {"key": "opt", "values": [None, None], "missing": [False, True], "differs": True},
    ]
    assert compared["metrics"] == [
        {"key": "auc", "values": [0.9, None], "missing": [False, True], "differs": True}]
    text = tmp_project.invoke("runs", "compare", ids[1], ids[0])
    assert text.code == 0
    opt = next(line for line in text.stdout.splitlines() if line.strip().startswith("opt"))
    assert opt.split() == ["opt", "None", "(missing)"]
    auc = next(line for line in text.stdout.splitlines() if line.strip().startswith("auc"))
    assert auc.split() == ["auc", "0.9", "(missing)"]


def test_metric_export_writes_files_and_says_so_in_one_line(tmp_project: TmpProject) -> None:
    assert python(tmp_project, SCRIPT, "rf", "4", "0.9").returncode == 0
    run_id = list_json(tmp_project)[0]["id"]
    result = tmp_project.invoke("runs", "metric", run_id, "loss", "--csv", "out/loss.csv",
                                "--plot", "loss.png")
    assert result.code == 0, result.output
    assert result.stdout.splitlines() == [
        f"Wrote 20 values of 'loss' (steps 0-19) from run {run_id[:8]} to out/loss.csv",
        f"Wrote 20 values of 'loss' (steps 0-19) from run {run_id[:8]} to loss.png",
    ]
    lines = (tmp_project.root / "out" / "loss.csv").read_text().splitlines()
    assert lines[0] == "step,value,timestamp" and len(lines) == 21
    assert lines[2].startswith("1,0.5,")
    assert (tmp_project.root / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = tmp_project.invoke("runs", "metric", run_id, "roc_auc", "--plot", "auc.html")
    assert html.stdout == f"Wrote 1 values of 'roc_auc' (step 0) from run {run_id[:8]} to auc.html\n"
    assert "<svg" in (tmp_project.root / "auc.html").read_text()
    plain = tmp_project.invoke("runs", "metric", run_id, "loss")
    assert plain.stdout.splitlines()[:2] == ["0\t1", "1\t0.5"]
    data = json.loads(tmp_project.invoke("runs", "metric", run_id, "loss", "--json").stdout)
    assert [h["step"] for h in data["history"]] == list(range(20))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["list", "--metric", "roc_auc>>1"], "Bad metric filter", id="bad-metric-filter"),
        pytest.param(["list", "--param", "novalue"], "Bad --param filter", id="bad-param-filter"),
        pytest.param(["list", "--tag", "=x"], "Bad --tag filter", id="bad-tag-filter"),
        pytest.param(["show", "ffffffff"], "No run 'ffffffff'", id="unknown-run"),
        pytest.param(["show", "../x"], "No run '../x'", id="junk-run"),
        pytest.param(["env", "ffff"], "No run 'ffff'", id="env-unknown-run"),
        pytest.param(["compare", "ffffffff"], "No run", id="compare-unknown"),
        pytest.param(["metric", "ffffffff", "loss"], "No run", id="metric-unknown-run"),
    ],
)
def test_bad_runs_arguments_exit_2_with_one_line(tmp_project: TmpProject, args: list[str],
                                                 message: str) -> None:
    result = tmp_project.invoke("runs", *args)
    assert result.code == 2
    assert message in result.stderr and len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["los"], "has no metric 'los'; did you mean 'loss'", id="unknown-key"),
        pytest.param(["loss", "--plot", "x.gif"], "--plot must end in .png or .html", id="plot-type"),
        pytest.param(["loss", "--csv", "../loss.csv"], "'..' is not allowed", id="csv-escapes"),
        pytest.param(["loss", "--csv", "/etc/loss.csv"], "is outside the project", id="csv-absolute"),
        pytest.param(["loss", "--plot", ".git/x.png"], "'.git' is not allowed", id="into-git"),
        pytest.param(["loss", "--csv", "out"], "--csv out is a directory", id="csv-directory"),
    ],
)
def test_metric_errors(tmp_project: TmpProject, args: list[str], message: str) -> None:
    assert python(tmp_project, SCRIPT, "rf", "4", "0.9").returncode == 0
    (tmp_project.root / "out").mkdir()
    run_id = list_json(tmp_project)[0]["id"]
    result = tmp_project.invoke("runs", "metric", run_id, *args)
    assert result.code == 2 and message in result.stderr
    assert sorted(p.name for p in tmp_project.root.iterdir()) == [
        ".assay", "assay.yaml", "notes.txt", "out", "script.py"]


def test_runs_commands_start_without_sqlalchemy_or_the_config_schema(
        tmp_project: TmpProject) -> None:
    assert python(tmp_project, SCRIPT, "rf", "4", "0.9").returncode == 0
    code = ("import json, sys\nfrom assay.cli import run\n"
            "codes = [run(['runs', 'list', '--metric', 'roc_auc>0.5', '--json']),"
            " run(['runs', 'show', sys.argv[1], '--json'])]\n"
            "sys.stderr.write(json.dumps({'codes': codes, 'modules': sorted(sys.modules)}))\n")
    done = python(tmp_project, code, list_json(tmp_project)[0]["id"])
    seen: dict[str, Any] = json.loads(done.stderr)
    assert seen["codes"] == [0, 0], done.stdout
    heavy = {"sqlalchemy", "alembic", "polars", "pandas", "sklearn", "rich", "yaml",
             "assay.config", "assay.tracking._client", "matplotlib"}
    assert sorted(m for m in seen["modules"] if m in heavy or m.split(".")[0] in heavy) == []


def test_runs_list_shows_filtered_then_headline_metrics_first() -> None:
    from assay.cli.runs import _shown_metrics

    logged = {"accuracy", "f1", "log_loss", "model_size_mb", "precision", "recall", "roc_auc",
              "train_accuracy", "train_seconds"}
    assert _shown_metrics(logged, []) == [
        "roc_auc", "accuracy", "f1", "log_loss", "model_size_mb", "precision"]
    assert _shown_metrics(logged, ["recall"]) == [
        "recall", "roc_auc", "accuracy", "f1", "log_loss", "model_size_mb"]
    assert _shown_metrics({"loss"}, ["loss", "missing"]) == ["loss"]
