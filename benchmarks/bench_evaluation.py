"""Benchmark: evaluation of three candidates against a champion, assay vs mlflow.evaluate.

    .venv/bin/python benchmarks/bench_evaluation.py [--rows 200000] [--skip-mlflow]

Workload (both tools, same models, same data): three candidates (logistic regression, random
forest, histogram gradient boosting) and a champion, two datasets of ``--rows`` rows each
(holdout, benchmark), every classification metric, two slices, per-group metrics for ``gender``,
and threshold gates including a comparison with the champion. assay also computes a paired
bootstrap (1,000 resamples) for eight metrics per candidate and dataset; mlflow has no
confidence intervals, so it only compares point values (``mlflow.validate_evaluation_results``).

mlflow is installed only in ``.venv-bench`` (created here on first use), never in assay's venv.
Each side runs in its own process; we report wall time of the evaluation (loading data and
models included) and the process's peak resident memory. Also printed: the bootstrap alone,
1,000 resamples of 100,000 rows.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / ".work" / "evaluation"
BENCH_VENV = ROOT / ".venv-bench"
CANDIDATES = {
    "logistic": ("sklearn.linear_model.LogisticRegression", {"max_iter": 1000}),
    "forest": ("sklearn.ensemble.RandomForestClassifier", {"n_estimators": 60, "max_depth": 10,
                                                           "n_jobs": 2}),
    "boosting": ("sklearn.ensemble.HistGradientBoostingClassifier", {"max_iter": 100}),
}
CHAMPION = ("sklearn.ensemble.RandomForestClassifier", {"n_estimators": 20, "max_depth": 5,
                                                        "n_jobs": 2})
SLICES = {"new_customers": "tenure_months < 12", "month_to_month": "contract = 'month-to-month'"}
EXCLUDE = ["customer_id", "signup_date", "last_active"]


def prepare(rows: int) -> None:
    """Data and model packages (not timed)."""
    from assay.examples.churn.generate import generate
    from assay.models import TrainOptions, save_model
    from assay.models._train_kind import build_pipeline, make_estimator, select_features

    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "assay.yaml").write_text("project: bench-evaluation\n")
    (WORK / "data").mkdir(exist_ok=True)
    train = generate(40_000, seed=1)
    generate(rows, seed=2).write_parquet(WORK / "data" / "holdout.parquet")
    generate(rows, seed=3, drift=True).write_parquet(WORK / "data" / "benchmark.parquet")
    for name, (estimator, params) in {**CANDIDATES, "champion": CHAMPION}.items():
        options = TrainOptions(
            estimator=estimator, hyperparams={**params, "random_state": 0}, data="x",
            target="churned", features={"exclude": EXCLUDE},  # type: ignore[arg-type]
        )
        features = select_features(train, options)
        pipeline = build_pipeline(train, features, options, make_estimator(options))
        pipeline.fit(train.select(features), train["churned"].to_numpy())
        save_model(pipeline, WORK / "models" / name, name=name,
                   input_example=train.select(features).head(5))


def run_assay() -> dict[str, float]:
    from assay.evaluation import Candidate, EvaluateOptions, evaluate, write_reports

    started = time.perf_counter()
    options = EvaluateOptions.model_validate(
        {
            "candidates": ["train"],
            "datasets": {"holdout": "data/holdout.parquet", "benchmark": "data/benchmark.parquet"},
            "target": "churned",
            "slices": SLICES,
            "fairness": {"column": "gender", "metrics": ["accuracy", "precision", "recall", "f1"]},
            "gates": [
                {"metric": "roc_auc", "min": 0.7, "dataset": "holdout"},
                {"metric": "accuracy", "min": 0.6, "dataset": "benchmark"},
                {"metric": "demographic_parity_difference", "max": 0.1},
                {"beats_champion": {"metric": "roc_auc", "min_delta": 0.0}},
                {"max_regression": {"metric": "log_loss", "max_delta": 0.05}},
            ],
            "compare": ["accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss",
                        "brier"],
            "select": {"metric": "roc_auc", "dataset": "holdout"},
            "bootstrap": {"resamples": 1000},
        }
    )
    candidates = [Candidate(n, WORK / "models" / n) for n in CANDIDATES]
    champion = Candidate("champion", WORK / "models" / "champion", is_champion=True, ref="champion")
    result = evaluate(options, candidates, root=WORK, champion=champion)
    evaluated = time.perf_counter()
    write_reports(result.report, WORK / "reports" / "assay", result.curves)
    done = time.perf_counter()
    return {
        "wall_s": done - started,
        "evaluate_s": evaluated - started,
        "reports_s": done - evaluated,
        "selected": result.report["selected"]["candidate"] if result.report["selected"] else None,
    }


MLFLOW_SIDE = r'''
import json, os, sys, time, warnings, logging
warnings.filterwarnings("ignore")
logging.getLogger("mlflow").setLevel(logging.ERROR)
import pandas as pd
import skops.io as sio
import mlflow
from mlflow.models import MetricThreshold

work = sys.argv[1]
names = json.loads(sys.argv[2])
slices = {"new_customers": lambda d: d["tenure_months"] < 12,
          "month_to_month": lambda d: d["contract"] == "month-to-month"}
os.chdir(work)  # mlflow writes artifacts under ./mlruns
mlflow.set_tracking_uri("sqlite:///" + os.path.join(work, "mlflow.db"))
mlflow.set_experiment("bench")
uris = {}
with mlflow.start_run():  # logging the models is setup, not timed
    for name in names + ["champion"]:
        path = os.path.join(work, "models", name, "model.skops")
        trusted = sio.get_untrusted_types(file=path)
        model = sio.load(path, trusted=trusted)
        uris[name] = mlflow.sklearn.log_model(
            model, name=name, skops_trusted_types=trusted
        ).model_uri
started = time.perf_counter()
drop = ["customer_id", "signup_date", "last_active"]
results = {}
for dataset in ("holdout", "benchmark"):
    frame = pd.read_parquet(os.path.join(work, "data", dataset + ".parquet")).drop(columns=drop)
    parts = {"all": frame}
    parts.update({k: frame[f(frame)] for k, f in slices.items()})
    parts.update({"gender=" + g: frame[frame["gender"] == g] for g in ("female", "male")})
    for name in ["champion"] + names:
        for part, data in parts.items():
            with mlflow.start_run(nested=True):
                results[(dataset, name, part)] = mlflow.evaluate(
                    uris[name], data, targets="churned", model_type="classifier",
                    evaluator_config={"log_model_explainability": False},
                )
thresholds = {
    "roc_auc": MetricThreshold(threshold=0.7, min_absolute_change=1e-9, greater_is_better=True),
    "accuracy_score": MetricThreshold(threshold=0.6, greater_is_better=True),
}
verdicts = {}
for name in names:
    try:
        mlflow.validate_evaluation_results(
            validation_thresholds=thresholds,
            candidate_result=results[("holdout", name, "all")],
            baseline_result=results[("holdout", "champion", "all")],
        )
        verdicts[name] = True
    except Exception:
        verdicts[name] = False
print(json.dumps({"wall_s": time.perf_counter() - started, "evaluate_calls": len(results),
                  "passed": verdicts}))
'''


def ensure_bench_venv() -> Path:
    python = BENCH_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run(["python3", "-m", "venv", str(BENCH_VENV)], check=True)
    probe = subprocess.run([str(python), "-c", "import mlflow, skops, sklearn"], capture_output=True)
    if probe.returncode != 0:
        import sklearn
        import skops

        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "mlflow", f"scikit-learn=={sklearn.__version__}",
             f"skops=={skops.__version__}", "polars"],
            check=True,
        )
    return python


def child(argv: list[str], *, python: str = sys.executable) -> dict[str, object]:
    """Run one side in its own process (in the work folder); return its JSON."""
    proc = subprocess.run([python, *argv], capture_output=True, text=True, check=False, cwd=WORK,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed:\n{proc.stderr[-3000:]}")
    data: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return data


def bootstrap_micro() -> float:
    import numpy as np

    from assay.evaluation import paired_bootstrap

    rng = np.random.default_rng(0)
    n = 100_000
    y = (rng.random(n) < 0.3).astype(np.int64)
    a = np.clip(0.3 + 0.3 * (y - 0.3) + rng.normal(0, 0.2, n), 0, 1)
    b = np.clip(0.3 + 0.25 * (y - 0.3) + rng.normal(0, 0.2, n), 0, 1)
    metrics = ["accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss", "brier"]
    paired_bootstrap(y, a, b, task="classification", metrics=metrics, resamples=16)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        paired_bootstrap(y, a, b, task="classification", metrics=metrics, resamples=1000)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--side", choices=["assay"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side == "assay":
        out = run_assay()
        out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(out))
        return
    print(f"preparing {args.rows:,}-row datasets and 4 model packages in {WORK} ...", flush=True)
    prepare(args.rows)
    seconds = bootstrap_micro()
    print(f"paired bootstrap, 8 metrics, 1,000 resamples x 100,000 rows: {seconds:.2f} s")
    ours = child([str(Path(__file__).resolve()), "--side", "assay"])
    print(
        f"assay evaluate : {ours['wall_s']:.1f} s wall (evaluation {ours['evaluate_s']:.1f} s, "
        f"reports {ours['reports_s']:.1f} s), peak RSS {ours['peak_rss_mb']:.0f} MB, "
        f"selected {ours['selected']}"
    )
    if args.skip_mlflow:
        return
    python = ensure_bench_venv()
    shutil.rmtree(WORK / "mlruns", ignore_errors=True)  # a fresh tracking store every time
    (WORK / "mlflow.db").unlink(missing_ok=True)
    script = WORK / "mlflow_side.py"
    script.write_text(MLFLOW_SIDE)
    wrapper = (
        "import resource, runpy, sys, json, io, contextlib\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        f"    sys.argv = [{str(script)!r}, {str(WORK)!r}, {json.dumps(json.dumps(list(CANDIDATES)))}]\n"
        f"    runpy.run_path({str(script)!r}, run_name='__main__')\n"
        "out = json.loads(buf.getvalue().strip().splitlines()[-1])\n"
        "out['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "print(json.dumps(out))\n"
    )
    theirs = child(["-c", wrapper], python=str(python))
    print(
        f"mlflow.evaluate: {theirs['wall_s']:.1f} s wall ({theirs['evaluate_calls']} evaluate calls), "
        f"peak RSS {theirs['peak_rss_mb']:.0f} MB, no confidence intervals"
    )
    print(f"speed-up: {float(theirs['wall_s']) / float(ours['wall_s']):.1f}x")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
