"""Split data/churn.parquet into train, holdout and benchmark sets (params: prepare, split, seed).

    python prepare.py        # data/train.parquet, data/holdout.parquet, data/benchmark.parquet
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl
import yaml


def main() -> None:
    # under `assay run` ASSAY_PARAMS_FILE holds params.yaml with the profile's overrides applied
    params = yaml.safe_load(Path(os.environ.get("ASSAY_PARAMS_FILE", "params.yaml")).read_text())
    seed = int(params["seed"])
    frame = pl.read_parquet("data/churn.parquet")
    sample = float(params["prepare"]["sample"])
    if sample < 1.0:
        frame = frame.sample(fraction=sample, seed=seed)
    # A stream of its own: default_rng(seed) would replay the generator's draws, and the split
    # would follow the columns generated from them (every holdout row month-to-month).
    rng = np.random.default_rng([seed, 0x5B117])
    draw = rng.random(frame.height)
    holdout = float(params["split"]["holdout_fraction"])
    benchmark = float(params["split"]["benchmark_fraction"])
    parts = {
        "holdout": draw < holdout,
        "benchmark": (draw >= holdout) & (draw < holdout + benchmark),
        "train": draw >= holdout + benchmark,
    }
    for name, mask in parts.items():
        part = frame.filter(pl.Series(mask))
        part.write_parquet(f"data/{name}.parquet")
        print(f"{name}: {part.height} rows")


if __name__ == "__main__":
    main()
