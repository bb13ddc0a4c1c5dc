"""Bad input at run time: failing, missing, hanging, lying stages; interrupts; concurrent runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from assay.errors import ConcurrencyError
from assay.pipeline import QuietReporter, read_lock, run_pipeline
from tests.conftest import TmpProject, store_connection


def _alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie waiting for a reaper that is not ours counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def _run_json(project: TmpProject, *args: str) -> tuple[int, dict[str, Any]]:
    result = project.invoke("run", "--json", *args)
    return result.code, json.loads(result.stdout)


def _by_stage(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["stage"]: s for s in body["stages"]}


FAILING = {
    "bad": {"cmd": "echo partial > bad.txt; exit 3", "outs": ["bad.txt"]},
    "after": {"cmd": "cat bad.txt > after.txt", "deps": ["bad.txt"], "outs": ["after.txt"]},
    "other": {"cmd": "sleep 0.3; echo ok > other.txt", "outs": ["other.txt"]},
}


def test_failing_stage_fails_fast_and_caches_nothing(tmp_project: TmpProject) -> None:
    tmp_project.config(stages=FAILING)
    code, body = _run_json(tmp_project, "-j", "2")
    assert code == 1
    stages = _by_stage(body)
    assert stages["bad"]["status"] == "failed"
    assert stages["bad"]["reason"] == "exited with code 3"
    assert stages["after"]["status"] == "skipped"
    assert body["status"] == "failed"
    assert "bad" not in read_lock(tmp_project.root)
    result = tmp_project.invoke("run")
    assert "stage 'bad' failed: exited with code 3" in result.stderr


def test_keep_going_runs_independent_stages(tmp_project: TmpProject) -> None:
    tmp_project.config(stages=FAILING)
    code, body = _run_json(tmp_project, "--keep-going", "-j", "1")
    assert code == 1
    stages = _by_stage(body)
    assert stages["other"]["status"] == "succeeded"
    assert stages["after"]["status"] == "skipped"
    assert set(read_lock(tmp_project.root)) == {"other"}


def test_command_not_found(tmp_project: TmpProject) -> None:
    tmp_project.config(stages={"a": {"cmd": "definitely-not-a-command-xyz"}})
    code, body = _run_json(tmp_project)
    assert code == 1
    assert _by_stage(body)["a"]["reason"] == "exited with code 127 (command not found)"


def test_timeout_kills_the_stage_and_its_children(tmp_project: TmpProject) -> None:
    tmp_project.config(stages={"hang": {"cmd": "sleep 30 & echo $! > child.pid; wait", "timeout": 0.5}})
    started = time.monotonic()
    code, body = _run_json(tmp_project)
    assert code == 1
    assert time.monotonic() - started < 10
    assert _by_stage(body)["hang"]["reason"] == "timed out after 0.5s"
    child = int((tmp_project.root / "child.pid").read_text())
    time.sleep(0.2)
    assert not _alive(child)


def test_retries_rerun_a_flaky_stage(tmp_project: TmpProject) -> None:
    flaky = "if [ -f tried ]; then echo ok > out.txt; else touch tried; exit 1; fi"
    tmp_project.config(stages={"flaky": {"cmd": flaky, "outs": ["out.txt"], "retries": 1}})
    code, body = _run_json(tmp_project)
    assert code == 0
    assert _by_stage(body)["flaky"]["attempts"] == 2


def test_stage_that_deletes_its_declared_out_fails(tmp_project: TmpProject) -> None:
    tmp_project.config(stages={"liar": {"cmd": "echo hi > o.txt; rm o.txt", "outs": ["o.txt"]}})
    code, body = _run_json(tmp_project)
    assert code == 1
    assert "declared out 'o.txt' was not written (or was deleted)" in _by_stage(body)["liar"]["reason"]
    assert read_lock(tmp_project.root) == {}


def test_failure_leaves_the_previous_lock_valid(tmp_project: TmpProject) -> None:
    tmp_project.config(stages={"a": {"cmd": "echo 1 > a.txt", "outs": ["a.txt"]}})
    assert tmp_project.invoke("run").code == 0
    before = (tmp_project.root / "assay.lock").read_text()
    tmp_project.config(stages={"a": {"cmd": "echo 2 > a.txt; exit 1", "outs": ["a.txt"]}})
    assert tmp_project.invoke("run").code == 1
    assert (tmp_project.root / "assay.lock").read_text() == before
    assert "out 'a.txt' modified" in tmp_project.invoke("status").stdout
    from assay.objects import LocalCache, hash_bytes

    assert not LocalCache(tmp_project.load().cache_dir).exists(hash_bytes(b"2\n"))


def test_corrupt_lock_file_is_a_clear_error(tmp_project: TmpProject) -> None:
    tmp_project.config(stages={"a": {"cmd": "true"}})
    (tmp_project.root / "assay.lock").write_text("{not json")
    result = tmp_project.invoke("status")
    assert result.code == 2
    assert "assay.lock is corrupt" in result.stderr


def test_interrupt_kills_children_and_records_the_run(tmp_project: TmpProject) -> None:
    tmp_project.config(stages={
        "slow": {"cmd": "echo $$ > stage.pid; sleep 30 & echo $! > child.pid; wait; echo x > o.txt",
                 "outs": ["o.txt"]},
    })
    proc = subprocess.Popen(
        [sys.executable, "-m", "assay", "run"], cwd=tmp_project.root,
        env={**os.environ, **tmp_project.env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not (tmp_project.root / "child.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Interrupted" in err
    child = int((tmp_project.root / "child.pid").read_text())
    assert not _alive(child)
    assert not (tmp_project.root / "o.txt").exists()
    assert read_lock(tmp_project.root) == {}
    from sqlalchemy import select

    from assay.store.tables import runs, stage_runs

    with store_connection(tmp_project.load().store_url) as conn:
        assert conn.execute(select(runs.c.status)).scalars().all() == ["interrupted"]
        assert conn.execute(select(stage_runs.c.status)).scalars().all() == ["interrupted"]


def test_sigterm_is_handled_like_ctrl_c(tmp_project: TmpProject) -> None:
    tmp_project.config(stages={"slow": {"cmd": "touch started; sleep 30"}})
    proc = subprocess.Popen(
        [sys.executable, "-m", "assay", "run"], cwd=tmp_project.root,
        env={**os.environ, **tmp_project.env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not (tmp_project.root / "started").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.terminate()
    proc.communicate(timeout=30)
    assert proc.returncode == 130


def test_second_run_refuses_with_no_wait_and_waits_otherwise(tmp_project: TmpProject) -> None:
    tmp_project.config(stages={"a": {"cmd": "echo 1 > a.txt", "outs": ["a.txt"]}})
    ready = tmp_project.root / "held"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from filelock import FileLock; "
        "lock = FileLock(sys.argv[1]); lock.acquire(); open(sys.argv[2], 'w').close(); "
        "time.sleep(1.5)"), str(tmp_project.root / ".assay" / "run.lock"), str(ready)])
    try:
        deadline = time.monotonic() + 20
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        result = tmp_project.invoke("run", "--no-wait")
        assert result.code == 1
        assert "Another assay run is in progress" in result.stderr
        with pytest.raises(ConcurrencyError, match="Another assay run"):
            run_pipeline(tmp_project.load(), wait=False)
        messages: list[str] = []

        class Capture(QuietReporter):
            def message(self, text: str) -> None:
                messages.append(text)

        result_lib = run_pipeline(tmp_project.load(), reporter=Capture())
        assert result_lib.status == "succeeded"
        assert any("Waiting for another assay run" in m for m in messages)
        assert holder.poll() is not None  # it only ran once the holder let go
    finally:
        holder.wait(timeout=20)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        pytest.param('{"m": 1', "metrics file 'm.json' is not valid JSON or YAML", id="truncated"),
        pytest.param("[1, 2]", "metrics file 'm.json' must hold a mapping of metrics (it is a "
                     "list)", id="not-a-mapping"),
        pytest.param("", "metrics file 'm.json' must hold a mapping of metrics (it is empty)",
                     id="empty"),
    ],
)
def test_malformed_metrics_file_fails_the_stage(tmp_project: TmpProject, content: str,
                                                reason: str) -> None:
    tmp_project.gen({"write.py": f"open('m.json', 'w').write({content!r})\n"})
    tmp_project.config(stages={"m": {"cmd": "python write.py", "metrics": ["m.json"]}})
    code, body = _run_json(tmp_project)
    assert code == 1
    assert _by_stage(body)["m"]["reason"].startswith(reason)
    assert read_lock(tmp_project.root) == {}


def test_two_real_runs_at_once_never_interleave(tmp_project: TmpProject) -> None:
    stages = {f"s{i}": {"cmd": f"echo $ASSAY_RUN_ID s{i} >> runs.log; sleep 0.5; "
                               f"echo $ASSAY_RUN_ID > o{i}.txt", "outs": [f"o{i}.txt"]}
              for i in range(4)}
    tmp_project.config(stages=stages)
    env = {**os.environ, **tmp_project.env}
    procs = [subprocess.Popen([sys.executable, "-m", "assay", "run", "--force", "-j", "2"],
                              cwd=tmp_project.root, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert any("Waiting for another assay run" in err for _, err in outputs)

    from sqlalchemy import select

    from assay.store.tables import runs, stage_runs

    with store_connection(tmp_project.load().store_url) as conn:
        first, second = conn.execute(select(runs).order_by(runs.c.started_at)).all()
        assert (first.status, second.status) == ("succeeded", "succeeded")
        assert first.ended_at <= second.started_at
        for run in (first, second):
            rows = conn.execute(select(stage_runs).where(stage_runs.c.run_id == run.id)).all()
            assert sorted(r.stage for r in rows) == ["s0", "s1", "s2", "s3"]
            assert all(run.started_at <= r.started_at <= r.ended_at <= run.ended_at
                       for r in rows)
    log = [line.split() for line in (tmp_project.root / "runs.log").read_text().splitlines()]
    assert [run_id for run_id, _ in log] == [first.id] * 4 + [second.id] * 4
    lock_entries = read_lock(tmp_project.root)
    assert set(lock_entries) == set(stages)
    from assay.objects import LocalCache

    cache = LocalCache(tmp_project.load().cache_dir)
    for i in range(4):
        out = tmp_project.root / f"o{i}.txt"
        assert out.read_text() == f"{second.id}\n"
        assert cache.read_bytes(lock_entries[f"s{i}"].outs[f"o{i}.txt"]) == out.read_bytes()
