"""Drift statistics on binned or categorical summaries (vectorised NumPy/SciPy).

Everything here works on *counts*, never on raw rows, so a reference profile computed once (one
pass over the reference data) can be compared with any number of batches, and the monitoring
package reuses the same functions on windows of prediction logs.

Statistics and their default thresholds (drift when the value exceeds the threshold, except
``chi2`` whose threshold is a p-value: drift when ``p < threshold``):

========== ======================================================= =========
statistic  what it measures                                          default
========== ======================================================= =========
psi        population stability index over the bins                 0.2
ks         Kolmogorov-Smirnov D between the binned CDFs              0.1
chi2       chi-square test of homogeneity on the counts (p-value)    0.01
js         Jensen-Shannon distance (base 2, 0..1)                    0.1
wasserstein earth mover's distance between bin centres, in units     0.1
           of the reference standard deviation
========== ======================================================= =========

Insufficient data (no values on either side, a constant reference) is reported as such
(``DriftResult.insufficient``), never as drift.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

DEFAULT_THRESHOLDS: dict[str, float] = {
    "psi": 0.2,
    "ks": 0.1,
    "chi2": 0.01,
    "js": 0.1,
    "wasserstein": 0.1,
}
STATISTICS = tuple(DEFAULT_THRESHOLDS)
_EPS = 1e-4

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class DriftResult:
    """One drift comparison."""

    statistic: str
    value: float | None
    threshold: float
    drifted: bool
    p_value: float | None = None
    insufficient: str | None = None  # why there was not enough data to decide

    def to_dict(self) -> dict[str, object]:
        return {
            "statistic": self.statistic,
            "value": self.value,
            "threshold": self.threshold,
            "drifted": self.drifted,
            "p_value": self.p_value,
            "insufficient": self.insufficient,
        }


def _as_counts(values: Sequence[float] | FloatArray) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError("counts must be one-dimensional")
    if np.any(arr < 0) or not np.all(np.isfinite(arr)):
        raise ValueError("counts must be finite and non-negative")
    return arr


def _proportions(counts: FloatArray) -> FloatArray:
    total = counts.sum()
    return counts / total if total > 0 else counts


def psi(reference: Sequence[float] | FloatArray, current: Sequence[float] | FloatArray) -> float:
    """Population stability index; empty bins are smoothed with a small epsilon."""
    ref = np.clip(_proportions(_as_counts(reference)), _EPS, None)
    cur = np.clip(_proportions(_as_counts(current)), _EPS, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def js_distance(reference: Sequence[float] | FloatArray, current: Sequence[float] | FloatArray) -> float:
    """Jensen-Shannon distance, base 2 (0 identical, 1 disjoint)."""
    ref = _proportions(_as_counts(reference))
    cur = _proportions(_as_counts(current))
    mid = (ref + cur) / 2.0

    def _kl(p: FloatArray, q: FloatArray) -> float:
        mask = p > 0
        return float(np.sum(p[mask] * np.log2(p[mask] / q[mask])))

    divergence = (_kl(ref, mid) + _kl(cur, mid)) / 2.0
    return math.sqrt(max(divergence, 0.0))


def ks_binned(
    reference: Sequence[float] | FloatArray, current: Sequence[float] | FloatArray
) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov on ordered bins: (D, asymptotic p-value)."""
    from scipy.special import kolmogorov

    ref = _as_counts(reference)
    cur = _as_counts(current)
    n, m = ref.sum(), cur.sum()
    d = float(np.max(np.abs(np.cumsum(ref) / n - np.cumsum(cur) / m)))
    effective = math.sqrt(n * m / (n + m))
    return d, float(kolmogorov(d * effective))


def chi2_counts(
    reference: Sequence[float] | FloatArray, current: Sequence[float] | FloatArray
) -> tuple[float, float]:
    """Chi-square test of homogeneity on a 2 x K table of counts: (statistic, p-value)."""
    from scipy.special import chdtrc  # chi2.sf itself, without importing scipy.stats (~1 s)

    ref = _as_counts(reference)
    cur = _as_counts(current)
    keep = (ref + cur) > 0
    table = np.vstack([ref[keep], cur[keep]])
    if table.shape[1] < 2:
        return 0.0, 1.0
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    stat = float(np.sum((table - expected) ** 2 / expected))
    dof = table.shape[1] - 1
    return stat, float(chdtrc(dof, stat))


def wasserstein_binned(
    reference: Sequence[float] | FloatArray,
    current: Sequence[float] | FloatArray,
    centers: Sequence[float] | FloatArray,
    *,
    scale: float | None = None,
) -> float:
    """Earth mover's distance between two histograms on the same bin centres.

    Divided by ``scale`` (usually the reference standard deviation) when given and positive.
    """
    ref = _as_counts(reference)
    cur = _as_counts(current)
    pos = np.asarray(centers, dtype=np.float64)
    if not (ref.sum() > 0 and cur.sum() > 0):
        raise ValueError("both histograms need a positive total count")
    # scipy.stats.wasserstein_distance(pos, pos, ref, cur), without importing scipy.stats:
    # the area between the two weighted CDFs over the sorted positions
    order = np.argsort(pos, kind="mergesort")
    gap = np.cumsum(ref[order] / ref.sum() - cur[order] / cur.sum())[:-1]
    value = float(np.sum(np.abs(gap) * np.diff(pos[order])))
    return value / scale if scale and scale > 0 else value


def quantile_edges(values: Sequence[float] | FloatArray, bins: int) -> FloatArray:
    """Interior bin edges at the reference quantiles (deduplicated; may be fewer than bins-1)."""
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return np.array([], dtype=np.float64)
    qs = np.linspace(0.0, 1.0, bins + 1)[1:-1]
    return np.unique(np.quantile(arr, qs))


def bin_counts(values: Sequence[float] | FloatArray, edges: Sequence[float] | FloatArray) -> FloatArray:
    """Counts per bin for interior ``edges`` (len(edges)+1 bins, right-closed like Polars cut)."""
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    idx = np.searchsorted(np.asarray(edges, dtype=np.float64), arr, side="left")
    return np.bincount(idx, minlength=len(edges) + 1).astype(np.float64)


def compare(
    statistic: str,
    reference: Sequence[float] | FloatArray,
    current: Sequence[float] | FloatArray,
    *,
    threshold: float | None = None,
    centers: Sequence[float] | FloatArray | None = None,
    scale: float | None = None,
) -> DriftResult:
    """Compare two count vectors (same bins/categories, same order) with ``statistic``.

    Args:
        statistic: one of ``psi``, ``ks``, ``chi2``, ``js``, ``wasserstein``.
        reference: reference counts per bin or category.
        current: current counts, aligned with ``reference``.
        threshold: drift threshold (default per statistic, see the module docstring).
        centers: bin centres (needed for ``wasserstein``).
        scale: divides the Wasserstein distance (reference standard deviation).

    Returns:
        The result; ``insufficient`` says why nothing could be decided.

    Raises:
        ValueError: unknown statistic, or misaligned counts.
    """
    if statistic not in DEFAULT_THRESHOLDS:
        raise ValueError(f"unknown drift statistic {statistic!r}; use one of {', '.join(STATISTICS)}")
    limit = DEFAULT_THRESHOLDS[statistic] if threshold is None else float(threshold)
    ref = _as_counts(reference)
    cur = _as_counts(current)
    if ref.shape != cur.shape:
        raise ValueError(f"reference has {ref.size} bins, current has {cur.size}")
    if ref.sum() == 0:
        return DriftResult(statistic, None, limit, False, insufficient="reference has no values")
    if cur.sum() == 0:
        return DriftResult(statistic, None, limit, False, insufficient="no values to compare")
    p_value: float | None = None
    if statistic == "psi":
        value = psi(ref, cur)
    elif statistic == "js":
        value = js_distance(ref, cur)
    elif statistic == "ks":
        value, p_value = ks_binned(ref, cur)
    elif statistic == "chi2":
        value, p_value = chi2_counts(ref, cur)
    else:
        if centers is None:
            raise ValueError("wasserstein needs bin centres")
        value = wasserstein_binned(ref, cur, centers, scale=scale)
    drifted = (p_value is not None and p_value < limit) if statistic == "chi2" else value > limit
    return DriftResult(statistic, value, limit, bool(drifted), p_value=p_value)


__all__ = [
    "DEFAULT_THRESHOLDS",
    "STATISTICS",
    "DriftResult",
    "bin_counts",
    "chi2_counts",
    "compare",
    "js_distance",
    "ks_binned",
    "psi",
    "quantile_edges",
    "wasserstein_binned",
]
