"""Tracking benchmarks (issue 3).

1. 10,000 metric points and 100 params logged one call at a time, flushed and committed to the
   SQLite store (target < 0.3 s), side by side with MLflow's batch API (``log_batch``) on the
   same points with a SQLite backend (MLflow lives only in ``.venv-bench``).
2. ``assay runs list`` over 10,000 runs with a metric filter (target < 0.5 s).

Run: .venv/bin/python benchmarks/bench_tracking.py   (work files: benchmarks/.work/tracking)
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

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / ".work" / "tracking"
BENCH_VENV = ROOT / ".venv-bench"
PYTHON = str(ROOT / ".venv" / "bin" / "python")
ENV = {**os.environ, "ASSAY_USER": "bench@example.com"}
ENV.pop("ASSAY_STORE_URL", None)
POINTS, PARAMS, RUNS = 10_000, 100, 10_000

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


def bench_logging() -> None:
    times = [_python(PYTHON, ASSAY_LOGGING, _project(f"log{i}"))["seconds"] for i in range(3)]
    assay_s = statistics.median(times)
    print(f"{POINTS:,} metric points + {PARAMS} params, one call at a time, flushed + committed:")
    print(f"  assay (SQLite)                 median {assay_s:6.3f} s  (target < 0.3 s)")
    mlflow_py = BENCH_VENV / "bin" / "python"
    if not mlflow_py.exists() or subprocess.run([str(mlflow_py), "-c", "import mlflow"],
                                                capture_output=True, check=False).returncode:
        print("  (mlflow not in .venv-bench; run: .venv-bench/bin/pip install mlflow)")
        return
    mlflow_s = statistics.median(
        _python(str(mlflow_py), MLFLOW_BATCH, _project(f"mlflow{i}"))["seconds"] for i in range(3))
    print(f"  MLflow log_batch (SQLite)      median {mlflow_s:6.3f} s")
    print(f"  assay is {mlflow_s / assay_s:.1f}x faster than MLflow's batch API")


def bench_list() -> None:
    project = _project("list")
    sys.path.insert(0, str(ROOT / "src"))
    from assay.store import open_store
    from assay.store.tables import metrics, params, runs, stage_runs

    store = open_store(f"sqlite:///{project / '.assay' / 'assay.db'}")
    now = time.time()
    with store.write() as conn:
        conn.execute(runs.insert(), [
            {"id": f"r{i:08d}", "kind": "adhoc", "trigger": "manual", "status": "succeeded",
             "actor": "bench", "started_at": now + i} for i in range(RUNS)])
        conn.execute(stage_runs.insert(), [
            {"id": f"s{i:08d}", "run_id": f"r{i:08d}", "stage": "train", "status": "succeeded",
             "cached": False, "attempt": 1, "started_at": now + i} for i in range(RUNS)])
        conn.execute(metrics.insert(), [
            {"stage_run_id": f"s{i:08d}", "key": key, "value": (i % 100) / 100, "step": 0,
             "ts": now} for i in range(RUNS) for key in ("roc_auc", "accuracy")])
        conn.execute(params.insert(), [
            {"stage_run_id": f"s{i:08d}", "key": "model", "value": json.dumps("rf")}
            for i in range(RUNS)])
    store.close()
    cli = [str(ROOT / ".venv" / "bin" / "assay"), "runs", "list", "--metric", "roc_auc>0.8",
           "--json"]
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        subprocess.run(cli, cwd=project, env=ENV, check=True, capture_output=True)
        timings.append(time.perf_counter() - started)
    from assay.tracking import MetricFilter, list_runs

    store = open_store(f"sqlite:///{project / '.assay' / 'assay.db'}")
    query = []
    for _ in range(5):
        started = time.perf_counter()
        list_runs(store, metric_filters=[MetricFilter.parse("roc_auc>0.8")], limit=20)
        query.append(time.perf_counter() - started)
    store.close()
    print(f"assay runs list --metric 'roc_auc>0.8' over {RUNS:,} runs:")
    print(f"  whole CLI process              median {statistics.median(timings):6.3f} s  "
          "(target < 0.5 s)")
    print(f"  the query itself (list_runs)   median {statistics.median(query):6.3f} s")


def main() -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    try:
        bench_logging()
        bench_list()
    finally:
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
