"""The light CI profile (issue 13): the churn example's ``assay run --profile ci`` against its
full ``assay run``, side by side in one run. Target: the CI profile at most 25% of the full
run's wall time.

Both are whole ``assay run --force`` processes on the same project (so every selected stage
runs; the full run includes ``register``, the CI profile leaves it out, as the example says),
alternated in rounds so that both see the same machine; median of the rounds. A third column
runs the CI profile with ``ASSAY_NO_WARM_WORKER=1``: built-in stages as cold subprocesses, each
paying an interpreter start and its imports (what every stage paid before the warm worker).

Run: .venv/bin/python benchmarks/bench_ci_profile.py [--rounds N]
(work files: benchmarks/.work/ci_profile, deleted at the end)
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import ASSAY, ENV, PYTHON, ROOT, sh

WORK = ROOT / "benchmarks" / ".work" / "ci_profile"
ROUNDS = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 3


def timed_run(project: Path, *args: str, env: dict[str, str] | None = None
              ) -> tuple[float, dict[str, float]]:
    """Wall seconds of ``assay run --force ARGS --json`` and each stage's seconds."""
    started = time.perf_counter()
    done = subprocess.run([ASSAY, "run", "--force", *args, "--json"], cwd=project,
                          env=env or ENV, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"assay run {' '.join(args)} failed ({done.returncode}):\n"
                         f"{done.stderr[-2000:]}")
    stages = {s["stage"]: s["seconds"] for s in json.loads(done.stdout)["stages"]}
    return wall, stages


def main() -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    try:
        project = WORK / "churn"
        sh([ASSAY, "init", "--example", "churn", str(project)], WORK)
        sh([PYTHON, "generate.py"], project)
        sh(["git", "init", "-q", "."], project)
        sh([ASSAY, "run"], project)  # the store, the caches, assay's bytecode
        sh([ASSAY, "run", "--profile", "ci"], project)
        cold_env = {**ENV, "ASSAY_NO_WARM_WORKER": "1"}
        full, ci, cold = [], [], []
        stages: dict[str, dict[str, float]] = {}
        for _ in range(ROUNDS):
            wall, stages["full"] = timed_run(project)
            full.append(wall)
            wall, stages["ci"] = timed_run(project, "--profile", "ci")
            ci.append(wall)
            wall, stages["ci, cold"] = timed_run(project, "--profile", "ci", env=cold_env)
            cold.append(wall)
        f, c, k = statistics.median(full), statistics.median(ci), statistics.median(cold)
        print(f"churn example (50,000 rows; 3 candidates), assay run --force, median of {ROUNDS}:")
        print(f"  full run                              {f:6.2f} s  "
              f"(rounds: {', '.join(f'{x:.2f}' for x in full)})")
        print(f"  --profile ci                          {c:6.2f} s  "
              f"(rounds: {', '.join(f'{x:.2f}' for x in ci)})")
        print(f"  --profile ci, ASSAY_NO_WARM_WORKER=1  {k:6.2f} s  "
              f"(rounds: {', '.join(f'{x:.2f}' for x in cold)})")
        print(f"  ci profile = {c / f:.0%} of the full run (target <= 25%); "
              f"cold built-in stages: {k / f:.0%}; the warm worker saves {k - c:.2f} s")
        print("  seconds per stage in the last round:")
        for what, seconds in stages.items():
            print(f"    {what:9} " + ", ".join(f"{n} {s:.2f}" for n, s in seconds.items()))
    finally:
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
