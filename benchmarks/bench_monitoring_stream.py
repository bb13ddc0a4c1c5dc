"""Benchmark: one monitor window over a prediction log larger than memory would like, computed
by the streaming engine in bounded memory.

    .venv/bin/python benchmarks/bench_monitoring_stream.py [--rows 50000000]
        [--segment-rows 20000] [--keep]

Workload: a prediction log of ``--rows`` rows written as the server writes it (the schema of
``assay.serving._predlog``: ``request_id``, ``ts``, ``model``, ``version``, ``variant``,
``deployment``, ``row``, an ``inputs`` struct of four inputs (a, c floats, b integer codes,
plan text), ``prediction`` and two ``probabilities``), in Parquet segments of
``--segment-rows`` rows (the server's default, 20,000) named by the time they were written.
It is generated in chunks of a million rows, so the generator itself stays small. The
reference is a 1M-row table of the same inputs, versioned with ``assay data add``, with a
contract (``data:`` the reference) of six row checks that every window is checked against.

Then, each in its own process: a first window of the newest 10,000 rows (it profiles the
reference and makes the prediction's baseline, once in a monitor's life), the same window
again (as every later run of a monitor's default window), and the measured window: every row of the log (``--since`` ten years), what ``assay monitor`` computes
(``assay.monitoring.run_monitor``: per-column drift, prediction drift, the label-free
estimate, the contract's checks, the window stored). The measured process runs as the only
child of a small wrapper that reports ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` (its
peak resident memory) and the wall time. "Data size" is the rows the window reads held in
memory: rows x 10 columns (ts, version, request_id, four inputs, the prediction, two
probabilities) x 8 bytes. Work files go to ``benchmarks/.work/monitoring-stream/`` (or
``$ASSAY_BENCH_WORK``) and are deleted at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = (Path(os.environ.get("ASSAY_BENCH_WORK") or ROOT / "benchmarks" / ".work")
        / "monitoring-stream")
ASSAY_PY = ROOT / ".venv" / "bin" / "python"
CHUNK = 1_000_000
WINDOW_COLUMNS = 10
PLANS = ["basic", "plus", "pro"]

CONTRACT = {
    "columns": {
        "a": {"dtype": "float64", "min": -8, "max": 8, "nullable": False},
        "b": {"allowed": list(range(10))},
        "c": {"max": 8},
        "plan": {"allowed": PLANS},
    },
}

WINDOW_SCRIPT = """
import json, sys, time
from pathlib import Path

t0 = time.perf_counter()
from assay.config import Project
from assay.monitoring import run_monitor
from assay.store import open_store

root, rows, seconds = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
project = Project.load(root)
with open_store(project.store_url) as store:
    window = run_monitor(project, store, "w", actor="bench",
                         rows=int(rows) if rows != "-" else None,
                         seconds=float(seconds) if seconds != "-" else None)
print(json.dumps({"s": round(time.perf_counter() - t0, 2), "rows": window.rows,
                  "verdict": window.verdict, "data_quality": window.data_quality,
                  "failed": [c["check"] for c in window.failed_checks],
                  "estimate": window.estimate and round(window.estimate["value"], 4),
                  "columns": {c.column: c.status for c in window.columns}}))
"""

MEASURE = """
import resource, subprocess, sys, time
t0 = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - t0
sys.stderr.write(done.stderr)
print(done.stdout.strip().splitlines()[-1] if done.returncode == 0 else "{}")
print(f"{wall:.2f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss} {done.returncode}")
"""


def write_log(folder: Path, rows: int, segment_rows: int) -> float:
    """The prediction log, a million rows at a time; returns the seconds it took."""
    import numpy as np
    import polars as pl

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    start_ts = time.time() - 3 * 86400.0  # three days of traffic, 1 ms apart at most
    step = min(1e-3, 3 * 86400.0 / rows)
    t0 = time.perf_counter()
    sequence = 0
    for first in range(0, rows, CHUNK):
        n = min(CHUNK, rows - first)
        a, c = rng.normal(size=n), rng.normal(size=n)
        answer = (a + 0.5 * c > 0).astype(np.int64)
        confidence = 1.0 / (1.0 + np.exp(-np.abs(a + 0.5 * c) * 3))
        ts = start_ts + (first + np.arange(n)) * step
        frame = pl.DataFrame({
            "request_id": pl.int_range(first, first + n, eager=True).cast(pl.String),
            "ts": ts,
            "model": pl.repeat("m", n, dtype=pl.String, eager=True),
            "version": pl.repeat("1", n, dtype=pl.String, eager=True),
            "variant": pl.repeat("stable", n, dtype=pl.String, eager=True),
            "deployment": pl.repeat("d", n, dtype=pl.String, eager=True),
            "row": np.zeros(n, dtype=np.int64),
            "inputs": pl.DataFrame({
                "a": a, "b": rng.integers(0, 10, n), "c": c,
                "plan": pl.Series(PLANS, dtype=pl.String).gather(
                    rng.choice(3, size=n, p=[0.5, 0.3, 0.2])),
            }).to_struct("inputs"),
            "prediction": answer,
            "probabilities": np.where(answer[:, None] == 1,
                                      np.column_stack([1 - confidence, confidence]),
                                      np.column_stack([confidence, 1 - confidence])),
        })
        for offset in range(0, n, segment_rows):
            part = frame.slice(offset, segment_rows)
            written = float(part["ts"][-1])  # named by the time written, after its rows
            part.write_parquet(folder / f"segment-{written:.6f}-{os.getpid()}-{sequence}.parquet")
            sequence += 1
    return time.perf_counter() - t0


def make_project(root: Path) -> None:
    import numpy as np
    import polars as pl
    import yaml

    (root / "data").mkdir(parents=True)
    (root / "contracts").mkdir()
    rng = np.random.default_rng(1)
    n = 1_000_000
    pl.DataFrame({"a": rng.normal(size=n), "b": rng.integers(0, 10, n), "c": rng.normal(size=n),
                  "plan": rng.choice(PLANS, size=n, p=[0.5, 0.3, 0.2])}
                 ).write_parquet(root / "data" / "ref.parquet")
    (root / "contracts" / "ref-rules.yaml").write_text(yaml.safe_dump(CONTRACT))
    (root / "assay.yaml").write_text(yaml.safe_dump({
        "project": "bench-stream", "datasets": {"ref": "data/ref.parquet"},
        "contracts": {"ref-rules": {"data": "ref"}},
        "deployments": {"d": {"model": "m@production", "url": "http://127.0.0.1:9"}},
        "monitoring": {"w": {"deployment": "d", "reference": "ref@1"}}}, sort_keys=False))
    subprocess.run([str(ROOT / ".venv" / "bin" / "assay"), "data", "add", "data/ref.parquet"],
                   cwd=root, check=True, capture_output=True)


def measure(root: Path, rows: str, seconds: str) -> dict[str, object]:
    """One window in its own process, run by a wrapper whose only child it is."""
    script = WORK / "window.py"
    script.write_text(textwrap.dedent(WINDOW_SCRIPT))
    wrapper = WORK / "measure.py"
    wrapper.write_text(textwrap.dedent(MEASURE))
    done = subprocess.run([sys.executable, str(wrapper), str(ASSAY_PY), str(script), str(root),
                           rows, seconds], cwd=root, capture_output=True, text=True, check=True)
    result_line, figures = done.stdout.strip().splitlines()[-2:]
    wall, peak_kb, code = figures.split()
    if code != "0":
        raise SystemExit(f"the window failed:\n{done.stderr[-3000:]}")
    found: dict[str, object] = json.loads(result_line)
    found.update({"wall_s": float(wall), "peak_mb": int(peak_kb) / 1024})
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=50_000_000)
    parser.add_argument("--segment-rows", type=int, default=20_000)
    parser.add_argument("--keep", action="store_true", help="keep the work files")
    args = parser.parse_args()
    if WORK.exists():
        shutil.rmtree(WORK)
    root = WORK / "project"
    try:
        make_project(root)
        folder = root / ".assay" / "predictions" / "m"
        took = write_log(folder, args.rows, args.segment_rows)
        size = sum(p.stat().st_size for p in folder.glob("segment-*.parquet"))
        print(f"log: {args.rows:,} rows in {-(-args.rows // args.segment_rows):,} segments, "
              f"{size / 2**30:.2f} GiB of Parquet, written in {took:.0f} s")
        first = measure(root, "10000", "-")
        print(f"first window (10,000 rows; profiles the reference, makes the baseline): "
              f"{first['wall_s']:.1f} s, peak {first['peak_mb']:.0f} MB")
        newest = measure(root, "10000", "-")
        print(f"newest 10,000 rows again (stored profile and baseline): "
              f"{newest['wall_s']:.1f} s, peak {newest['peak_mb']:.0f} MB")
        whole = measure(root, "-", str(10 * 365 * 86400.0))
        data_mb = args.rows * WINDOW_COLUMNS * 8 / 2**20
        print(f"window of every row: {whole['rows']:,} rows in {whole['wall_s']:.1f} s "
              f"(process wall), peak RSS {whole['peak_mb']:.0f} MB; data size "
              f"{data_mb:,.0f} MB (rows x {WINDOW_COLUMNS} columns x 8 bytes): peak / data "
              f"size {whole['peak_mb'] / data_mb:.3f}")
        print(f"  verdict {whole['verdict']}, data quality {whole['data_quality']} "
              f"{whole['failed']}, estimate {whole['estimate']}, columns {whole['columns']}")
    finally:
        if not args.keep:
            shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
