"""A pyfunc (pickled) classifier that takes its time: for timeouts, overload and pickle rules."""

from __future__ import annotations

import time
from typing import Any

import numpy as np


class SlowModel:
    """Predicts class 1 for every row after sleeping ``delay`` seconds per call."""

    classes_ = np.array([0, 1])

    def __init__(self, delay: float) -> None:
        self.delay = delay

    def predict_proba(self, frame: Any) -> np.ndarray:
        time.sleep(self.delay)
        return np.tile([0.25, 0.75], (len(frame), 1))

    def predict(self, frame: Any) -> np.ndarray:
        return self.predict_proba(frame).argmax(axis=1)


def slow_package(root: Any, rel: str, delay: float, name: str = "slow") -> Any:
    import polars as pl

    from assay.models import save_model

    return save_model(SlowModel(delay), root / rel, name=name, flavor="pyfunc",
                      allow_pickle=True, input_example=pl.DataFrame({"a": [1.0], "b": [2],
                                                                     "c": [3.0]}),
                      lineage={"root": root}).path
