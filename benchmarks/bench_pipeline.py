"""Pipeline benchmarks (issue 3).

1. No-op ``assay run`` on the churn example when everything is cached: median of 10 runs,
   side by side with ``dvc repro`` on an equivalent ``dvc.yaml`` (DVC lives only in
   ``.venv-bench``, created here on first use). Target: median < 150 ms and >= 5x faster.
   ``assay status`` of the same unchanged pipeline (the same decision, so the same cost; issue
   13) beside ``dvc status``, and its full path (``ASSAY_NO_FASTPATH=1``) for the before.
2. Scheduling overhead: a synthetic 200-stage DAG of trivial commands, a whole cold ``assay run``
   process (fresh project, empty store), vs the same commands in a plain shell loop; best of 3
   each. Target: < 3x.

assay runs with its bytecode compiled, as any installed package does: when the environment says
PYTHONDONTWRITEBYTECODE (this sandbox does), assay's editable sources would be recompiled by
every process, so the benchmark compiles them once into benchmarks/.work/pipeline/pycache.

Run: .venv/bin/python benchmarks/bench_pipeline.py [--dag]   (work files: benchmarks/.work/pipeline)
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / ".work" / "pipeline"
BENCH_VENV = ROOT / ".venv-bench"
ASSAY = str(ROOT / ".venv" / "bin" / "assay")
PYTHON = str(ROOT / ".venv" / "bin" / "python")
ENV = {**os.environ, "ASSAY_USER": "bench@example.com", "DVC_NO_ANALYTICS": "1", "CI": "1",
       "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
ENV.pop("ASSAY_STORE_URL", None)
ENV.pop("PYTHONDONTWRITEBYTECODE", None)
ENV["PYTHONPYCACHEPREFIX"] = str(WORK / "pycache")
RUNS = 10
DAG_TRIES = 3

ASSAY_YAML = """project: churn
datasets:
  churn: data/churn.parquet
stages:
  prepare:
    cmd: python prepare.py
    deps: [prepare.py, churn]
    params: [seed, prepare.sample, split.holdout_fraction, split.benchmark_fraction]
    outs: [data/train.parquet, data/holdout.parquet, data/benchmark.parquet]
  train:
    matrix:
      model: [rf, gb]
    cmd: python train.py --model ${matrix.model} --out models/${stage_slug} --metrics metrics/${stage_slug}.json
    deps: [train.py, data/train.parquet, data/holdout.parquet]
    params: [seed, train.n_estimators, train.max_depth, train.learning_rate]
    outs: ["models/${stage_slug}"]
    metrics: ["metrics/${stage_slug}.json"]
"""

DVC_YAML = """stages:
  prepare:
    cmd: python prepare.py
    deps: [prepare.py, data/churn.parquet]
    params: [seed, prepare.sample, split.holdout_fraction, split.benchmark_fraction]
    outs: [data/train.parquet, data/holdout.parquet, data/benchmark.parquet]
  train:
    matrix:
      model: [rf, gb]
    cmd: python train.py --model ${item.model} --out models/train-model-${item.model} --metrics metrics/train-model-${item.model}.json
    deps: [train.py, data/train.parquet, data/holdout.parquet]
    params: [seed, train.n_estimators, train.max_depth, train.learning_rate]
    outs: ["models/train-model-${item.model}"]
    metrics: ["metrics/train-model-${item.model}.json"]
"""


def sh(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, env=env or ENV, capture_output=True, text=True,
                          check=False)
    if done.returncode:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


def median_of(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    return statistics.median(sh(args, cwd, env) for _ in range(RUNS))


def dvc_bin() -> Path | None:
    exe = BENCH_VENV / "bin" / "dvc"
    if exe.exists():
        return exe
    try:
        if not (BENCH_VENV / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
        subprocess.run([str(BENCH_VENV / "bin" / "pip"), "install", "-q", "dvc"], check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"  (dvc unavailable: {exc}; DVC column skipped)")
        return None
    return exe if exe.exists() else None


def bench_noop() -> None:
    project = WORK / "churn"
    sh([ASSAY, "init", "--example", "churn", str(project)], WORK)
    sh([PYTHON, "generate.py"], project)
    # the example's cmd pipeline (prepare + a 2-model train matrix), mirrored 1:1 in dvc.yaml
    (project / "assay.yaml").write_text(ASSAY_YAML)
    sh(["git", "init", "-q", "."], project)
    full = sh([ASSAY, "run"], project)
    sh([ASSAY, "run"], project)  # the first no-op writes the fresh marker
    assay_noop = median_of([ASSAY, "run"], project)
    assay_status = median_of([ASSAY, "status"], project)
    full_status = median_of([ASSAY, "status"], project, {**ENV, "ASSAY_NO_FASTPATH": "1"})
    python_pass = median_of([PYTHON, "-c", "pass"], project)
    print(f"churn example pipeline (prepare + 2 train candidates): first run {full:.1f} s")
    print(f"  python -c pass                 median {python_pass * 1000:7.1f} ms")
    print(f"  assay run (no-op, all cached)  median {assay_noop * 1000:7.1f} ms  (target < 150 ms)")
    print(f"  assay status (unchanged)       median {assay_status * 1000:7.1f} ms  "
          f"({assay_status / assay_noop:.2f}x the no-op run; target ~1x)")
    print(f"  assay status (full path)       median {full_status * 1000:7.1f} ms  "
          "(ASSAY_NO_FASTPATH=1, what status cost before the shortcut)")
    dvc = dvc_bin()
    if dvc is None:
        return
    twin = WORK / "churn-dvc"
    shutil.copytree(project, twin, ignore=shutil.ignore_patterns(".assay", "assay.lock", "models",
                                                                 "metrics", ".git"))
    (twin / "dvc.yaml").write_text(DVC_YAML)
    dvc_env = ENV  # dvc by absolute path; `python` in the stages is assay's venv (polars, sklearn)
    sh(["git", "init", "-q", "."], twin, dvc_env)
    sh([str(dvc), "init", "-q"], twin, dvc_env)
    sh([str(dvc), "repro"], twin, dvc_env)
    dvc_noop = median_of([str(dvc), "repro"], twin, dvc_env)
    dvc_status = median_of([str(dvc), "status"], twin, dvc_env)
    print(f"  dvc repro (no-op, all cached)  median {dvc_noop * 1000:7.1f} ms")
    print(f"  dvc status                     median {dvc_status * 1000:7.1f} ms")
    print(f"  assay run is {dvc_noop / assay_noop:.1f}x faster than dvc repro (target >= 5x)")
    print(f"  assay status is {dvc_status / assay_status:.1f}x faster than dvc status")


def _dag_project(path: Path, stages: int) -> None:
    shutil.rmtree(path, ignore_errors=True)
    (path / "out").mkdir(parents=True)
    (path / ".assay").mkdir()
    lines = ["project: dag", "stages:"]
    for i in range(stages):
        dep = f"\n    deps: [out/s{i - 1}.txt]" if i % 10 else ""
        lines.append(f"  s{i}:\n    cmd: echo {i} > out/s{i}.txt{dep}\n    outs: [out/s{i}.txt]")
    (path / "assay.yaml").write_text("\n".join(lines) + "\n")


def bench_dag(stages: int = 200) -> None:
    project = WORK / "dag"
    _dag_project(project, 3)
    sh([ASSAY, "run"], project)  # compiles assay's bytecode (see the module docstring)
    script = "\n".join(f"bash -c 'echo {i} > out/s{i}.txt'" for i in range(stages))
    loops, runs = [], []
    for _ in range(DAG_TRIES):
        _dag_project(project, stages)
        loops.append(sh(["bash", "-c", script], project))
        _dag_project(project, stages)
        runs.append(sh([ASSAY, "run"], project))
    loop, assay = min(loops), min(runs)
    print(f"{stages}-stage DAG of trivial commands (20 chains of 10), best of {DAG_TRIES}:")
    print(f"  plain shell loop               {loop:7.2f} s")
    print(f"  assay run (cold, -j default)   {assay:7.2f} s  ({assay / loop:.1f}x the loop; target < 3x)")


def main() -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    try:
        bench_dag()
        if "--dag" not in sys.argv[1:]:
            bench_noop()
    finally:
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
