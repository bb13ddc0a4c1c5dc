"""Built-in stages run in forks of a warm worker, with a subprocess's isolation: their own
session, environment, output, exit status, timeout and kill."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TmpProject


def _probes(project: TmpProject, **stages: dict[str, Any]) -> TmpProject:
    project.config(stages={name: {"kind": "probe", "out": f"out/{name}.json", **opts}
                           for name, opts in stages.items()})
    return project


def _seen(project: TmpProject, name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((project.root / "out" / f"{name}.json").read_text())
    return body


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_kinds_run_in_forks_of_one_worker_in_their_own_sessions(tmp_project: TmpProject) -> None:
    _probes(tmp_project, a={}, b={"needs": ["a"]}, c={"needs": ["b"]})
    result = tmp_project.invoke("run", "-j", "1")
    assert result.code == 0, result.output
    seen = [_seen(tmp_project, n) for n in "abc"]
    workers = {s["ppid"] for s in seen}
    assert len(workers) == 1 and os.getpid() not in workers  # one worker, not the runner
    assert len({s["pid"] for s in seen}) == 3
    for s in seen:
        assert s["sid"] == s["pgid"] == s["pid"]  # own session: kills reach its children
        assert s["cwd"] == str(tmp_project.root)
    assert not any(_alive(w) for w in workers)  # the worker ends with the run
    log = (tmp_project.root / ".assay" / "logs").rglob("b.log")
    text = next(log).read_text()
    assert f"probe b pid {seen[1]['pid']}" in text
    assert "Warning" not in text  # the worker imported kind_exec; runpy must not warn about it


def test_environment_and_module_state_do_not_leak_between_jobs(tmp_project: TmpProject) -> None:
    _probes(tmp_project, a={"set_env": {"PROBE_LEAK": "from a"}},
            b={"needs": ["a"], "set_env": {"PROBE_LEAK": "from b"}}, c={"needs": ["b"]})
    assert tmp_project.invoke("run", "-j", "1").code == 0
    for name in "abc":
        assert _seen(tmp_project, name)["leak"] is None
        assert _seen(tmp_project, name)["touched"] == []


def test_a_stage_env_gets_its_own_worker(tmp_project: TmpProject) -> None:
    _probes(tmp_project, plain={}, tuned={"env": {"PROBE_STAGE": "1"}, "needs": ["plain"]})
    assert tmp_project.invoke("run", "-j", "1").code == 0
    plain, tuned = _seen(tmp_project, "plain"), _seen(tmp_project, "tuned")
    assert (plain["stage_env"], tuned["stage_env"]) == (None, "1")
    assert plain["ppid"] != tuned["ppid"]  # imported under the stage's own environment


def test_a_crashing_stage_fails_with_its_traceback_in_its_log(tmp_project: TmpProject) -> None:
    _probes(tmp_project, boom={"crash": True})
    result = tmp_project.invoke("run", "--json")
    assert result.code == 1
    (stage,) = json.loads(result.stdout)["stages"]
    assert (stage["status"], stage["exit_code"]) == ("failed", 1)
    log = next((tmp_project.root / ".assay" / "logs").rglob("boom.log")).read_text()
    assert "RuntimeError: probe crashed on purpose" in log


def test_a_timed_out_stage_is_killed(tmp_project: TmpProject) -> None:
    _probes(tmp_project, slow={"sleep": 60, "timeout": 1})
    result = tmp_project.invoke("run", "--json")
    assert result.code == 1
    (stage,) = json.loads(result.stdout)["stages"]
    assert stage["reason"] == "timed out after 1s"
    assert not _alive(_seen(tmp_project, "slow")["pid"])


def test_a_failure_cancels_a_running_warm_stage(tmp_project: TmpProject) -> None:
    _probes(tmp_project, slow={"sleep": 60}, boom={"crash": True, "sleep": 1})
    result = tmp_project.invoke("run", "-j", "2", "--json")
    assert result.code == 1
    stages = {s["stage"]: s["status"] for s in json.loads(result.stdout)["stages"]}
    assert stages == {"slow": "cancelled", "boom": "failed"}
    assert not _alive(_seen(tmp_project, "slow")["pid"])


def test_the_worker_starts_while_upstream_stages_run(tmp_project: TmpProject) -> None:
    tmp_project.config(stages={
        "slow": {"cmd": "sleep 1.5 && echo x > slow.txt", "outs": ["slow.txt"]},
        "a": {"kind": "probe", "out": "out/a.json", "deps": ["slow.txt"]}})
    assert tmp_project.invoke("run").code == 0
    ticks = _seen(tmp_project, "a")["ticks"]
    if ticks["self"] is None:
        pytest.skip("no /proc here")
    hz = os.sysconf("SC_CLK_TCK")
    # the worker was started when 'slow' was, its fork only once 'slow' had finished
    assert (ticks["self"] - ticks["parent"]) / hz >= 1.0


def test_the_first_stages_worker_starts_before_planning(tmp_project: TmpProject,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROBE_PLANNED", raising=False)  # restored after planning sets it
    _probes(tmp_project, a={"plan_sleep": 1.5, "plan_sets_env": True},
            b={"needs": ["a"]})
    assert tmp_project.invoke("run", "-j", "1").code == 0
    a, b = _seen(tmp_project, "a"), _seen(tmp_project, "b")
    assert a["ppid"] == b["ppid"]  # one worker: the jobs start from the run's environment
    ticks = a["ticks"]
    if ticks["self"] is None:
        pytest.skip("no /proc here")
    hz = os.sysconf("SC_CLK_TCK")
    # the worker was started before the stage was planned, its fork only once it was
    assert (ticks["self"] - ticks["parent"]) / hz >= 1.0


@pytest.mark.parametrize("cached", [False, True], ids=["first-run", "settings-cached"])
def test_the_command_line_starts_the_worker_before_loading_the_cli(tmp_project: TmpProject,
                                                                  cached: bool) -> None:
    # a real `assay` process: its first lines start the worker (before Typer, the runner and,
    # with the settings cache, assay.yaml's validation), and the run takes that worker over
    _probes(tmp_project, a={}, b={"needs": ["a"]})
    if cached:
        assert tmp_project.run("run", "--dry-run").returncode == 0  # validates assay.yaml
        assert (tmp_project.root / ".assay" / "settings.json").is_file()
    done = tmp_project.run("run", "--force", "--json", "-j", "1")
    assert done.returncode == 0, done.stderr
    a, b = _seen(tmp_project, "a"), _seen(tmp_project, "b")
    assert a["ppid"] == b["ppid"]  # one worker
    assert a["run_id"] == json.loads(done.stdout)["run_id"]  # the job's own environment
    if a["worker_run_id"] is None:
        pytest.skip("no /proc here")
    assert a["worker_run_id"] == ""  # the worker started before the run had an id


def test_an_early_worker_is_taken_over_by_its_run_or_ended(tmp_path: Path) -> None:
    from assay.pipeline._executor import Job, LocalExecutor, start_early_worker

    def job(**env: str) -> Job:
        return Job(stage="s", command=[sys.executable, "-m", "json.tool"],
                   env={"PATH": os.environ.get("PATH", ""), **env}, cwd=tmp_path,
                   log_path=tmp_path / "s.log", warm=("json",))

    start_early_worker(job(ASSAY_RUN_ID=""))
    executor = LocalExecutor(1)
    try:
        (early,) = executor._early.values()
        executor.prewarm(job(ASSAY_RUN_ID="r1"))  # the run id aside, the same environment
        assert list(executor._warm.values()) == [early] and early.proc.poll() is None
    finally:
        executor.close()
    start_early_worker(job(ASSAY_RUN_ID="", OMP_NUM_THREADS="1"))
    executor = LocalExecutor(1)
    try:
        (early,) = executor._early.values()
        executor.prewarm(job(ASSAY_RUN_ID="r2"))  # another environment: a worker of its own
        assert early not in executor._warm.values()
        assert early.proc.wait(timeout=10) is not None  # the unused one is ended
    finally:
        executor.close()


def test_an_end_is_reported_while_the_worker_imports_ahead(tmp_path: Path) -> None:
    from assay.pipeline._warm_worker import WarmWorker

    (tmp_path / "slowmod.py").write_text("import time\ntime.sleep(4)\n")
    (tmp_path / "quickjob.py").write_text("print('done')\n")
    worker = WarmWorker(["slowmod"], env=dict(os.environ), cwd=str(tmp_path))
    try:
        started = time.monotonic()
        proc = worker.start("quickjob", [], env=dict(os.environ), cwd=str(tmp_path))
        assert proc.wait(timeout=30) == 0
        # with a free core the worker imports slowmod (4 s) meanwhile; the end is not held
        # back until that import is done
        assert time.monotonic() - started < 3.0
        assert proc.stdout.read() == b"done\n"
    finally:
        worker.close()


@pytest.mark.parametrize("value", ["1"], ids=["disabled"])
def test_no_warm_worker_runs_kinds_as_plain_subprocesses(tmp_project: TmpProject,
                                                         value: str) -> None:
    _probes(tmp_project, a={})
    assert tmp_project.invoke("run", env={"ASSAY_NO_WARM_WORKER": value}).code == 0
    assert _seen(tmp_project, "a")["ppid"] == os.getpid()


def test_a_warm_call_runs_once_in_the_worker_and_every_job_starts_with_its_result(
        tmp_path: Path) -> None:
    from assay.pipeline._warm_worker import WarmWorker

    (tmp_path / "warmcall.py").write_text(
        "import os\nCALLS = []\ndef prime():\n    CALLS.append(os.getpid())\n")
    (tmp_path / "checkjob.py").write_text(
        "import os, warmcall\nprint(warmcall.CALLS == [os.getppid()])\n")
    worker = WarmWorker(["warmcall:prime"], env=dict(os.environ), cwd=str(tmp_path))
    try:
        for _ in range(2):
            proc = worker.start("checkjob", [], env=dict(os.environ), cwd=str(tmp_path),
                                imports=("warmcall:prime",))
            assert proc.wait(timeout=30) == 0
            assert proc.stdout.read() == b"True\n"  # called in the worker, once
    finally:
        worker.close()


def test_a_broken_config_starts_no_worker_and_is_reported_by_the_run(
        tmp_project: TmpProject) -> None:
    # the command line's early start gives up on what it cannot load; the run says why
    tmp_project.gen({"assay.yaml": "project: test\nstages:\n  a: {kind: probe, out: [\n"})
    done = tmp_project.run("run", "--force")
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "assay.yaml" in lines[0], done.stderr
    assert not (tmp_project.root / "out").exists()
