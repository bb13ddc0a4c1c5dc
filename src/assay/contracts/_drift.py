"""The drift engine: statistics on binned or categorical counts (vectorised NumPy/SciPy), and
decisions calibrated for the sample size.

Everything here works on *counts*, never on raw rows, so a reference profile computed once (one
pass over the reference data) can be compared with any number of batches, and the monitoring
package reuses the same functions on windows of prediction logs.

**A decision is a test, then an effect size.** A column drifts when a test of "the current
values come from the reference's distribution" rejects at the level ``alpha`` (after the
correction for testing many columns, :func:`adjust`) **and**, for an effect-size statistic, the
effect is beyond its threshold. The test bounds the false-alarm rate: on data from the
reference's distribution a column (or, corrected, a whole contract) drifts with probability at
most ``alpha``, at any sample size; the effect threshold keeps a large sample from alarming on a
difference too small to matter.

- the test: numbers, the two-sample Kolmogorov-Smirnov test on the reference's quantile bins
  (asymptotic p-value; binning makes it conservative); categories (and numbers with
  ``statistic: chi2``, and a constant reference), the chi-square test of homogeneity with
  sparse cells merged (:func:`chi2_pooled`: every cell expects at least 5 on both sides, so the
  chi-square approximation holds for many rare categories and small samples);
- a column of two categories up to :data:`LARGE_SAMPLE` current values (or ``statistic: z``):
  the two-proportion z-test (pooled, two-sided; the same p-value as the chi-square test of the
  2x2 table without continuity correction), as Evidently does for binary columns;
- the effect size: the ``statistic`` (default chosen by type and size as Evidently does: up to
  :data:`LARGE_SAMPLE` current values the test alone, ``ks`` for numbers, ``z`` for two
  categories and ``chi2`` for more; above it ``wasserstein`` for numbers and ``js`` for
  categories):

========== ======================================================= ================
statistic  effect size                                               default bound
========== ======================================================= ================
ks         Kolmogorov-Smirnov D between the binned CDFs              0.1 (the default
                                                                     for a small
                                                                     sample: none)
chi2       none: the test alone                                      none
z          none: the test alone (two categories)                     none
psi        population stability index over the bins                 0.2
js         Jensen-Shannon distance (base 2, 0..1)                    0.1
wasserstein earth mover's distance between bin centres, in units     0.1
           of the reference standard deviation
========== ======================================================= ================

Fewer than :data:`MIN_VALUES` values on either side is insufficient data
(``DriftResult.insufficient``), never drift.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

#: Effect-size bounds by statistic (``chi2`` has no effect size: its test alone decides; so
#: does ``ks`` when it is the default for a small sample rather than asked for).
DEFAULT_THRESHOLDS: dict[str, float | None] = {
    "psi": 0.2,
    "ks": 0.1,
    "chi2": None,
    "z": None,
    "js": 0.1,
    "wasserstein": 0.1,
}
STATISTICS = tuple(DEFAULT_THRESHOLDS)
#: The false-alarm rate of a drift test (of a contract's, after the correction).
DEFAULT_ALPHA = 0.05
#: How p-values of many columns are combined: Benjamini-Hochberg, Bonferroni, or not at all.
CORRECTIONS = ("bh", "bonferroni", "none")
#: Fewer values than this on either side decide nothing.
MIN_VALUES = 30
#: Above this many current values the default statistic is an effect size, below the test alone.
LARGE_SAMPLE = 1000
#: A chi-square cell expects at least this many on both sides (sparser cells are merged).
MIN_EXPECTED = 5.0
_EPS = 1e-4

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class DriftResult:
    """One drift comparison, decided at ``alpha`` before any correction for many columns."""

    statistic: str
    value: float | None
    threshold: float | None
    """The effect-size bound (None: the test alone decides)."""
    drifted: bool
    p_value: float | None = None
    insufficient: str | None = None  # why there was not enough data to decide
    test: str | None = None
    """The test behind ``p_value``: ``ks``, ``chi2`` or ``z``."""
    effect: bool = True
    """True when the effect is beyond its bound (or there is no bound)."""
    alpha: float = DEFAULT_ALPHA

    @property
    def status(self) -> str:
        """``drift``, ``no_drift`` or ``insufficient_data``."""
        if self.insufficient:
            return "insufficient_data"
        return "drift" if self.drifted else "no_drift"

    def to_dict(self) -> dict[str, object]:
        return {
            "statistic": self.statistic,
            "value": self.value,
            "threshold": self.threshold,
            "drifted": self.drifted,
            "status": self.status,
            "p_value": self.p_value,
            "test": self.test,
            "effect": self.effect,
            "alpha": self.alpha,
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


def chi2_pooled(
    reference: Sequence[float] | FloatArray,
    current: Sequence[float] | FloatArray,
    *,
    unseen: bool = False,
    min_expected: float = MIN_EXPECTED,
) -> tuple[float, float, int]:
    """The chi-square test of homogeneity with sparse cells merged: (statistic, p-value, cells).

    A cell whose expected count is below ``min_expected`` on either side (rare categories, a
    small sample) joins one pooled cell; if that cell is still too sparse, the next smallest
    cell joins it too. With ``unseen``, the last cell sums the categories the reference never
    had (each of them rare on the reference's side by how it was chosen) and always joins the
    pooled cell. Which cells merge depends only on the pooled counts, so the test keeps its
    level; fewer than two cells left is p = 1.
    """
    ref = _as_counts(reference)
    cur = _as_counts(current)
    total_ref, total_cur = ref.sum(), cur.sum()
    pooled = ref + cur
    need = min_expected * (total_ref + total_cur) / min(total_ref, total_cur)
    if unseen and ref.size:
        pooled = pooled.copy()
        pooled[-1] = 0.0 if pooled[-1] == 0 else min(pooled[-1], need * 0.5)  # sparse
    keep = (ref + cur) > 0
    ref, cur, pooled = ref[keep], cur[keep], pooled[keep]
    if pooled.size < 2:
        return 0.0, 1.0, int(pooled.size)
    order = np.argsort(pooled, kind="mergesort")
    sparse = pooled[order] < need
    cut = int(sparse.sum())  # cells order[:cut] are sparse
    if cut:
        while cut < pooled.size and (ref + cur)[order[:cut]].sum() < need:
            cut += 1  # the pooled cell is still sparse: the next smallest joins it
        dense = order[cut:]
        ref = np.append(ref[dense], ref[order[:cut]].sum())
        cur = np.append(cur[dense], cur[order[:cut]].sum())
    stat, p = chi2_counts(ref, cur)
    return stat, p, int(ref.size)


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


def auto_statistic(numeric: bool, values: float) -> str:
    """The default statistic for a column: the test alone up to :data:`LARGE_SAMPLE` current
    values (``ks`` for numbers, ``chi2`` for categories), an effect size above it
    (``wasserstein`` for numbers, ``js`` for categories), as Evidently chooses."""
    if values <= LARGE_SAMPLE:
        return "ks" if numeric else "chi2"
    return "wasserstein" if numeric else "js"


def compare(
    statistic: str | None,
    reference: Sequence[float] | FloatArray,
    current: Sequence[float] | FloatArray,
    *,
    threshold: float | None = None,
    centers: Sequence[float] | FloatArray | None = None,
    scale: float | None = None,
    numeric: bool | None = None,
    unseen: bool = False,
    alpha: float = DEFAULT_ALPHA,
) -> DriftResult:
    """Compare two count vectors (same bins/categories, same order).

    Args:
        statistic: one of ``psi``, ``ks``, ``chi2``, ``js``, ``wasserstein``, or None for the
            default by type and size (:func:`auto_statistic`).
        reference: reference counts per bin or category.
        current: current counts, aligned with ``reference``.
        threshold: the effect-size bound (default per statistic, see the module docstring).
        centers: bin centres (needed for ``wasserstein``).
        scale: divides the Wasserstein distance (reference standard deviation).
        numeric: ordered bins of a number (the KS test) or categories (chi-square); default:
            numeric when ``centers`` are given.
        unseen: the last category sums the current values the reference never had.
        alpha: the test's level (before any correction for many columns).

    Returns:
        The result; ``insufficient`` says why nothing could be decided.

    Raises:
        ValueError: unknown statistic, or misaligned counts.
    """
    if statistic is not None and statistic not in DEFAULT_THRESHOLDS:
        raise ValueError(f"unknown drift statistic {statistic!r}; use one of {', '.join(STATISTICS)}")
    numeric = centers is not None if numeric is None else numeric
    ref = _as_counts(reference)
    cur = _as_counts(current)
    if ref.shape != cur.shape:
        raise ValueError(f"reference has {ref.size} bins, current has {cur.size}")
    chosen = statistic or auto_statistic(numeric, float(cur.sum()))
    if threshold is not None:
        limit: float | None = float(threshold)
    else:  # the small-sample default is the test alone
        limit = None if statistic is None and chosen == "ks" else DEFAULT_THRESHOLDS[chosen]
    cells = int(np.count_nonzero((ref + cur) > 0))
    two = cells == 2 and not numeric and not unseen
    if statistic is None and chosen == "chi2" and two:
        chosen = "z"  # a binary column, small sample: the two-proportion z-test
    statistic = chosen
    if statistic == "z" and not two:
        return DriftResult("z", None, None, False, alpha=alpha, test="z", insufficient=(
            f"z (the two-proportion z-test) needs exactly two categories, this column has "
            f"{cells}{' and values the reference lacks' if unseen else ''}; use chi2"))
    if statistic in ("chi2", "z"):
        limit = None  # the test alone
    test = "z" if statistic == "z" else "ks" if numeric and statistic != "chi2" else "chi2"
    for side, counts in (("reference", ref), ("current data", cur)):
        total = float(counts.sum())
        if total < MIN_VALUES:
            empty = "reference has no values" if side == "reference" else "no values to compare"
            why = empty if total == 0 else f"{side} has {total:.0f} values (fewer than {MIN_VALUES})"
            return DriftResult(statistic, None, limit, False, insufficient=why, test=test,
                               alpha=alpha)
    if test == "z":
        z, p_value = z_two_proportions(ref, cur)
    else:
        p_value = (ks_binned(ref, cur)[1] if test == "ks"
                   else chi2_pooled(ref, cur, unseen=unseen)[1])
    if statistic == "psi":
        value = psi(ref, cur)
    elif statistic == "js":
        value = js_distance(ref, cur)
    elif statistic == "ks":
        value = ks_binned(ref, cur)[0]
    elif statistic == "chi2":
        value = chi2_counts(ref, cur)[0]
    elif statistic == "z":
        value = abs(z)
    else:
        if centers is None:
            raise ValueError("wasserstein needs bin centres")
        value = wasserstein_binned(ref, cur, centers, scale=scale)
    effect = limit is None or value > limit
    return DriftResult(statistic, value, limit, bool(effect and p_value <= alpha),
                       p_value=p_value, test=test, effect=bool(effect), alpha=alpha)


def z_two_proportions(reference: Sequence[float] | FloatArray,
                      current: Sequence[float] | FloatArray) -> tuple[float, float]:
    """The pooled two-proportion z-test of the first of two categories: (z, two-sided p).
    z squared is the chi-square statistic of the 2x2 table (no continuity correction)."""
    from scipy.special import ndtr

    ref = _as_counts(reference)
    cur = _as_counts(current)
    keep = (ref + cur) > 0
    ref, cur = ref[keep], cur[keep]
    n1, n2 = float(ref.sum()), float(cur.sum())
    p1, p2 = float(ref[0]) / n1, float(cur[0]) / n2
    pooled = (float(ref[0]) + float(cur[0])) / (n1 + n2)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
    if se == 0.0:
        return 0.0, 1.0
    z = (p2 - p1) / se
    return z, float(2.0 * ndtr(-abs(z)))


def adjust(p_values: Sequence[float], alpha: float, correction: str) -> list[bool]:
    """Which of ``p_values`` reject at the family's level ``alpha``.

    ``bh``: Benjamini-Hochberg (the false discovery rate at ``alpha``; when no column drifted,
    the chance of any alarm is at most ``alpha``); ``bonferroni``: each at ``alpha / m`` (the
    chance of any false alarm at most ``alpha`` whatever drifted); ``none``: each at ``alpha``.

    Raises:
        ValueError: an unknown correction.
    """
    if correction not in CORRECTIONS:
        raise ValueError(f"unknown correction {correction!r}; use one of {', '.join(CORRECTIONS)}")
    m = len(p_values)
    if correction == "none":
        return [p <= alpha for p in p_values]
    if correction == "bonferroni":
        return [p <= alpha / m for p in p_values]
    order = sorted(range(m), key=lambda i: p_values[i])
    passed = 0
    for rank, i in enumerate(order, start=1):
        if p_values[i] <= rank * alpha / m:
            passed = rank
    rejected = set(order[:passed])
    return [i in rejected for i in range(m)]


def unseen_p_value(reference: Sequence[float] | FloatArray,
                   current: Sequence[float] | FloatArray) -> float:
    """The p-value of the current rows whose category the reference never had, when both samples
    come from one distribution (counts aligned over every category either side has).

    Given the pooled count c of a category, the chance that all c of its rows fell on the
    current side is hypergeometric, C(m, c) / C(n + m, c); the rows in categories unseen by the
    reference are the sum of those independent-enough events. The p-value is that sum's upper
    tail at the observed count (exact by convolution up to 2,000 rows, normal beyond). Rare
    values a small reference happened to lack are expected; many rows of new values are not.
    """
    from scipy.special import gammaln, ndtr

    ref = _as_counts(reference)
    cur = _as_counts(current)
    k = round(float(cur[ref == 0].sum()))
    if k <= 0:
        return 1.0
    n, m = float(ref.sum()), float(cur.sum())
    pooled = (ref + cur)[(ref + cur) > 0]
    # log C(m, c) - log C(n + m, c)
    log_p = (gammaln(m + 1) - gammaln(m - pooled + 1) - gammaln(n + m + 1)
             + gammaln(n + m - pooled + 1))
    log_p = np.where(pooled <= m, log_p, -np.inf)
    chance = np.exp(log_p)
    live = chance > 1e-15
    sizes, chance = pooled[live].astype(np.int64), chance[live]
    if k > 2000:
        mean = float(np.sum(sizes * chance))
        sd = math.sqrt(float(np.sum(sizes.astype(float) ** 2 * chance * (1 - chance))))
        return float(ndtr(-(k - 0.5 - mean) / sd)) if sd > 0 else float(k <= mean)
    below = np.zeros(k, dtype=np.float64)  # P(sum == s) for s < k
    below[0] = 1.0
    for size, p in zip(sizes.tolist(), chance.tolist(), strict=True):
        moved = np.zeros_like(below)
        if size < k:
            moved[size:] = below[: k - size] * p
        below = below * (1 - p) + moved
    return float(min(1.0, max(0.0, 1.0 - below.sum())))


__all__ = [
    "CORRECTIONS",
    "DEFAULT_ALPHA",
    "DEFAULT_THRESHOLDS",
    "LARGE_SAMPLE",
    "MIN_VALUES",
    "STATISTICS",
    "DriftResult",
    "adjust",
    "auto_statistic",
    "bin_counts",
    "chi2_counts",
    "chi2_pooled",
    "compare",
    "js_distance",
    "ks_binned",
    "psi",
    "quantile_edges",
    "unseen_p_value",
    "wasserstein_binned",
]
