"""User text keeps its square brackets in every rich output, and nothing wraps in a pipe."""

from __future__ import annotations

import io
import json
import os
import re
import select
import subprocess
import sys
import time

import pytest

from assay._console import NON_TTY_WIDTH, PlainLines, escape, make_console, plain
from tests.conftest import TmpProject

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
TRICKY = ["train[model=lr]", "^[a-z0-9]+@[a-z.]+$", "[bold]not bold[/bold]", "a\\[b]", "ends\\",
          "[/]", "x[@y]", "[1, 2]"]


@pytest.mark.parametrize("text", TRICKY, ids=range(len(TRICKY)))
def test_escaped_text_prints_literally_on_a_terminal(text: str) -> None:
    buf = io.StringIO()
    console = make_console(buf, force_terminal=True, color_system="truecolor")
    console.print(f"[bold]{escape(text)}[/bold]")
    assert "\x1b[" in buf.getvalue()  # a terminal: markup became styles
    assert ANSI.sub("", buf.getvalue()) == text + "\n"


@pytest.mark.parametrize("text", TRICKY, ids=range(len(TRICKY)))
def test_plain_lines_show_what_rich_shows(text: str) -> None:
    buf = io.StringIO()
    PlainLines(buf).print(f"[yellow]{escape(text)}[/]: stale")
    assert buf.getvalue() == f"{text}: stale\n"
    assert plain(f"{escape(text)}[/]") == text


def test_a_console_on_a_pipe_never_wraps() -> None:
    buf = io.StringIO()
    console = make_console(buf)
    assert console.width == NON_TTY_WIDTH
    console.print("word " * 60)
    assert buf.getvalue().count("\n") == 1


def _matrix_project(project: TmpProject) -> TmpProject:
    project.config(stages={
        "train": {"matrix": {"model": ["lr", "rf"]},
                  "cmd": "echo ${matrix.model} > out-${matrix.model}.txt",
                  "outs": ["out-${matrix.model}.txt"]},
    })
    return project


def _in_a_terminal(project: TmpProject, *args: str) -> str:
    """Run ``assay ARGS`` with a real pseudo-terminal as stdout and stderr."""
    import pty

    main, child = pty.openpty()
    env = {**os.environ, **project.env, "TERM": "xterm-256color", "COLUMNS": "100"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, "-m", "assay", *args], cwd=project.root, env=env,
                            stdin=subprocess.DEVNULL, stdout=child, stderr=child)
    os.close(child)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 1.0)
        if ready:
            try:
                data = os.read(main, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    proc.wait(timeout=30)
    os.close(main)
    return ANSI.sub("", b"".join(chunks).decode(errors="replace")).replace("\r", "")


def test_matrix_candidates_keep_their_names_in_a_terminal(tmp_project: TmpProject) -> None:
    project = _matrix_project(tmp_project)
    status = _in_a_terminal(project, "status")
    assert "train[model=lr]: stale" in status and "train[model=rf]: stale" in status
    dag = _in_a_terminal(project, "dag")
    assert "train[model=lr]" in dag


def test_status_in_a_pipe_keeps_the_names(tmp_project: TmpProject) -> None:
    result = _matrix_project(tmp_project).invoke("status")
    assert "train[model=lr]: stale" in result.stdout, result.output


def _email_contract(project: TmpProject) -> None:
    from tests.contracts.conftest import people, write_contract

    (project.root / "data").mkdir(exist_ok=True)
    frame = people()
    long_name = "a_rather_long_column_name_that_would_wrap_at_eighty_columns"
    frame = frame.with_columns(frame["email"].str.replace("user1@", "User1@")).rename(
        {"city": long_name})
    frame.write_parquet(project.root / "data" / "people.parquet")
    write_contract(project.root, "people", {"columns": {
        "email": {"regex": "^[a-z0-9]+@[a-z.]+$"},
        long_name: {"allowed": ["oslo", "rome"]},
    }})


def test_a_regex_check_keeps_its_brackets_on_a_forced_terminal(tmp_project: TmpProject) -> None:
    _email_contract(tmp_project)
    result = tmp_project.invoke("validate", "data/people.parquet", "--contract",
                                "contracts/people.yaml", env={"FORCE_COLOR": "1"})
    assert result.code == 1, result.output
    assert "\x1b[" in result.stdout  # rendered as on a terminal
    shown = ANSI.sub("", result.stdout)
    assert "^[a-z0-9]+@[a-z.]+$" in shown
    assert "'^+@+$'" not in shown


def _table_lines(text: str, *keys: str) -> list[str]:
    return [line for line in text.splitlines() if any(key in line for key in keys)]


def test_validate_table_does_not_wrap_in_a_pipe(tmp_project: TmpProject) -> None:
    _email_contract(tmp_project)
    result = tmp_project.invoke("validate", "data/people.parquet", "--contract",
                                "contracts/people.yaml", env={"COLUMNS": "80"})
    assert result.code == 1
    check = "columns.a_rather_long_column_name_that_would_wrap_at_eighty_columns.allowed"
    rows = _table_lines(result.stdout, check)
    assert rows and all("rows fail" in row or "e.g." in row for row in rows), result.stdout
    regex = _table_lines(result.stdout, "columns.email.regex")
    assert any("^[a-z0-9]+@[a-z.]+$" in row for row in regex), result.stdout


def test_eval_report_shows_bracketed_candidates_unwrapped(tmp_project: TmpProject) -> None:
    from tests.registry.worlds import report_for

    report = report_for("0" * 64, candidate="train[model=logistic_regression_with_a_long_name]")
    report["primary_metric"] = {"name": "roc_auc", "dataset": "holdout", "slice": "all"}
    report["candidates"][0]["comparison"] = {}
    path = tmp_project.root / "evaluation.json"
    path.write_text(json.dumps(report))
    piped = tmp_project.invoke("eval", "report", "evaluation.json", env={"COLUMNS": "80"})
    assert piped.code == 0, piped.output
    rows = _table_lines(piped.stdout, "train[model=logistic_regression_with_a_long_name]")
    assert any("selected" in row and "0.800" in row for row in rows), piped.stdout
    assert "selected train[model=logistic_regression_with_a_long_name]" in piped.stdout
    forced = tmp_project.invoke("eval", "report", "evaluation.json", env={"FORCE_COLOR": "1"})
    assert "\x1b[" in forced.stdout
    assert "train[model=logistic_regression_with_a_long_name]" in ANSI.sub("", forced.stdout)


@pytest.fixture
def registry_project(tmp_project: TmpProject) -> TmpProject:
    from tests.registry.worlds import ML, POLICY, TEAM

    tmp_project.config(team=TEAM, promotion=POLICY)
    tmp_project.env["ASSAY_USER"] = ML
    return tmp_project


def _register(project: TmpProject, seed: int) -> None:
    from assay.objects import LocalCache
    from tests.registry.worlds import make_package, report_for

    package = make_package(project.root, f"models/m{seed}", seed=seed)
    oid = LocalCache(project.root / ".assay" / "cache").add_dir(package).oid
    report = report_for(oid, candidate="train[model=gradient_boosting_with_many_trees]")
    path = project.root / f"reports/e{seed}/evaluation.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report))
    result = project.invoke("models", "register", f"models/m{seed}", "--name", "churn",
                            "--evaluation", f"reports/e{seed}/evaluation.json")
    assert result.code == 0, result.output


def test_models_versions_and_diff_do_not_wrap_in_a_pipe(registry_project: TmpProject) -> None:
    _register(registry_project, 1)
    _register(registry_project, 2)
    env = {"COLUMNS": "80"}
    versions = registry_project.invoke("models", "versions", "churn", env=env)
    assert versions.code == 0, versions.output
    rows = _table_lines(versions.stdout, "v1", "v2")
    assert len(rows) == 2 and all("tester" in r or "@" in r for r in rows), versions.stdout
    assert all("roc_auc=0.8000 on holdout" in r for r in rows), versions.stdout
    diff = registry_project.invoke("models", "diff", "churn:1", "churn:2", "--all", env=env)
    assert diff.code == 0, diff.output
    lines = diff.stdout.splitlines()
    assert any(line.strip().startswith("metrics") and "/all/roc_auc" in line for line in lines), diff.stdout
    assert max(len(line) for line in lines) > 80  # one row per line, however wide


def test_a_rejection_reads_rejected(registry_project: TmpProject) -> None:
    from tests.registry.worlds import PLATFORM

    _register(registry_project, 1)
    result = registry_project.invoke("models", "reject", "churn:1", "--for", "production",
                                     "--comment", "see [ticket-1]", env={"ASSAY_USER": PLATFORM})
    assert result.code == 0, result.output
    assert "rejected churn:1 for production" in result.stdout
    shown = registry_project.invoke("models", "show", "churn:1")
    assert "rejected for production" in shown.stdout and "see [ticket-1]" in shown.stdout
    assert "rejectd" not in shown.stdout + result.stdout


def test_plain_drops_tags_and_undoes_escapes() -> None:
    assert plain("[bold]x[/bold] \\[y]") == "x [y]"


def test_the_live_run_table_keeps_whole_stage_names_in_a_narrow_terminal() -> None:
    from assay.pipeline._view import LiveReporter

    names = ["prepare", "train[model=logistic_regression]", "train[model=random_forest]"]
    reporter = LiveReporter(names)
    buf = io.StringIO()
    reporter.console = make_console(buf, force_terminal=True, width=80)
    reporter.rows[names[1]] = ["succeeded", None, 10.7, "trained [a] model " + "x" * 80]
    reporter.console.print(reporter._table())
    shown = ANSI.sub("", buf.getvalue()).splitlines()
    assert all(len(line) <= 80 for line in shown)
    assert any("train[model=logistic_regression]" in line and "succeeded" in line
               and "10.7s" in line and "trained [a] model" in line for line in shown), shown
    assert any("train[model=random_forest]" in line and "waiting" in line for line in shown)
