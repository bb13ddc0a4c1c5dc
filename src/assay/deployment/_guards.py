"""The guards of a rollout: statistical tests on one variant's measurements that decide whether
a candidate may move on (pass), must be rolled back (fail), or has not been seen enough yet
(insufficient).

Every guard tests the null hypothesis "the candidate meets the bound" and fails only when the
data reject it at the level ``alpha / (looks * active guards)``. By Bonferroni, a candidate that
meets every bound is rolled back with probability at most ``alpha`` over the whole rollout
(``looks`` is one per step).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assay.config import GuardsConfig

#: The tail share a p99 leaves above it: the p99 guard tests P(latency > bound) <= P99_TAIL.
P99_TAIL = 0.01


@dataclass(frozen=True)
class VariantSample:
    """One variant's measurements over a window (deltas of the server's counters).

    ``latency`` is the request-seconds histogram as ``(le seconds, cumulative count)`` pairs in
    increasing ``le``, ending with ``inf``; ``predictions`` counts predictions per class label
    (or per value bucket ``le`` for regressors; counts per bucket, not cumulative).
    """

    requests: int
    errors: int
    latency: tuple[tuple[float, int], ...] = ()
    predictions: Mapping[str, int] = field(default_factory=dict)
    labelled: int = 0
    """Predictions scored against a feedback label."""
    correct: int = 0
    """Of those, the ones a classifier got right."""
    abs_error: float = 0.0
    """A regressor's sum of absolute errors over the labelled predictions."""
    sq_error: float = 0.0
    """A regressor's sum of squared errors over the labelled predictions."""
    quality: str = ""
    """How labelled predictions were scored: ``accuracy``, ``mae`` or ``""`` (none were)."""

    @property
    def latency_count(self) -> int:
        """Requests the latency histogram saw."""
        return self.latency[-1][1] if self.latency else 0

    @property
    def prediction_count(self) -> int:
        """Predictions counted (rows, for batch requests)."""
        return sum(self.predictions.values())


@dataclass(frozen=True)
class GuardDecision:
    """One guard's verdict on one look at the candidate."""

    guard: str
    status: str
    value: float | None
    bound: float
    p_value: float | None
    alpha: float
    test: str
    detail: str

    @property
    def failed(self) -> bool:
        """True when the guard asks for a rollback."""
        return self.status == "fail"


ERROR_TEST = "one-sided exact binomial test, H0: error rate <= max"
LATENCY_TEST = ("one-sided exact binomial test on requests slower than the smallest histogram "
                "bound >= max, H0: P(latency > bound) <= 0.01 (conservative: the bound is at or "
                "above max)")
ACCURACY_TEST = ("one-sided two-proportion z-test (Agresti-Caffo), H0: candidate accuracy >= "
                 "incumbent accuracy - max_drop")
MAE_TEST = ("one-sided Welch z-test on absolute errors, H0: candidate MAE <= (1 + max_drop) x "
            "incumbent MAE")
SHIFT_TEST = ("one-sided two-proportion z-tests per class (Agresti-Caffo), H0: |share difference|"
              " <= max, Bonferroni over classes (two classes are one test)")


def guard_alpha(guards: GuardsConfig, looks: int) -> float:
    """The level of one guard's test at one look: ``alpha / (looks * active guards)``.

    Raises:
        ValueError: ``looks`` is below 1.
    """
    if looks < 1:
        raise ValueError(f"looks must be at least 1, not {looks}")
    return guards.alpha / (looks * max(1, len(guards.active)))


def binomial_p_value(count: int, n: int, rate: float) -> float:
    """P(X >= count) for X ~ Binomial(n, rate): the p-value of ``count`` events under the bound."""
    from scipy.special import bdtrc  # binom.sf without the distribution object's overhead

    if count <= 0:
        return 1.0
    if rate <= 0.0:
        return 0.0
    return float(bdtrc(count - 1, n, rate))


def shift_p_value(x: int, n: int, y: int, m: int, bound: float) -> tuple[float, float]:
    """(difference, p-value) of H0 ``|p - q| <= bound`` for ``x`` of ``n`` against ``y`` of ``m``.

    The test runs against the shifted null ``p - q = +-bound`` on the side of the observed
    difference, with Agresti-Caffo shares ``(x + 1) / (n + 2)`` so the standard error is never 0.
    The difference returned is the raw one, ``x / n - y / m``.
    """
    from scipy.special import ndtr

    p, q = (x + 1) / (n + 2), (y + 1) / (m + 2)
    se = math.sqrt(p * (1 - p) / (n + 2) + q * (1 - q) / (m + 2))
    excess = abs(p - q) - bound
    return x / n - y / m, float(ndtr(-excess / se))


def shift_tests(classes: int) -> int:
    """How many tests the shift guard's Bonferroni split counts for ``classes`` classes: with two,
    the two differences are one (``d`` and ``-d``), so one test; otherwise one per class."""
    return 1 if classes <= 2 else classes


def _insufficient(guard: str, bound: float, alpha: float, test: str, why: str) -> GuardDecision:
    return GuardDecision(guard, "insufficient", None, bound, None, alpha, test, why)


def _status(p_value: float, alpha: float) -> str:
    return "fail" if p_value < alpha else "pass"


def check_error_rate(
    bound: float, candidate: VariantSample, *, alpha: float, min_requests: int
) -> GuardDecision:
    """The error-rate guard: fail when the candidate's 5xx share is significantly above ``bound``."""
    n = candidate.requests
    if n < min_requests:
        return _insufficient("error_rate", bound, alpha, ERROR_TEST,
                             f"insufficient data: {n} requests < {min_requests}")
    rate = candidate.errors / n
    p = binomial_p_value(candidate.errors, n, bound)
    status = _status(p, alpha)
    sign = ">" if status == "fail" else "<=" if rate <= bound else "not significantly >"
    return GuardDecision(
        "error_rate", status, rate, bound, p, alpha, ERROR_TEST,
        f"error rate {rate:.3g} {sign} {bound:g} (p={p:.2g}, {candidate.errors} of {n} requests)")


def p99_upper(latency: tuple[tuple[float, int], ...]) -> float:
    """An upper estimate of the p99 in seconds: the smallest bucket bound holding 99% of the
    requests (``inf`` when the p99 is past the last finite bound)."""
    total = latency[-1][1]
    for le, cumulative in latency:
        if cumulative >= (1 - P99_TAIL) * total:
            return le
    return math.inf


def check_p99(
    bound_ms: float, candidate: VariantSample, *, alpha: float, min_requests: int
) -> GuardDecision:
    """The latency guard: fail when significantly more than 1% of the candidate's requests are
    slower than the smallest histogram bound at or above ``bound_ms``."""
    n = min(candidate.requests, candidate.latency_count)
    if n < min_requests:
        return _insufficient("p99_ms", bound_ms, alpha, LATENCY_TEST,
                             f"insufficient data: {n} requests < {min_requests}")
    edges = [le for le, _ in candidate.latency if le * 1000 >= bound_ms and le != math.inf]
    if not edges:
        return _insufficient("p99_ms", bound_ms, alpha, LATENCY_TEST,
                             f"insufficient data: no latency bucket at or above {bound_ms:g} ms")
    edge = edges[0]
    total = candidate.latency_count
    slower = total - dict(candidate.latency)[edge]
    p = binomial_p_value(slower, total, P99_TAIL)
    status = _status(p, alpha)
    upper = p99_upper(candidate.latency) * 1000
    value = None if upper == math.inf else upper
    shown = (f"p99 <= {upper:g} ms" if value is not None
             else f"p99 > {candidate.latency[-2][0] * 1000:g} ms")
    word = "above" if status == "fail" else "within"
    return GuardDecision(
        "p99_ms", status, value, bound_ms, p, alpha, LATENCY_TEST,
        f"{shown}, {word} {bound_ms:g} ms: {slower} of {total} requests slower than "
        f"{edge * 1000:g} ms (p={p:.2g})")


def check_shift(
    bound: float,
    candidate: VariantSample,
    incumbent: VariantSample | None,
    *,
    alpha: float,
    min_requests: int,
) -> GuardDecision:
    """The prediction-shift guard: fail when any class's share differs from the incumbent's by
    significantly more than ``bound`` (Bonferroni over the classes)."""
    if incumbent is None:
        return _insufficient("prediction_shift", bound, alpha, SHIFT_TEST,
                             "insufficient data: no incumbent to compare with")
    short = [(who, s) for who, s in (("candidate", candidate), ("incumbent", incumbent))
             if min(s.requests, s.prediction_count) < min_requests]
    if short:
        who, s = short[0]
        n = min(s.requests, s.prediction_count)
        return _insufficient("prediction_shift", bound, alpha, SHIFT_TEST,
                             f"insufficient data: {who} has {n} predictions < {min_requests}")
    classes = sorted(k for k in {*candidate.predictions, *incumbent.predictions}
                     if candidate.predictions.get(k, 0) + incumbent.predictions.get(k, 0) > 0)
    n, m = candidate.prediction_count, incumbent.prediction_count
    per_class = alpha / shift_tests(len(classes))
    tests = [(shift_p_value(candidate.predictions.get(c, 0), n,
                            incumbent.predictions.get(c, 0), m, bound), c) for c in classes]
    (diff, p), label = min(tests, key=lambda t: (t[0][1], -abs(t[0][0])))
    largest = max(abs(d) for (d, _), _ in tests)
    status = _status(p, per_class)
    word = ">" if status == "fail" else "within"
    return GuardDecision(
        "prediction_shift", status, largest, bound, p, per_class, SHIFT_TEST,
        f"share of {label!r} moved {diff:+.3f} ({word} {bound:g}; p={p:.2g} over "
        f"{len(classes)} classes, {n} vs {m} predictions)")


def accuracy_p_value(x: int, n: int, y: int, m: int, drop: float) -> tuple[float, float]:
    """(drop, p-value) of H0 "accuracy ``x/n`` >= ``y/m - drop``": the raw drop ``y/m - x/n``
    and the one-sided z-test's p-value with Agresti-Caffo shares (never a zero error)."""
    from scipy.special import ndtr

    p, q = (x + 1) / (n + 2), (y + 1) / (m + 2)
    se = math.sqrt(p * (1 - p) / (n + 2) + q * (1 - q) / (m + 2))
    return y / m - x / n, float(ndtr(-((q - p) - drop) / se))


def mae_p_value(candidate: VariantSample, incumbent: VariantSample,
                drop: float) -> tuple[float, float, float]:
    """(candidate MAE, incumbent MAE, p-value) of H0 "candidate MAE <= (1 + drop) x incumbent
    MAE", a one-sided Welch z-test on the two samples of absolute errors."""
    from scipy.special import ndtr

    def moments(s: VariantSample) -> tuple[float, float]:
        n = s.labelled
        mean = s.abs_error / n
        var = max(0.0, s.sq_error / n - mean * mean) * n / max(1, n - 1)
        return mean, var / n

    (mc, vc), (mi, vi) = moments(candidate), moments(incumbent)
    excess = mc - (1 + drop) * mi
    se = math.sqrt(vc + (1 + drop) ** 2 * vi)
    if se == 0.0:
        return mc, mi, 0.0 if excess > 0 else 1.0
    return mc, mi, float(ndtr(-excess / se))


def check_live_quality(
    drop: float,
    candidate: VariantSample,
    incumbent: VariantSample | None,
    *,
    alpha: float,
    min_labels: int,
) -> GuardDecision:
    """The live-quality guard: fail when the candidate's quality on feedback labels is
    significantly worse than the incumbent's by more than ``drop`` (accuracy points for a
    classifier; a share of the incumbent's mean absolute error for a regressor)."""
    kind = candidate.quality or (incumbent.quality if incumbent else "")
    test = MAE_TEST if kind == "mae" else ACCURACY_TEST
    if incumbent is None:
        return _insufficient("live_quality", drop, alpha, test,
                             "insufficient data: no incumbent to compare with")
    for who, s in (("candidate", candidate), ("incumbent", incumbent)):
        if s.labelled < min_labels:
            return _insufficient("live_quality", drop, alpha, test,
                                 f"insufficient data: {who} has {s.labelled} labelled "
                                 f"predictions < {min_labels}")
    n, m = candidate.labelled, incumbent.labelled
    if kind == "mae":
        mc, mi, p = mae_p_value(candidate, incumbent, drop)
        value = mc / mi - 1 if mi > 0 else (0.0 if mc == 0 else math.inf)
        status = _status(p, alpha)
        word = ">" if status == "fail" else "within"
        return GuardDecision(
            "live_quality", status, value, drop, p, alpha, test,
            f"MAE {mc:.4g} vs {mi:.4g} ({value:+.1%}, {word} +{drop:.0%}; p={p:.2g}, {n} vs "
            f"{m} labels)")
    lost, p = accuracy_p_value(candidate.correct, n, incumbent.correct, m, drop)
    status = _status(p, alpha)
    word = ">" if status == "fail" else "within"
    return GuardDecision(
        "live_quality", status, lost, drop, p, alpha, test,
        f"accuracy {candidate.correct / n:.3f} vs {incumbent.correct / m:.3f} (drop "
        f"{lost:+.3f}, {word} {drop:g}; p={p:.2g}, {n} vs {m} labels)")


def check_guards(
    guards: GuardsConfig,
    candidate: VariantSample,
    incumbent: VariantSample | None,
    *,
    looks: int,
) -> list[GuardDecision]:
    """Every configured guard's decision on ``candidate`` (against ``incumbent`` for the shift
    and the live quality).

    Args:
        guards: the deployment's guards.
        candidate: the candidate's measurements since the step started.
        incumbent: the incumbent's over the same window (None: the shift and the live
            quality are insufficient).
        looks: the looks the rollout plans (one per step): the Bonferroni split.

    Returns:
        One decision per active guard, in ``guards.active`` order.

    Raises:
        ValueError: ``looks`` is below 1.
    """
    alpha = guard_alpha(guards, looks)
    decisions = []
    if guards.error_rate is not None:
        decisions.append(check_error_rate(guards.error_rate.max, candidate, alpha=alpha,
                                          min_requests=guards.min_requests))
    if guards.p99_ms is not None:
        decisions.append(check_p99(guards.p99_ms.max, candidate, alpha=alpha,
                                   min_requests=guards.min_requests))
    if guards.prediction_shift is not None:
        decisions.append(check_shift(guards.prediction_shift.max, candidate, incumbent,
                                     alpha=alpha, min_requests=guards.min_requests))
    if guards.live_quality is not None:
        decisions.append(check_live_quality(guards.live_quality.max_drop, candidate, incumbent,
                                            alpha=alpha,
                                            min_labels=guards.live_quality.min_labels))
    return decisions
