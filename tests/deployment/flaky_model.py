"""A pyfunc (pickled) classifier that fails about one call in five: for the error-rate guard."""

from __future__ import annotations

from typing import Any

import numpy as np


class FlakyModel:
    """Raises on a call whose first row has ``a`` above 1.64 (a fifth of the tests' rows, whose
    ``a`` is normal with mean 0.8); otherwise predicts like a threshold on ``a + c / 2``."""

    classes_ = np.array([0, 1])

    def predict_proba(self, frame: Any) -> np.ndarray:
        a = np.asarray(frame["a"], dtype=float)
        if a.size and a[0] > 1.64:
            raise RuntimeError("flaky model: out of luck")
        score = 1.0 / (1.0 + np.exp(-(a + np.asarray(frame["c"], dtype=float) / 2)))
        return np.column_stack([1.0 - score, score])

    def predict(self, frame: Any) -> np.ndarray:
        return self.predict_proba(frame).argmax(axis=1)


def flaky_package(root: Any, rel: str, name: str = "toy") -> Any:
    import polars as pl

    from assay.models import save_model

    return save_model(FlakyModel(), root / rel, name=name, flavor="pyfunc", allow_pickle=True,
                      input_example=pl.DataFrame({"a": [0.0], "b": [2], "c": [3.0]}),
                      lineage={"root": root}).path
