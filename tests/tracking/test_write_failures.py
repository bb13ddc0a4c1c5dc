"""A value the tracking API acknowledged is written, or the caller hears why not: a failed write
keeps its rows and is raised at the next call, at flush() and at the end (exit status 1, run
``failed``), also on a real full disk; the queue is bounded; concurrent writers lose nothing."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TmpProject
from tests.tracking.scripts import python, script_env

REFUSED_WRITE = """
import json
import assay, assay.tracking
from assay.errors import TrackingError
from sqlalchemy import create_engine, text

run = assay.start_run(name="refused")
assay.log_metric("loss", 1.0, step=0)
assay.tracking.flush()
other = create_engine(run.store_url)
with other.begin() as conn:  # the run vanishes under us
    conn.execute(text("DELETE FROM stage_runs WHERE run_id = :id"), {"id": run.run_id})
    conn.execute(text("DELETE FROM runs WHERE id = :id"), {"id": run.run_id})
other.dispose()
assay.log_metric("loss", 2.0, step=1)  # acknowledged: queued
errors = {}
try:
    assay.tracking.flush()
except TrackingError as exc:
    errors["flush"] = str(exc)
try:
    assay.log_metric("loss", 3.0, step=2)
except TrackingError as exc:
    errors["call"] = str(exc)
print(json.dumps(errors), flush=True)
"""


def test_a_refused_write_is_raised_at_flush_the_next_call_and_the_exit(
        project_on: TmpProject) -> None:
    done = python(project_on, REFUSED_WRITE)
    errors = json.loads(done.stdout.splitlines()[-1])
    written = r"Tracking could not write 1 value\(s\) of run [0-9a-f]{8}: .*(?i:foreign key)"
    assert re.search(written, errors["flush"]) and errors["call"] == errors["flush"]
    assert "[SQL:" not in errors["flush"]  # one line, not the statement and its parameters
    assert done.returncode == 1, done.stderr
    assert re.match(r"error: 1 tracked value\(s\) of run [0-9a-f]{8} were not saved: ",
                    done.stderr.strip().splitlines()[-1])


FULL_DISK = """
import json, os, sys
import assay, assay.tracking
from assay.errors import TrackingError

filler, then = sys.argv[1], sys.argv[2]
run = assay.start_run(name="full")
assay.log_param("lr", 0.1)
for step in range(100):
    assay.log_metric("loss", float(step), step=step)
assay.tracking.flush()
fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
for size in (1 << 16, 512, 1):  # until not one byte fits
    try:
        while True:
            os.write(fd, b"\\0" * size)
    except OSError:
        pass
os.close(fd)
acked, refused = [], 0
for step in range(100, 20_100):
    try:
        assay.log_metric("loss", float(step), step=step)
        acked.append(step)
    except TrackingError:
        refused += 1
try:
    assay.tracking.flush()
    flush = "written"
except TrackingError as exc:
    flush = str(exc)
print(json.dumps({"acked": acked, "refused": refused, "flush": flush}), flush=True)
if then == "free-space":
    os.unlink(filler)
    assay.tracking.flush()
    run.end()
"""


def _read(db: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return list(conn.execute(sql))
    finally:
        conn.close()


@pytest.mark.parametrize("then", ["free-space", "stay-full"])
def test_a_full_disk_loses_no_acknowledged_value_and_the_run_always_ends(
        tmp_project: TmpProject, small_disk: Path, then: str) -> None:
    db = small_disk / "assay.db"
    tmp_project.env["ASSAY_STORE_URL"] = f"sqlite:///{db}"
    done = python(tmp_project, FULL_DISK, str(small_disk / "filler"), then)
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["flush"].endswith("then call assay.tracking.flush())")
    assert "database or disk is full" in report["flush"]
    assert report["refused"] > 0  # the failure reached the caller at its next calls
    assert len(report["acked"]) + report["refused"] == 20_000
    (small_disk / "filler").unlink(missing_ok=True)
    steps = [s for (s,) in _read(db, "SELECT step FROM metrics ORDER BY step")]
    statuses = _read(db, "SELECT r.status, s.status, s.details FROM runs r "
                         "JOIN stage_runs s ON s.run_id = r.id")
    assert _read(db, "SELECT key, value FROM params") == [("lr", "0.1")]
    if then == "free-space":  # kept in memory, then written: every acknowledged point
        assert done.returncode == 0, done.stderr
        assert steps == list(range(100)) + report["acked"]
        assert [s[:2] for s in statuses] == [("succeeded", "succeeded")]
        return
    # the end is still recorded (in the space reserved for it), and the caller is told
    assert done.returncode == 1
    assert "tracked value(s) of run" in done.stderr and "were not saved" in done.stderr
    assert steps == list(range(100))
    [(run_status, stage_status, details)] = statuses
    assert (run_status, stage_status) == ("failed", "failed")
    assert "database or disk is full" in json.loads(details)["reason"]
    assert not (small_disk / "assay.db.reserve").exists()  # spent on recording the end


BOUNDED = """
import sys, threading
import assay
from assay.tracking import _client

_client.QUEUE_LIMIT = 100
run = assay.start_run(name="bounded")
peak = 0

def log():
    global peak
    for step in range(300):
        assay.log_metric("x", float(step), step=step)
        peak = max(peak, run.writer.queued)

print("ready", flush=True)
sys.stdin.readline()  # the store is locked now
worker = threading.Thread(target=log)
worker.start()
worker.join(3)
print("waiting" if worker.is_alive() else "done", run.writer.queued, flush=True)
sys.stdin.readline()  # unlocked
worker.join()
run.end()
print(peak, flush=True)
"""


def test_a_fast_writer_waits_instead_of_queueing_without_bound(tmp_project: TmpProject) -> None:
    script = tmp_project.root / "script.py"
    script.write_text(BOUNDED)
    proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_project.root,
                            env=script_env(tmp_project), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    lock = sqlite3.connect(tmp_project.root / ".assay" / "assay.db", isolation_level=None)
    try:
        assert proc.stdout.readline() == "ready\n"
        lock.execute("BEGIN IMMEDIATE")  # nobody can write until we commit
        proc.stdin.write("go\n")
        proc.stdin.flush()
        state, queued = proc.stdout.readline().split()
        assert state == "waiting" and int(queued) <= 100  # not 300 points in memory
        lock.execute("COMMIT")
        out, err = proc.communicate("go\n", timeout=120)
    finally:
        lock.close()
        proc.kill()
    assert proc.returncode == 0, err
    assert int(out.split()[-1]) <= 100
    rows = _read(tmp_project.root / ".assay" / "assay.db",
                 "SELECT step, value FROM metrics ORDER BY id")
    assert rows == [(s, float(s)) for s in range(300)]


CONCURRENT = """
import json, sys
import assay
from assay.tracking import _client

_client.QUEUE_LIMIT = 200
i = sys.argv[1]
peak = 0
with assay.start_run(name="writer" + i) as run:
    assay.log_params({f"p{n}": n for n in range(20)})
    for step in range(1500):
        assay.log_metric("loss", step + int(i) / 10, step=step)
        peak = max(peak, run.writer.queued)
print(json.dumps({"peak": peak}))
"""


@pytest.mark.slow
def test_eight_concurrent_writers_lose_nothing_and_stay_bounded(tmp_project: TmpProject) -> None:
    python(tmp_project, "import assay\nassay.start_run(name='first').end()\n")  # the store
    script = tmp_project.root / "script.py"
    script.write_text(CONCURRENT)
    procs = [subprocess.Popen([sys.executable, str(script), str(i)], cwd=tmp_project.root,
                              env=script_env(tmp_project), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(8)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, [err for _, err in outputs]
    assert all(json.loads(out.splitlines()[-1])["peak"] <= 200 for out, _ in outputs)

    from assay.tracking import get_runs, list_runs, metric_history

    url = tmp_project.load().store_url
    rows = get_runs(url, [r.id for r in list_runs(url, limit=20) if r.stage != "first"])
    assert sorted(r.stage for r in rows) == [f"writer{i}" for i in range(8)]
    for row in rows:
        i = int(row.stage.removeprefix("writer"))
        assert row.status == "succeeded" and row.params == {f"p{n}": n for n in range(20)}
        assert [(s, v) for s, v, _ in metric_history(url, row.id, "loss")] == [
            (step, step + i / 10) for step in range(1500)]


def test_a_stage_whose_tracked_values_are_not_saved_fails(tmp_project: TmpProject) -> None:
    """Inside ``assay run`` the runner judges a stage by its exit status: a script whose values
    could not be written exits 1 with the reason, so its stage never ends ``succeeded``."""
    from assay.store import open_store

    db = tmp_project.root / ".assay" / "assay.db"
    open_store(f"sqlite:///{db}").close()
    conn = sqlite3.connect(db)
    conn.execute("CREATE TRIGGER poison BEFORE INSERT ON metrics WHEN NEW.key = 'poison' "
                 "BEGIN SELECT RAISE(ABORT, 'poisoned value refused'); END")
    conn.commit()
    conn.close()
    tmp_project.gen({"train.py": "import assay\nassay.log_metric('loss', 0.5)\n"
                                 "assay.log_metric('poison', 1.0)\nopen('m.txt', 'w').write('m')\n"})
    tmp_project.config(stages={"train": {"cmd": f"{sys.executable} train.py", "outs": ["m.txt"]}})
    result = tmp_project.invoke("run", "--json")
    assert result.code == 1, result.output
    [stage] = json.loads(result.stdout)["stages"]
    assert (stage["status"], stage["reason"]) == ("failed", "exited with code 1"), stage
    [log] = (tmp_project.root / ".assay").rglob("train*.log")
    assert re.search(r"error: 2 tracked value\(s\) of run [0-9a-f]{8} were not saved: poisoned "
                     r"value refused", log.read_text())
