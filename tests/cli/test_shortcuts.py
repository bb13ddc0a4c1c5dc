"""Fast answers are the same answers: each command the console script answers early gives, on
the same project, exactly what the full command gives with ``ASSAY_NO_FASTPATH=1``: stdout,
stderr, exit code, the rows of the store and the files it writes.

Both sides run as real processes of the console script (:mod:`assay._launcher`); the shortcut
side also reports which heavy libraries it loaded, to prove it did not take the full path.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TmpProject
from tests.data.test_fastpath import PROBE, heavy, probe

FULL = {"ASSAY_NO_FASTPATH": "1"}
VOLATILE = {"id", "ts", "created_at", "started_at", "ended_at"}


def rows(root: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the project's SQLite store, without ids, clock times and its identity."""
    conn = sqlite3.connect(root / ".assay" / "assay.db")
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'store_info' "
            "ORDER BY name")]  # store_info: each store's own random identity
        out = {}
        for table in tables:
            cursor = conn.execute(f'SELECT * FROM "{table}"')
            keep = [i for i, d in enumerate(cursor.description) if d[0] not in VOLATILE]
            out[table] = sorted((tuple(row[i] for i in keep) for row in cursor), key=repr)
        return out
    finally:
        conn.close()


def answers(project: TmpProject, *args: str) -> tuple[tuple[int, str, str], str]:
    """((exit code, stdout, stderr), heavy modules) of the console script's answer; elapsed
    seconds in ``data add``'s summary line are blanked."""
    done = probe(project, *args)
    stderr = "".join(f"{line}\n" for line in done.stderr.splitlines()
                     if not line.startswith("HEAVY="))
    return (done.returncode, _timeless(done.stdout), stderr), heavy(done)


def full(project: TmpProject, *args: str) -> tuple[int, str, str]:
    done = project.run(*args, env=FULL)
    return done.returncode, _timeless(done.stdout), done.stderr


def _timeless(text: str) -> str:
    return re.sub(r"\(\d+\.\d\d s\)", "(T s)", text)


# -- assay run -------------------------------------------------------------------------------


@pytest.fixture
def fresh_pipeline(tmp_project: TmpProject) -> TmpProject:
    """Two stages, run once (so every stage is up to date, under the ``ci`` profile too)."""
    tmp_project.gen({"params.yaml": {"rows": 3}, "src.txt": "input\n"})
    tmp_project.config(
        stages={
            "prep": {"cmd": "seq ${params.rows} > prep.txt && cat src.txt >> prep.txt",
                     "deps": ["src.txt"], "params": ["rows"], "outs": ["prep.txt"]},
            "count": {"cmd": "wc -l < prep.txt > count.txt", "deps": ["prep.txt"],
                      "outs": ["count.txt"]},
        },
        profiles={"ci": {"params": {"rows": 3}}},  # the same stages: up to date under ci too
    )
    # ci keeps its own lock: its first run restores the stages from the run cache (a recorded
    # run); the last two have nothing to do and leave the fresh markers
    for args in (["run"], ["run", "-p", "ci"], ["run"], ["run", "-p", "ci"]):
        assert tmp_project.run(*args, env=FULL).returncode == 0
    return tmp_project


@pytest.mark.slow
def test_a_no_op_run_answers_as_the_full_run_and_records_nothing(
        fresh_pipeline: TmpProject) -> None:
    before = rows(fresh_pipeline.root)
    for args in (["run"], ["run", "--profile", "default"], ["run", "-p", "ci"],
                 ["run", "--profile=ci"]):
        fast, loaded = answers(fresh_pipeline, *args)
        assert loaded == "", args  # answered by the shortcut
        assert rows(fresh_pipeline.root) == before, args
        assert full(fresh_pipeline, *args) == fast == (
            0, "Pipeline is up to date (2 stages); nothing to run.\n", ""), args
        assert rows(fresh_pipeline.root) == before, args


def test_a_run_with_work_to_do_is_left_to_the_full_run(fresh_pipeline: TmpProject) -> None:
    fresh_pipeline.gen({"src.txt": "changed\n"})
    done, loaded = answers(fresh_pipeline, "run")
    assert done[0] == 0 and "pydantic" in loaded
    assert len(rows(fresh_pipeline.root)["runs"]) == 2 + 1


# -- assay data status -----------------------------------------------------------------------


@pytest.fixture
def tracked(tmp_project: TmpProject) -> TmpProject:
    tmp_project.gen({"data/a.csv": "x\n1\n", "data/images/1.bin": b"1" * 100,
                     "data/images/2.bin": b"2" * 50})
    for args in (["data", "add", "data/a.csv"], ["data", "add", "data/images"],
                 ["data", "status"]):
        assert tmp_project.run(*args, env=FULL).returncode == 0
    return tmp_project


@pytest.mark.slow
def test_a_clean_data_status_answers_as_the_full_command(tracked: TmpProject) -> None:
    before = rows(tracked.root)
    for args in (["data", "status"], ["data", "status", "--json"]):
        fast, loaded = answers(tracked, *args)
        assert loaded == "", args
        assert full(tracked, *args) == fast, args
        assert fast[0] == 0 and fast[2] == "", args
        assert rows(tracked.root) == before, args


# -- assay data add --------------------------------------------------------------------------


def _twins(tmp_path: Path) -> tuple[TmpProject, TmpProject]:
    """Two projects in the same state: a validated assay.yaml and data tracked the same way."""
    twins = []
    for name in ("fast", "full"):
        project = TmpProject(tmp_path / name)
        (project.root / ".assay").mkdir(parents=True)
        project.config(datasets={"churn": {"path": "data/churn.csv"}})
        project.gen({"data/churn.csv": "a,b\n1,2\n", "data/new.txt": "new\n",
                     "data/folder/x.bin": b"x" * 10, "data/folder/y.bin": b"y" * 20,
                     "data/b.txt": "bbb\n", "data/folder2/z.bin": b"z" * 30})
        assert project.run("data", "add", "data/churn.csv", env=FULL).returncode == 0
        twins.append(project)
    return twins[0], twins[1]


def _files(project: TmpProject) -> dict[str, str]:
    return {p.relative_to(project.root).as_posix(): p.read_text()
            for p in [project.root / ".gitignore", *sorted(project.root.rglob("*.assay"))]
            if p.is_file()}


ADDS = [  # in this order, on both twins: each step starts from the same state
    ["data", "add", "data/churn.csv"],  # unchanged: answered from the data marker
    ["data", "add", "data/churn.csv", "--json"],
    ["data", "add", "data/new.txt", "-m", "why"],  # new data: added from the cached settings
    ["data", "add", "data/folder", "--name", "imgs"],
    ["data", "add", "data/b.txt", "data/folder2", "--json"],
    ["data", "add", "data/new.txt"],  # unchanged since the step above
    ["data", "add", "data/absent.txt"],  # errors: the same line and exit code
    ["data", "add", "data/b.txt", "--name=churn"],
    ["data", "add", "data/b.txt", "data/new.txt", "-n", "x"],
]


@pytest.mark.slow
def test_data_add_answers_and_records_as_the_full_command(tmp_path: Path) -> None:
    fast_project, full_project = _twins(tmp_path)
    codes = []
    for args in ADDS:
        fast, loaded = answers(fast_project, *args)
        assert "pydantic" not in loaded and "typer" not in loaded, args
        assert full(full_project, *args) == fast, args
        assert rows(fast_project.root) == rows(full_project.root), args
        assert _files(fast_project) == _files(full_project), args
        if "--json" in args:
            assert json.loads(fast[1])
        codes.append(fast[0])
    assert codes == [0, 0, 0, 0, 0, 0, 2, 2, 2]


def test_the_off_switch_turns_every_shortcut_off(tracked: TmpProject) -> None:
    tracked.env.update(FULL)
    for args in (["data", "status"], ["data", "add", "data/a.csv"], ["run"]):
        done = probe(tracked, *args)
        assert done.returncode == 0 and "pydantic" in heavy(done), args


# -- assay --help ----------------------------------------------------------------------------


def _help(cwd: Path, flag: str, env: dict[str, str]) -> tuple[tuple[int, str, str], str]:
    """((exit code, stdout, stderr), heavy modules) of ``assay FLAG`` into a pipe, with no
    terminal on stdin, stdout or stderr and none of the variables that change the rendering."""
    from assay.cli._front import RENDERING_ENV

    clean = {k: v for k, v in os.environ.items() if k not in RENDERING_ENV}
    done = subprocess.run([sys.executable, "-c", PROBE, flag], cwd=cwd, env={**clean, **env},
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          encoding="utf-8", timeout=120, check=False, start_new_session=True)
    stderr = "".join(f"{line}\n" for line in done.stderr.splitlines()
                     if not line.startswith("HEAVY="))
    return (done.returncode, done.stdout, stderr), heavy(done)


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_plain_help_is_the_generated_text_and_typer_prints_the_same(tmp_path: Path,
                                                                     flag: str) -> None:
    from assay.cli._help_text import TOP_HELP

    fast, loaded = _help(tmp_path, flag, {})
    assert loaded == ""  # answered from assay.cli._help_text
    full, loaded = _help(tmp_path, flag, FULL)
    assert "typer" in loaded
    # if this fails, the app's help changed: regenerate with python scripts/gen_help.py
    assert full == fast == (0, TOP_HELP, "")


def _help_in_a_terminal(cwd: Path, columns: int, env: dict[str, str]) -> tuple[bytes, str]:
    """(what the terminal shows, heavy modules loaded) of ``assay --help`` on a pseudo-terminal
    of ``columns`` columns (stdin, stdout and stderr)."""
    import fcntl
    import pty
    import struct
    import termios

    from assay.cli._front import RENDERING_ENV

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 25, columns, 0, 0))
    clean = {k: v for k, v in os.environ.items() if k not in RENDERING_ENV}
    proc = subprocess.Popen([sys.executable, "-c", PROBE, "--help"], cwd=cwd,
                            env={**clean, "TERM": "xterm-256color", **env}, stdin=follower,
                            stdout=follower, stderr=follower, start_new_session=True)
    os.close(follower)
    shown = b""
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the terminal's last writer is gone
            break
        if not data:
            break
        shown += data
    assert proc.wait(timeout=120) == 0
    os.close(leader)
    text, _, loaded = shown.decode().rpartition("HEAVY=")
    return text.encode(), loaded.strip()


def test_terminal_help_is_typers_rendering_remembered(tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    first, loaded = _help_in_a_terminal(tmp_path, 80, env)
    assert "typer" in loaded and b"\x1b[" in first  # rendered by Typer, in colour
    again, loaded = _help_in_a_terminal(tmp_path, 80, env)
    assert (again, loaded) == (first, "")  # the same bytes, without loading Typer
    full, _ = _help_in_a_terminal(tmp_path, 80, {**env, **FULL})
    assert full == first
    wide, loaded = _help_in_a_terminal(tmp_path, 120, env)
    assert "typer" in loaded and wide != first  # another terminal: rendered for it


def test_help_rendered_otherwise_is_left_to_typer(tmp_path: Path) -> None:
    wide, loaded = _help(tmp_path, "--help", {"COLUMNS": "120"})
    assert "typer" in loaded and wide[0] == 0
    assert max(len(line) for line in wide[1].splitlines()) == 120
    _, loaded = _help(tmp_path, "--help", {"FORCE_COLOR": "1"})
    assert "typer" in loaded
