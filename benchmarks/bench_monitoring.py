"""Benchmark: drift of a table against its reference, ``assay validate`` (the drift engine) vs
Evidently's ``DataDriftPreset`` and a hand-written vectorised NumPy/SciPy computation.

    .venv/bin/python benchmarks/bench_monitoring.py [--rows 1000000] [--repeat 1]
        [--skip-evidently]

Workload: a deterministic reference and current table of ``--rows`` rows x 20 columns (14
normal floats, 6 categorical strings of 5 to 50 categories) as Parquet; the current table has
two numeric columns shifted by 0.5 sigma and one category's share moved. Every tool computes
the drift of the 20 columns, current against reference:

- ``assay validate`` with a contract of 20 distribution checks (the engine's defaults: the KS
  test on 20 quantile bins of the reference plus the Wasserstein distance for numbers, the
  pooled chi-square test plus the Jensen-Shannon distance for categories, the unseen-category
  test, Benjamini-Hochberg across the columns);
- the same statistics written by hand with NumPy/SciPy (quantile bins, counts, KS p-value,
  binned Wasserstein, chi-square, Jensen-Shannon), reading the same Parquet files with Polars;
- Evidently (``Report([DataDriftPreset()])``, its defaults for this size: normed Wasserstein and
  Jensen-Shannon), reading the files with pandas.

Then ``--window-rows`` (100,000) rows of the current table go into a prediction log, written by
the server's own writer, and a monitor (``assay.monitoring.run_monitor``, what ``assay monitor``
runs) computes that window against the 1M-row reference twice: first profiling the reference,
then from the profile it stored (target: under 0.5 s).

Each tool runs as its own process (import + load + compute), measured with ``/usr/bin/time -v``
for wall time and peak resident memory. Evidently 0.7 needs pandas < 3, so it lives in its own
environment, ``.venv-bench-evidently`` (created here on first use; never assay's ``.venv``).
Work files go to ``benchmarks/.work/monitoring/`` (``$ASSAY_BENCH_WORK`` to move them).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_contracts import measure

ROOT = Path(__file__).resolve().parent.parent
WORK = Path(os.environ.get("ASSAY_BENCH_WORK") or ROOT / "benchmarks" / ".work") / "monitoring"
EVIDENTLY_VENV = ROOT / ".venv-bench-evidently"
EVIDENTLY_VERSION = "0.7.23"
ASSAY_PY = ROOT / ".venv" / "bin" / "python"
NUMERIC = [f"x{i}" for i in range(14)]
CATEGORIES = {"c0": 5, "c1": 5, "c2": 10, "c3": 20, "c4": 30, "c5": 50}


def make_tables(rows: int) -> tuple[Path, Path]:
    """The reference and the current table (written once per row count)."""
    import numpy as np
    import polars as pl

    WORK.mkdir(parents=True, exist_ok=True)
    ref_path, cur_path = WORK / f"reference_{rows}.parquet", WORK / f"current_{rows}.parquet"
    if ref_path.exists() and cur_path.exists():
        return ref_path, cur_path
    for path, seed, drifted in ((ref_path, 1, False), (cur_path, 2, True)):
        rng = np.random.default_rng(seed)
        data: dict[str, object] = {}
        for i, name in enumerate(NUMERIC):
            shift = 0.5 if drifted and i < 2 else 0.0
            data[name] = rng.normal(10.0 * i + shift * 3.0, 3.0, rows)
        for name, k in CATEGORIES.items():
            shares = 1 / np.arange(1, k + 1)
            if drifted and name == "c2":
                shares = shares[::-1].copy()
            shares /= shares.sum()
            labels = np.array([f"{name}_{j}" for j in range(k)])
            data[name] = labels[rng.choice(k, size=rows, p=shares)]
        pl.DataFrame(data).write_parquet(path)
    return ref_path, cur_path


def contract_yaml(ref: Path) -> str:
    lines = ["name: drift-bench", f"reference: {ref}", "distribution:"]
    lines += [f"  {name}: {{}}" for name in [*NUMERIC, *CATEGORIES]]
    return "\n".join(lines) + "\n"


NUMPY_SCRIPT = """
import sys, time
import numpy as np, polars as pl
from scipy.special import chdtrc, kolmogorov

ref = pl.read_parquet(sys.argv[1]); cur = pl.read_parquet(sys.argv[2])
drifted = 0
for name in ref.columns:
    r, c = ref[name], cur[name]
    if r.dtype.is_numeric():
        a, b = r.to_numpy(), c.to_numpy()
        edges = np.unique(np.quantile(a, np.linspace(0, 1, 21)[1:-1]))
        rc = np.bincount(np.searchsorted(edges, a), minlength=len(edges) + 1).astype(float)
        cc = np.bincount(np.searchsorted(edges, b), minlength=len(edges) + 1).astype(float)
        n, m = rc.sum(), cc.sum()
        d = np.max(np.abs(np.cumsum(rc) / n - np.cumsum(cc) / m))
        p = kolmogorov(d * np.sqrt(n * m / (n + m)))
        bounds = np.concatenate([[a.min()], edges, [a.max()]])
        centers = (bounds[:-1] + bounds[1:]) / 2
        gap = np.cumsum(rc / n - cc / m)[:-1]
        effect = np.sum(np.abs(gap) * np.diff(centers)) / a.std(ddof=1)
        drifted += p <= 0.05 and effect > 0.1
    else:
        codes = pl.concat([r, c]).cast(pl.Categorical).to_physical().to_numpy()
        k = int(codes.max()) + 1
        rc = np.bincount(codes[: len(r)], minlength=k).astype(float)
        cc = np.bincount(codes[len(r):], minlength=k).astype(float)
        table = np.vstack([rc, cc])
        expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
        stat = ((table - expected) ** 2 / expected).sum()
        p = chdtrc(k - 1, stat)
        pr, pc = rc / rc.sum(), cc / cc.sum(); mid = (pr + pc) / 2
        kl = lambda x, y: np.sum(x[x > 0] * np.log2(x[x > 0] / y[x > 0]))
        effect = np.sqrt((kl(pr, mid) + kl(pc, mid)) / 2)
        drifted += p <= 0.05 and effect > 0.1
print(f"{drifted} drifted columns")
"""

EVIDENTLY_SCRIPT = """
import sys
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset

ref = pd.read_parquet(sys.argv[1]); cur = pd.read_parquet(sys.argv[2])
snapshot = Report([DataDriftPreset()]).run(cur, ref)
found = snapshot.dict()["metrics"][0]["value"]
print(f"{int(found['count'])} drifted columns")
"""


WINDOW_SCRIPT = """
import json, subprocess, sys, time
from pathlib import Path
import numpy as np, polars as pl

root, rows = Path(sys.argv[1]), int(sys.argv[2])
from assay.config import Project
from assay.monitoring import run_monitor
from assay.serving._metrics import Metrics
from assay.serving._predlog import PredictionLog
from assay.store import open_store

current = pl.read_parquet(sys.argv[3]).head(rows)
log = PredictionLog(root / ".assay" / "predictions", metrics=Metrics(), sample=1.0,
                    capacity=10_000_000, segment_rows=20_000, segment_seconds=600.0,
                    deployment="d")
try:
    for i, start in enumerate(range(0, rows, 100)):
        part = current.slice(start, 100)
        answer = (part["x0"] > 0).cast(pl.Int64).to_numpy()
        log.record("m", "1", f"r{i}", part, answer, None, variant="stable")
finally:
    log.close()
project = Project.load(root)
with open_store(project.store_url) as store:
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        window = run_monitor(project, store, "w", actor="bench", rows=rows)
        times.append(time.perf_counter() - t0)
print(json.dumps({"first_s": round(times[0], 3), "stored_profile_s": round(times[1], 3),
                  "rows": window.rows, "verdict": window.verdict}))
"""


def run_window(ref: Path, cur: Path, rows: int) -> dict[str, object]:
    """A monitor's window of ``rows`` rows against the reference: the first computes and stores
    the reference's profile, the second reads it."""
    import shutil

    import yaml

    root = WORK / "window"
    if root.exists():
        shutil.rmtree(root)
    (root / "data").mkdir(parents=True)
    shutil.copy(ref, root / "data" / "ref.parquet")
    (root / "assay.yaml").write_text(yaml.safe_dump({
        "project": "bench-window", "datasets": {"ref": "data/ref.parquet"},
        "deployments": {"d": {"model": "m@production", "url": "http://127.0.0.1:9"}},
        "monitoring": {"w": {"deployment": "d", "reference": "ref@1",
                             "columns": [*NUMERIC, *CATEGORIES]}}}, sort_keys=False))
    subprocess.run([str(ROOT / ".venv" / "bin" / "assay"), "data", "add", "data/ref.parquet"],
                   cwd=root, check=True, capture_output=True)
    script = WORK / "bench_window.py"
    script.write_text(textwrap.dedent(WINDOW_SCRIPT))
    done = subprocess.run([str(ASSAY_PY), str(script), str(root), str(rows), str(cur)],
                          cwd=root, check=True, capture_output=True, text=True)
    found: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def ensure_evidently() -> Path:
    python = EVIDENTLY_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(EVIDENTLY_VENV)], check=True)
    probe = subprocess.run([str(python), "-c", "import evidently, pyarrow"], capture_output=True,
                           check=False)
    if probe.returncode != 0:
        subprocess.run([str(python), "-m", "pip", "install", "-q",
                        f"evidently=={EVIDENTLY_VERSION}", "pandas<3", "pyarrow"], check=True)
    return python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1, help="best of N runs per tool")
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--window-rows", type=int, default=100_000)
    args = parser.parse_args()
    os.environ.setdefault("ASSAY_USER", "bench@example.com")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"),
                                                             os.environ.get("PYTHONPATH")]))
    ref, cur = make_tables(args.rows)
    (WORK / "assay.yaml").write_text("project: bench-monitoring\n")
    (WORK / "contracts").mkdir(exist_ok=True)
    (WORK / "contracts" / "drift.yaml").write_text(contract_yaml(ref))
    numpy_script = WORK / "bench_numpy.py"
    numpy_script.write_text(textwrap.dedent(NUMPY_SCRIPT))
    tools: list[tuple[str, list[str], int]] = [
        ("assay validate (drift engine)", [str(ROOT / ".venv" / "bin" / "assay"), "validate",
                                           str(cur), "--contract", "contracts/drift.yaml",
                                           "--sample-rows", "0"], 1),
        ("numpy/scipy by hand", [str(ASSAY_PY), str(numpy_script), str(ref), str(cur)], 0),
    ]
    if not args.skip_evidently:
        script = WORK / "bench_evidently.py"
        script.write_text(textwrap.dedent(EVIDENTLY_SCRIPT))
        tools.append((f"evidently {EVIDENTLY_VERSION} DataDriftPreset",
                      [str(ensure_evidently()), str(script), str(ref), str(cur)], 0))
    best: dict[str, dict[str, object]] = {}
    for _ in range(args.repeat):
        for name, argv, expect in tools:
            row = measure(name, argv, WORK, expect=expect)
            if name not in best or float(row["wall_s"]) < float(best[name]["wall_s"]):  # type: ignore[arg-type]
                best[name] = row
    found = list(best.values())
    print(f"\n{args.rows:,} reference vs {args.rows:,} current rows x 20 columns, whole process "
          "(import + load + drift of every column):")
    assay = found[0]
    for row in found:
        ratio = float(row["wall_s"]) / float(assay["wall_s"])  # type: ignore[arg-type]
        memory = float(row["peak_rss_mb"]) / float(assay["peak_rss_mb"])  # type: ignore[arg-type]
        print(f"  {row['tool']:<40} {row['wall_s']:>8} s {row['peak_rss_mb']:>7} MB  "
              f"time {ratio:5.2f}x assay's, memory {memory:5.2f}x  ({row['output']})")
    window = run_window(ref, cur, args.window_rows)
    print(f"\na monitor's window of {args.window_rows:,} logged rows against the "
          f"{args.rows:,}-row reference: {window['first_s']} s the first time (profiling the "
          f"reference), {window['stored_profile_s']} s with the stored profile (target: under "
          f"0.5 s); verdict {window['verdict']}")
    print(json.dumps([*found, {"window": window}]))


if __name__ == "__main__":
    main()
