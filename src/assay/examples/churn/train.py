"""Train one churn candidate on data/train.parquet and score it on data/holdout.parquet.

    python train.py --model rf --out models/train-model-rf --metrics metrics/train-model-rf.json

Params come from params.yaml (``train``, ``seed``); params and metrics are logged with
``import assay`` (attached to the pipeline's stage run under ``assay run``).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import polars as pl
import yaml
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.metrics import accuracy_score, roc_auc_score

import assay

FEATURES = ["tenure_months", "monthly_charges", "support_calls", "senior_citizen"]
CATEGORIES = {"contract": ["month-to-month", "one-year", "two-year"]}


def features(frame: pl.DataFrame) -> Any:
    columns = [pl.col(c).fill_null(0).cast(pl.Float64) for c in FEATURES]
    for column, values in CATEGORIES.items():
        columns += [(pl.col(column) == v).cast(pl.Float64).alias(f"{column}={v}") for v in values]
    return frame.select(columns).to_numpy()


def build(model: str, params: dict[str, Any], seed: int) -> Any:
    train = params["train"]
    if model == "rf":
        return RandomForestClassifier(n_estimators=train["n_estimators"],
                                      max_depth=train["max_depth"], random_state=seed, n_jobs=1)
    if model == "gb":
        return HistGradientBoostingClassifier(max_iter=train["n_estimators"],
                                              learning_rate=train["learning_rate"],
                                              max_depth=train["max_depth"], random_state=seed)
    raise SystemExit(f"unknown model {model!r}; use rf or gb")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--metrics", required=True)
    args = parser.parse_args()
    # under `assay run` ASSAY_PARAMS_FILE holds params.yaml with the profile's overrides applied
    params = yaml.safe_load(Path(os.environ.get("ASSAY_PARAMS_FILE", "params.yaml")).read_text())
    seed = int(params["seed"])
    train = pl.read_parquet("data/train.parquet")
    holdout = pl.read_parquet("data/holdout.parquet")
    assay.log_params({"model": args.model, **params["train"], "seed": seed})
    model = build(args.model, params, seed).fit(features(train), train["churned"].to_numpy())
    proba = model.predict_proba(features(holdout))[:, 1]
    y = holdout["churned"].to_numpy()
    metrics = {
        "accuracy": float(accuracy_score(y, proba >= 0.5)),
        "roc_auc": float(roc_auc_score(y, proba)),
        "train_rows": train.height,
    }
    assay.log_metrics(metrics)

    import skops.io

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    skops.io.dump(model, out / "model.skops")
    (out / "features.json").write_text(json.dumps({"numeric": FEATURES, **CATEGORIES}) + "\n")
    Path(args.metrics).parent.mkdir(parents=True, exist_ok=True)
    Path(args.metrics).write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    print(f"{args.model}: " + json.dumps(metrics))


if __name__ == "__main__":
    main()
