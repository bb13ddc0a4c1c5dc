"""Deterministic synthetic customer-churn data for the assay example.

    python generate.py                       # data/churn.parquet, 50,000 rows (+ data/reference.parquet)
    python generate.py --drift --out data/batch.parquet      # a drifted batch for monitoring
    python generate.py --broken --out data/bad.parquet       # a batch that breaks the contract

The same seed always gives the same bytes.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

CONTRACTS = ["month-to-month", "one-year", "two-year"]
PAYMENTS = ["card", "bank-transfer", "electronic-check", "mailed-check"]
INTERNET = ["fiber", "dsl", "none"]
REGIONS = ["north", "south", "east", "west"]
GENDERS = ["female", "male"]
AS_OF = datetime(2026, 11, 1)


def generate(rows: int = 50_000, seed: int = 7, *, drift: bool = False, broken: bool = False,
             as_of: datetime = AS_OF) -> pl.DataFrame:
    rng = np.random.default_rng(seed + (1000 if drift else 0) + (2000 if broken else 0))
    contract_p = [0.35, 0.3, 0.35] if drift else [0.55, 0.25, 0.2]
    contract = rng.choice(len(CONTRACTS), size=rows, p=contract_p)
    payment_p = [0.3, 0.2, 0.35, 0.15]
    payment = rng.choice(len(PAYMENTS), size=rows, p=payment_p)
    internet = rng.choice(len(INTERNET), size=rows, p=[0.45, 0.35, 0.2])
    region = rng.choice(len(REGIONS), size=rows)
    gender = rng.choice(len(GENDERS), size=rows)
    senior = (rng.random(rows) < 0.16).astype(np.int8)
    tenure = np.clip(rng.gamma(2.0, 14.0, size=rows), 1, 72).round().astype(np.int32)
    tenure = np.where(contract == 2, np.clip(tenure + 12, 1, 72), tenure)
    base = np.array([20.0, 55.0, 80.0])[internet]
    monthly = base + rng.normal(0, 12, size=rows) + senior * 5
    if drift:
        monthly = monthly * 1.25 + 8
    monthly = np.clip(monthly, 18.0, 150.0).round(2)
    total = (monthly * tenure * rng.uniform(0.9, 1.05, size=rows)).round(2)
    calls = rng.poisson(1.2 + (internet == 0) * 0.8, size=rows).astype(np.int32)
    logit = (
        -1.1
        + 1.4 * (contract == 0)
        - 0.9 * (contract == 2)
        - 0.035 * tenure
        + 0.018 * (monthly - 60)
        + 0.35 * calls
        + 0.5 * (payment == 2)
        + 0.3 * senior
        + 0.25 * (internet == 0)
    )
    churned = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    signup = np.array([as_of - timedelta(days=int(30.4 * t)) for t in tenure], dtype="datetime64[us]")
    active_lag = rng.integers(0, 30, size=rows)
    last_active = np.array([as_of - timedelta(days=int(d)) for d in active_lag], dtype="datetime64[us]")
    total_f = total.astype(np.float64)
    total_f[rng.random(rows) < 0.01] = np.nan  # a few unknown totals, as in real billing data
    frame = pl.DataFrame(
        {
            "customer_id": np.arange(1, rows + 1, dtype=np.int64) + (10_000_000 if drift else 0),
            "signup_date": signup,
            "last_active": last_active,
            "tenure_months": tenure,
            "monthly_charges": monthly,
            "total_charges": total_f,
            "support_calls": calls,
            "contract": [CONTRACTS[i] for i in contract],
            "payment_method": [PAYMENTS[i] for i in payment],
            "internet_service": [INTERNET[i] for i in internet],
            "region": [REGIONS[i] for i in region],
            "gender": [GENDERS[i] for i in gender],
            "senior_citizen": senior,
            "churned": churned,
        }
    ).with_columns(pl.col("total_charges").fill_nan(None))
    if drift:
        # a payment method the model has never seen
        frame = frame.with_columns(
            pl.when(pl.col("customer_id") % 9 == 0).then(pl.lit("crypto"))
            .otherwise(pl.col("payment_method")).alias("payment_method")
        )
    if broken:
        frame = frame.with_columns(
            pl.when(pl.col("customer_id") % 50 == 0).then(-pl.col("monthly_charges"))
            .otherwise(pl.col("monthly_charges")).alias("monthly_charges"),
            pl.when(pl.col("customer_id") % 7 == 0).then(None)
            .otherwise(pl.col("tenure_months")).alias("tenure_months"),
            pl.when(pl.col("customer_id") % 100 == 0).then(pl.lit("unknown"))
            .otherwise(pl.col("contract")).alias("contract"),
            (pl.col("customer_id") % (rows // 2)).alias("customer_id"),  # duplicate ids
        )
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--drift", action="store_true", help="shifted distributions, a new category")
    parser.add_argument("--broken", action="store_true", help="negative charges, nulls, bad values, duplicate ids")
    parser.add_argument("--out", type=Path, default=Path("data/churn.parquet"))
    parser.add_argument("--reference", type=Path, default=Path("data/reference.parquet"),
                        help="the first clean batch is also written here, as the data contract's "
                             "drift reference; later batches keep it (delete it to re-baseline)")
    args = parser.parse_args()
    frame = generate(args.rows, args.seed, drift=args.drift, broken=args.broken)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(args.out, statistics=False)
    print(f"wrote {frame.height:,} rows x {frame.width} columns to {args.out}")
    if not (args.drift or args.broken) and not args.reference.exists():
        args.reference.parent.mkdir(parents=True, exist_ok=True)
        frame.write_parquet(args.reference, statistics=False)
        print(f"wrote the drift reference {args.reference} (kept for later batches)")


if __name__ == "__main__":
    main()
