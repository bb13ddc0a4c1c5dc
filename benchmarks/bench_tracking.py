"""Tracking benchmarks (issue 3).

1. 10,000 metric points and 100 params logged one call at a time, flushed and committed to the
   SQLite store (target < 0.3 s), side by side with MLflow's batch API (``log_batch``) on the
   same points with a SQLite backend. MLflow (pinned: ``MLFLOW_VERSION``) lives only in
   ``.venv-bench``, created and filled here on first use.
2. ``assay runs list`` over 10,000 runs with a metric filter, as a whole process (target
   < 0.5 s; best and median of several runs, since the machine may be shared).
3. ``start_run`` in a project whose store exists (target < 50 ms), timed inside the process
   (after ``import assay``; finding the project, git state, environment, opening the store and
   inserting the run all count), side by side with MLflow's ``start_run`` on an existing SQLite
   tracking store (its store opened before the timing: the comparison favours MLflow). Then
   10,000 points as 100 ``log_metrics`` batches of 100, flushed, against MLflow ``log_batch``.
4. 8 writer processes logging to one SQLite store at once (issue 11): for 10 s each logs single
   points as fast as it can and calls ``flush()`` every 1,000 points (target: flush() p99
   < 250 ms); then the same without flush() calls. Also the most values any writer held in
   memory (bounded by QUEUE_LIMIT) and a check that every point landed.

Run: .venv/bin/python benchmarks/bench_tracking.py [logging] [list] [start] [flush]
     (default: all; work files: benchmarks/.work/tracking)
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / ".work" / "tracking"
BENCH_VENV = ROOT / ".venv-bench"
PYTHON = str(ROOT / ".venv" / "bin" / "python")
if not Path(PYTHON).exists():  # a git worktree: no .venv of its own
    PYTHON = sys.executable
ENV = {**os.environ, "ASSAY_USER": "bench@example.com",
       # the assay of this checkout, whichever environment runs the benchmark
       "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"),
                                                   os.environ.get("PYTHONPATH")]))}
ENV.pop("ASSAY_STORE_URL", None)
POINTS, PARAMS, RUNS = 10_000, 100, 10_000
WRITERS, SECONDS, EVERY = 8, 10, 1_000
MLFLOW_VERSION = "3.17.2"
CLI_RUNS = 9

ASSAY_LOGGING = f"""
import time, json
import assay, assay.tracking
from assay.store import open_store
run = assay.start_run(name="bench")
open_store(run.store_url).close()          # connect + schema check outside the timing
started = time.perf_counter()
for i in range({PARAMS}):
    assay.log_param(f"p{{i}}", i)
for step in range({POINTS}):
    assay.log_metric("loss", 1.0 / (step + 1), step=step)
assay.tracking.flush()
elapsed = time.perf_counter() - started
run.end()
print(json.dumps({{"seconds": elapsed}}))
"""

MLFLOW_BATCH = f"""
import time, json, mlflow
from mlflow.entities import Metric, Param
mlflow.set_tracking_uri("sqlite:///mlflow.db")
client = mlflow.MlflowClient()
exp = client.create_experiment("bench")
run = client.create_run(exp)
now = int(time.time() * 1000)
params = [Param(f"p{{i}}", str(i)) for i in range({PARAMS})]
metrics = [Metric("loss", 1.0 / (s + 1), now, s) for s in range({POINTS})]
started = time.perf_counter()
client.log_batch(run.info.run_id, params=params[:100])
for i in range(0, len(metrics), 1000):          # MLflow caps a batch at 1,000 metrics
    client.log_batch(run.info.run_id, metrics=metrics[i:i + 1000])
elapsed = time.perf_counter() - started
print(json.dumps({{"seconds": elapsed}}))
"""


ASSAY_START = """
import time, json
import assay, assay.tracking
started = time.perf_counter()
run = assay.start_run(name="bench")
start = time.perf_counter() - started
started = time.perf_counter()
for step in range(100):
    assay.log_metrics({f"m{k}": 1.0 / (step + k + 1) for k in range(100)}, step=step)
assay.tracking.flush()
batch = time.perf_counter() - started
run.end()
print(json.dumps({"start": start, "batch": batch}))
"""

MLFLOW_START = """
import time, json, mlflow
from mlflow.entities import Metric
mlflow.set_tracking_uri("sqlite:///mlflow.db")
mlflow.set_experiment("bench")          # opens (and on first use creates) the store: untimed
started = time.perf_counter()
run = mlflow.start_run()
start = time.perf_counter() - started
client = mlflow.MlflowClient()
now = int(time.time() * 1000)
metrics = [Metric(f"m{k}", 1.0 / (s + k + 1), now, s) for s in range(100) for k in range(100)]
started = time.perf_counter()
for i in range(0, len(metrics), 1000):          # MLflow caps a batch at 1,000 metrics
    client.log_batch(run.info.run_id, metrics=metrics[i:i + 1000])
batch = time.perf_counter() - started
mlflow.end_run()
print(json.dumps({"start": start, "batch": batch}))
"""


def _project(name: str) -> Path:
    project = WORK / name
    project.mkdir(parents=True)
    (project / "assay.yaml").write_text("project: bench\n")
    (project / ".assay").mkdir()
    return project


def _python(exe: str, code: str, cwd: Path) -> dict[str, float]:
    done = subprocess.run([exe, "-c", code], cwd=cwd, env=ENV, capture_output=True, text=True,
                          check=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _mlflow_version(python: Path) -> str | None:
    done = subprocess.run([str(python), "-c", "import mlflow; print(mlflow.__version__)"],
                          capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def mlflow_python() -> tuple[Path, str] | None:
    """``.venv-bench``'s Python with MLflow ``MLFLOW_VERSION``, installing it on first use."""
    python = BENCH_VENV / "bin" / "python"
    version = _mlflow_version(python) if python.exists() else None
    if version == MLFLOW_VERSION:
        return python, version
    print(f"  (installing mlflow=={MLFLOW_VERSION} into {BENCH_VENV.name}; found: {version})")
    try:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"mlflow=={MLFLOW_VERSION}"],
                       check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"  (mlflow unavailable: {exc}; MLflow column skipped)")
        return None
    version = _mlflow_version(python)
    return (python, version) if version else None


def bench_logging() -> None:
    times = [_python(PYTHON, ASSAY_LOGGING, _project(f"log{i}"))["seconds"] for i in range(3)]
    assay_s = statistics.median(times)
    print(f"{POINTS:,} metric points + {PARAMS} params, one call at a time, flushed + committed:")
    print(f"  assay (SQLite)                 median {assay_s:6.3f} s  (target < 0.3 s)")
    found = mlflow_python()
    if found is None:
        return
    mlflow_py, version = found
    mlflow_s = statistics.median(
        _python(str(mlflow_py), MLFLOW_BATCH, _project(f"mlflow{i}"))["seconds"] for i in range(3))
    print(f"  MLflow {version} log_batch (SQLite) median {mlflow_s:6.3f} s")
    print(f"  assay is {mlflow_s / assay_s:.1f}x faster than MLflow's batch API")


def _git_repo(project: Path) -> None:
    """Make ``project`` a git repository with one commit (start_run records the commit)."""
    git = ["git", "-c", "user.email=bench@example.com", "-c", "user.name=bench"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "bench"]):
        subprocess.run([*git, *args], cwd=project, check=True, capture_output=True)


def bench_start() -> None:
    """``start_run`` on an existing store and 10,000 points in batches, beside MLflow."""
    runs = 7
    project = _project("start")
    _git_repo(project)
    _python(PYTHON, ASSAY_START, project)  # creates the store (and validates assay.yaml once)
    assay = [_python(PYTHON, ASSAY_START, project) for _ in range(runs)]
    start_s = statistics.median(r["start"] for r in assay)
    batch_s = statistics.median(r["batch"] for r in assay)
    print(f"start_run on an existing store, in-process, median of {runs} processes "
          "(git repository):")
    print(f"  assay (SQLite)                 median {start_s * 1000:6.1f} ms  (target < 50 ms)")
    found = mlflow_python()
    mlflow: list[dict[str, float]] = []
    if found is not None:
        mlflow_py, version = found
        mlflow_project = _project("mlflow-start")
        _git_repo(mlflow_project)
        _python(str(mlflow_py), MLFLOW_START, mlflow_project)
        mlflow = [_python(str(mlflow_py), MLFLOW_START, mlflow_project) for _ in range(runs)]
        mlflow_start = statistics.median(r["start"] for r in mlflow)
        print(f"  MLflow {version} start_run (SQLite) median {mlflow_start * 1000:6.1f} ms")
        print(f"  assay / MLflow: {start_s / mlflow_start:.2f}x")
    print("10,000 points as 100 log_metrics batches of 100 keys, flushed + committed:")
    print(f"  assay log_metrics              median {batch_s:6.3f} s")
    if mlflow:
        mlflow_batch = statistics.median(r["batch"] for r in mlflow)
        print(f"  MLflow log_batch               median {mlflow_batch:6.3f} s")
        print(f"  assay / MLflow: {batch_s / mlflow_batch:.2f}x")


def bench_list() -> None:
    project = _project("list")
    sys.path.insert(0, str(ROOT / "src"))
    from assay.store import open_store, statements

    store = open_store(f"sqlite:///{project / '.assay' / 'assay.db'}")
    now = time.time()
    with store.write() as conn:
        conn.executemany(statements.INSERT_RUN, [
            {"id": f"r{i:08d}", "kind": "adhoc", "trigger": "manual", "status": "succeeded",
             "actor": "bench", "started_at": now + i} for i in range(RUNS)])
        conn.executemany(statements.INSERT_STAGE_RUN, [
            {"id": f"s{i:08d}", "run_id": f"r{i:08d}", "stage": "train", "status": "succeeded",
             "started_at": now + i} for i in range(RUNS)])
        conn.executemany(statements.INSERT_METRIC, [
            {"stage_run_id": f"s{i:08d}", "key": key, "value": (i % 100) / 100,
             "value_kind": None, "step": 0, "ts": now}
            for i in range(RUNS) for key in ("roc_auc", "accuracy")])
        conn.executemany(statements.INSERT_PARAM, [
            {"stage_run_id": f"s{i:08d}", "key": "model", "value": json.dumps("rf")}
            for i in range(RUNS)])
    store.close()
    cli = [str(Path(PYTHON).with_name("assay")), "runs", "list", "--metric", "roc_auc>0.8"]
    print(f"assay runs list --metric 'roc_auc>0.8' over {RUNS:,} runs, whole process "
          f"({CLI_RUNS} runs):")
    for label, extra in (("--json", ["--json"]), ("table", [])):
        timings = []
        for _ in range(CLI_RUNS):
            started = time.perf_counter()
            subprocess.run([*cli, *extra], cwd=project, env=ENV, check=True, capture_output=True)
            timings.append(time.perf_counter() - started)
        print(f"  {label:<29}  best {min(timings):6.3f} s  median "
              f"{statistics.median(timings):6.3f} s  (target < 0.5 s)")
    bare = []
    for _ in range(5):
        started = time.perf_counter()
        subprocess.run([PYTHON, "-c", "pass"], env=ENV, check=True)
        bare.append(time.perf_counter() - started)
    print(f"  for scale: python -c pass        best {min(bare):6.3f} s")
    from assay.store import SqlAlchemyStore
    from assay.tracking import MetricFilter, list_runs

    url = f"sqlite:///{project / '.assay' / 'assay.db'}"
    store = SqlAlchemyStore(url)  # the same queries through the other implementation
    flt = [MetricFilter.parse("roc_auc>0.8")]
    for label, source in (("SqliteStore (the CLI)", url), ("SqlAlchemyStore", store)):
        query = []
        for _ in range(5):
            started = time.perf_counter()
            list_runs(source, metric_filters=flt, limit=20)
            query.append(time.perf_counter() - started)
        print(f"  the query, {label:<21} median {statistics.median(query):6.3f} s")
    store.close()


CONCURRENT_WRITER = f"""
import json, sys, time
import assay, assay.tracking
from assay.store import open_store
every = int(sys.argv[2])  # flush() every this many points; 0: never (the background writes)
run = assay.start_run(name="writer" + sys.argv[1])
open_store(run.store_url).close()
print("ready", flush=True)
sys.stdin.readline()  # every writer starts at once
latencies, peak, step = [], 0, 0
deadline = time.monotonic() + {SECONDS}
while time.monotonic() < deadline:
    for _ in range(1_000):
        assay.log_metric("loss", 1.0 / (step + 1), step=step)  # one point per call
        step += 1
        if step % 100 == 0:
            peak = max(peak, run.writer.queued)
    if every and step % every == 0:
        started = time.perf_counter()
        assay.tracking.flush()
        latencies.append(time.perf_counter() - started)
run.end()
print(json.dumps({{"latencies": latencies, "peak": peak, "points": step}}))
"""


def _writers(every: int) -> tuple[list[dict[str, Any]], float, int]:
    """Run WRITERS concurrent writer processes; (their reports, wall seconds, points stored)."""
    import sqlite3

    project = _project(f"concurrent{every}")
    _python(PYTHON, "import assay; assay.start_run(name='create').end(); print('{}')", project)
    procs = [subprocess.Popen([PYTHON, "-c", CONCURRENT_WRITER, str(i), str(every)], cwd=project,
                              env=ENV, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for i in range(WRITERS)]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    started = time.perf_counter()
    for proc in procs:  # all at once
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = [json.loads(proc.communicate(timeout=600)[0].splitlines()[-1]) for proc in procs]
    wall = time.perf_counter() - started
    db = sqlite3.connect(project / ".assay" / "assay.db")
    stored = int(db.execute("SELECT count(*) FROM metrics").fetchone()[0])
    db.close()
    return results, wall, stored


def bench_concurrent_flush() -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from assay.tracking._client import QUEUE_LIMIT

    print(f"{WRITERS} writer processes on one SQLite store, each logging single points flat out "
          f"for {SECONDS} s:")
    for every in (EVERY, 0):
        results, wall, stored = _writers(every)
        points = sum(r["points"] for r in results)
        peak = max(r["peak"] for r in results)
        if every:
            latencies = sorted(x for r in results for x in r["latencies"])

            def pct(p: float, latencies: list[float] = latencies) -> float:
                return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000

            print(f"  flush() every {every:,} points: {len(latencies)} flushes  p50 "
                  f"{pct(0.5):6.1f} ms  p99 {pct(0.99):6.1f} ms  max {latencies[-1] * 1000:6.1f} "
                  "ms  (target p99 < 250 ms)")
        else:
            print("  no flush() calls (the background thread writes):")
        print(f"    {points:,} points in {wall:.1f} s ({points / wall:,.0f}/s), {stored:,} stored "
              f"({'all' if stored == points else 'MISSING SOME'}); most values queued in one "
              f"writer: {peak:,} (QUEUE_LIMIT {QUEUE_LIMIT:,})")


BENCHES = {"logging": bench_logging, "list": bench_list, "start": bench_start,
           "flush": bench_concurrent_flush}


def main() -> None:
    chosen = sys.argv[1:] or list(BENCHES)
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    try:
        for name in chosen:
            BENCHES[name]()
    finally:
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
