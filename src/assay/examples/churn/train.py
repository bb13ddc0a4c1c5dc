"""Train a churn classifier on data/churn.parquet with the hyperparameters in params.yaml."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import yaml
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split

FEATURES = ["tenure_months", "monthly_charges", "support_calls", "senior_citizen"]


def main() -> None:
    params = yaml.safe_load(Path("params.yaml").read_text())
    frame = pl.read_parquet("data/churn.parquet").drop_nulls(FEATURES)
    x = frame.select(FEATURES).to_numpy()
    y = frame["churned"].to_numpy()
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=params["split"]["holdout_fraction"], random_state=params["seed"]
    )
    model = RandomForestClassifier(
        n_estimators=params["train"]["n_estimators"],
        max_depth=params["train"]["max_depth"],
        random_state=params["seed"],
        n_jobs=1,
    ).fit(x_train, y_train)
    proba = model.predict_proba(x_test)[:, 1]
    metrics = {
        "accuracy": float(accuracy_score(y_test, proba >= 0.5)),
        "roc_auc": float(roc_auc_score(y_test, proba)),
    }
    Path("metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(json.dumps(metrics))


if __name__ == "__main__":
    main()
