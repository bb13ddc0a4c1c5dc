"""A SIGKILLed ``assay run``: its stages die with it, and the next run records it as interrupted
and does not start before the orphans are gone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from assay.pipeline._liveness import is_gone, runner_identity
from tests.conftest import TmpProject, store_connection

# Slow (a stage pid, a background child, a long wait) until the file `fast` exists; then it
# writes whether the first run's child still runs (`alive`) or not (`dead`).
STAGE = (
    "if [ -f fast ]; then "
    "s=$(cut -d' ' -f3 /proc/$(cat child.pid)/stat 2>/dev/null); "
    "if [ -z \"$s\" ] || [ \"$s\" = Z ]; then echo dead > o.txt; else echo alive > o.txt; fi; "
    "else echo $$ > stage.pid; sleep 30 & echo $! > child.pid; wait; echo late > o.txt; fi"
)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def _wait_for(path: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert path.exists(), f"{path.name} never appeared"


def test_sigkill_of_the_runner_kills_its_stages_and_is_recorded_next_time(
    tmp_project: TmpProject,
) -> None:
    tmp_project.config(stages={"slow": {"cmd": STAGE, "outs": ["o.txt"]}})
    runner = subprocess.Popen(
        [sys.executable, "-m", "assay", "run"], cwd=tmp_project.root,
        env={**os.environ, **tmp_project.env}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for(tmp_project.root / "child.pid")
    time.sleep(0.05)
    runner.send_signal(signal.SIGKILL)
    runner.wait(timeout=30)
    (tmp_project.root / "fast").touch()
    # at once: the second run waits on the lock until the watchdog has killed the orphans
    second = tmp_project.run("run")
    assert second.returncode == 0, second.stderr
    assert "An earlier run was recorded as interrupted" in second.stderr
    assert (tmp_project.root / "o.txt").read_text() == "dead\n"
    for name in ("stage.pid", "child.pid"):
        assert not _alive(int((tmp_project.root / name).read_text()))

    from sqlalchemy import select

    from assay.store.tables import runs, stage_runs

    with store_connection(tmp_project.load().store_url) as conn:
        rows = conn.execute(select(runs).order_by(runs.c.started_at)).all()
        assert [r.status for r in rows] == ["interrupted", "succeeded"]
        assert rows[0].details["runner"]["pid"] == runner.pid
        assert rows[0].details["reason"].startswith(f"its runner (pid {runner.pid} on ")
        assert rows[0].ended_at is not None
        first_stages = conn.execute(
            select(stage_runs.c.status, stage_runs.c.details)
            .where(stage_runs.c.run_id == rows[0].id)).all()
        assert [s.status for s in first_stages] == ["interrupted"]
    assert json.loads((tmp_project.root / "assay.lock").read_text())["stages"]["slow"]


def test_a_live_runner_is_never_taken_for_dead() -> None:
    me = runner_identity()
    assert is_gone(me) is False
    assert is_gone({**me, "start": (me["start"] or 0) + 1}) is True  # the pid was reused
    assert is_gone({**me, "host": "elsewhere"}) is False  # other hosts are not judged
    assert is_gone({**me, "boot": "another-boot"}) is True
    assert is_gone(None) is False


def test_running_runs_of_live_runners_are_left_alone(tmp_project: TmpProject) -> None:
    from sqlalchemy import select

    from assay.pipeline._liveness import interrupt_orphaned_runs
    from assay.pipeline._records import start_run
    from assay.store import open_store
    from assay.store.tables import runs

    store = open_store(tmp_project.load().store_url)
    start_run(store, run_id="live", kind="pipeline", trigger="manual", profile=None, root=None,
              env_hash=None, details={"runner": runner_identity()})
    dead = {**runner_identity(), "pid": 2**22 + 17}  # above any pid this machine hands out
    start_run(store, run_id="dead", kind="pipeline", trigger="manual", profile=None, root=None,
              env_hash=None, details={"runner": dead})
    assert [d["pid"] for d in interrupt_orphaned_runs(store)] == [dead["pid"]]
    with store_connection(store.url) as conn:
        assert dict(conn.execute(select(runs.c.id, runs.c.status)).all()) == {
            "live": "running", "dead": "interrupted"}
    assert interrupt_orphaned_runs(store) == []
    store.close()
