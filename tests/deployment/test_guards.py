"""The guards' statistics: an identical candidate at the worst case of every bound is rolled back
at most at the stated rate (seeded simulations of whole rollouts), bad candidates are caught, and
no guard decides on fewer requests than its minimum."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from scipy.stats import binom, norm

from assay.config import GuardsConfig
from assay.deployment import GuardDecision, VariantSample, check_guards, guard_alpha

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, math.inf)
Z99 = float(norm.isf(0.01))
ROLLOUTS = 1000


def guards(**overrides: Any) -> GuardsConfig:
    config: dict[str, Any] = {"alpha": 0.05, "min_requests": 200, "error_rate": {"max": 0.01},
                              "p99_ms": {"max": 250}, "prediction_shift": {"max": 0.1}}
    config.update(overrides)
    return GuardsConfig.model_validate(config)


@dataclass(frozen=True)
class Traffic:
    """The true behaviour of one variant: its error rate, a log-normal latency (seconds) and the
    shares of its predicted classes."""

    error_rate: float
    log_mu: float
    classes: dict[str, float]
    log_sigma: float = 0.5

    @functools.cached_property
    def latency_shares(self) -> np.ndarray:
        edges = np.array([norm.cdf((math.log(le) - self.log_mu) / self.log_sigma)
                          if le != math.inf else 1.0 for le in LATENCY_BUCKETS])
        return np.diff(np.concatenate([[0.0], edges]))

    def sample(self, rng: np.random.Generator, n: int) -> VariantSample:
        per_bucket = rng.multinomial(n, self.latency_shares)
        labels = list(self.classes)
        counts = rng.multinomial(n, [self.classes[k] for k in labels])
        return VariantSample(
            requests=n,
            errors=int(rng.binomial(n, self.error_rate)),
            latency=tuple(zip(LATENCY_BUCKETS, (int(c) for c in np.cumsum(per_bucket)),
                              strict=True)),
            predictions={k: int(c) for k, c in zip(labels, counts, strict=True)},
        )


def mu_for_p99(seconds: float, sigma: float = 0.5) -> float:
    """The log-normal location whose 99th percentile is ``seconds``."""
    return math.log(seconds) - sigma * Z99


#: A candidate identical to the incumbent and at the worst case of every bound: 1% errors
#: (max 0.01), exactly 1% of requests slower than 250 ms (max 250 ms, a bucket bound), the same
#: class shares.
AT_THE_BOUNDS = Traffic(0.01, mu_for_p99(0.25), {"no": 0.7, "yes": 0.3})
THREE_CLASSES = Traffic(0.01, mu_for_p99(0.25), {"a": 0.5, "b": 0.3, "c": 0.2})


def rollout_fails(rng: np.random.Generator, config: GuardsConfig, candidate: Traffic,
                  incumbent: Traffic, *, looks: int, n: int) -> bool:
    """One simulated rollout: ``looks`` steps of ``n`` fresh requests per variant each; True
    when some guard fails at some step (the rollout is rolled back)."""
    for _ in range(looks):
        decisions = check_guards(config, candidate.sample(rng, n), incumbent.sample(rng, n),
                                 looks=looks)
        assert all(d.status != "insufficient" for d in decisions)
        if any(d.failed for d in decisions):
            return True
    return False


def rollback_share(seed: int, config: GuardsConfig, candidate: Traffic, incumbent: Traffic, *,
                   looks: int, n: int, rollouts: int = ROLLOUTS) -> tuple[int, int]:
    rng = np.random.default_rng(seed)
    failed = sum(rollout_fails(rng, config, candidate, incumbent, looks=looks, n=n)
                 for _ in range(rollouts))
    return failed, rollouts


def assert_at_most(failed: int, rollouts: int, rate: float) -> None:
    """``failed`` of ``rollouts`` is consistent with a true rate <= ``rate``: a count this high
    has probability >= 0.001 under Binomial(rollouts, rate)."""
    limit = int(binom.ppf(0.999, rollouts, rate))
    assert failed <= limit, f"{failed}/{rollouts} rolled back > {limit} (rate {rate})"


SIZES = [(2, 200), (3, 200), (2, 20_000), (3, 20_000)]


@pytest.mark.parametrize(("looks", "n"), SIZES, ids=[f"{lk}looks-{n}req" for lk, n in SIZES])
def test_identical_candidate_at_the_bounds_is_rolled_back_at_most_alpha(
    looks: int, n: int
) -> None:
    failed, rollouts = rollback_share(looks * 100_000 + n, guards(), AT_THE_BOUNDS,
                                      AT_THE_BOUNDS, looks=looks, n=n)
    assert_at_most(failed, rollouts, 0.05)
    print(f"identical at the bounds, {looks} looks x {n}: {failed}/{rollouts} rolled back")


@pytest.mark.parametrize(("looks", "n"), [(2, 200), (3, 20_000)], ids=["2x200", "3x20000"])
def test_three_classes_identical_candidate_rolled_back_at_most_alpha(looks: int, n: int) -> None:
    failed, rollouts = rollback_share(7 + n, guards(), THREE_CLASSES, THREE_CLASSES,
                                      looks=looks, n=n)
    assert_at_most(failed, rollouts, 0.05)
    print(f"three classes, {looks} looks x {n}: {failed}/{rollouts} rolled back")


@pytest.mark.parametrize("n", [200, 20_000], ids=["200", "20000"])
def test_shift_exactly_at_its_bound_is_rolled_back_at_most_alpha(n: int) -> None:
    """The shift guard alone, the candidate's share exactly ``max`` above the incumbent's: the
    z-test's level holds at the boundary of its null, not only at no difference."""
    config = guards(error_rate=None, p99_ms=None)
    incumbent = Traffic(0.0, mu_for_p99(0.1), {"no": 0.7, "yes": 0.3})
    candidate = Traffic(0.0, mu_for_p99(0.1), {"no": 0.6, "yes": 0.4})
    failed, rollouts = rollback_share(11 + n, config, candidate, incumbent, looks=2, n=n)
    assert_at_most(failed, rollouts, 0.05)
    print(f"shift at its bound, 2 looks x {n}: {failed}/{rollouts} rolled back")


INCUMBENT = Traffic(0.002, mu_for_p99(0.1), {"no": 0.7, "yes": 0.3})
BAD = {
    "errors-20pct": (Traffic(0.2, INCUMBENT.log_mu, INCUMBENT.classes), "error_rate"),
    "5x-slower": (Traffic(0.002, INCUMBENT.log_mu + math.log(5), INCUMBENT.classes), "p99_ms"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_candidate_is_caught_at_the_first_look(case: str) -> None:
    """At min_requests=200, one look of a two-step rollout catches each bad candidate >= 99% of
    the time (and by the guard it breaks)."""
    bad, guard = BAD[case]
    rng = np.random.default_rng(3)
    caught = 0
    for _ in range(ROLLOUTS):
        decisions = check_guards(guards(), bad.sample(rng, 200), INCUMBENT.sample(rng, 1800),
                                 looks=2)
        caught += any(d.failed and d.guard == guard for d in decisions)
    assert caught >= 0.99 * ROLLOUTS
    print(f"{case}: caught {caught}/{ROLLOUTS} at the first look")


def test_shifted_predictions_are_caught() -> None:
    """The positive share moves from 0.3 to 0.5 (bound 0.1). At 200 candidate requests against
    1,800 incumbent ones (a 10% canary) the excess over the bound is 2.7 standard errors, so no
    test at the Bonferroni level can reach 99%; over a two-step rollout (200 at 10%, then 1,000
    at 50%) it is rolled back >= 99% of the time."""
    shifted = Traffic(0.002, INCUMBENT.log_mu, {"no": 0.5, "yes": 0.5})
    rng = np.random.default_rng(5)
    first = rolled_back = 0
    for _ in range(ROLLOUTS):
        decisions = check_guards(guards(), shifted.sample(rng, 200), INCUMBENT.sample(rng, 1800),
                                 looks=2)
        caught = any(d.failed and d.guard == "prediction_shift" for d in decisions)
        first += caught
        if not caught:
            later = check_guards(guards(), shifted.sample(rng, 1000),
                                 INCUMBENT.sample(rng, 1000), looks=2)
            caught = any(d.failed and d.guard == "prediction_shift" for d in later)
        rolled_back += caught
    assert first >= 0.4 * ROLLOUTS
    assert rolled_back >= 0.99 * ROLLOUTS
    print(f"shift 0.3->0.5: caught {first}/{ROLLOUTS} at the first look, "
          f"{rolled_back}/{ROLLOUTS} over the rollout")


def test_fewer_requests_than_the_minimum_is_insufficient() -> None:
    rng = np.random.default_rng(1)
    bad = Traffic(0.5, INCUMBENT.log_mu + math.log(20), {"no": 0.0, "yes": 1.0})
    decisions = check_guards(guards(), bad.sample(rng, 199), INCUMBENT.sample(rng, 5000), looks=2)
    assert [(d.guard, d.status, d.value, d.p_value) for d in decisions] == [
        ("error_rate", "insufficient", None, None),
        ("p99_ms", "insufficient", None, None),
        ("prediction_shift", "insufficient", None, None)]
    assert decisions[0].detail == "insufficient data: 199 requests < 200"
    enough = check_guards(guards(), bad.sample(rng, 200), INCUMBENT.sample(rng, 5000), looks=2)
    assert [d.status for d in enough] == ["fail", "fail", "fail"]


def test_shift_needs_enough_incumbent_predictions() -> None:
    rng = np.random.default_rng(2)
    candidate = INCUMBENT.sample(rng, 500)
    alone = check_guards(guards(), candidate, None, looks=1)[2]
    assert (alone.status, alone.detail) == (
        "insufficient", "insufficient data: no incumbent to compare with")
    few = check_guards(guards(), candidate, INCUMBENT.sample(rng, 150), looks=1)[2]
    assert (few.status, few.detail) == (
        "insufficient", "insufficient data: incumbent has 150 predictions < 200")


def test_decisions_state_their_test_and_level() -> None:
    config = guards()
    sample = VariantSample(
        requests=400, errors=40,
        latency=((0.1, 380), (0.25, 388), (0.5, 400), (math.inf, 400)),
        predictions={"no": 280, "yes": 120})
    error, latency, shift = check_guards(config, sample, sample, looks=3)
    level = 0.05 / (3 * 3)
    assert guard_alpha(config, 3) == pytest.approx(level)
    assert error == GuardDecision(
        "error_rate", "fail", 0.1, 0.01, error.p_value, level,
        "one-sided exact binomial test, H0: error rate <= max",
        f"error rate 0.1 > 0.01 (p={error.p_value:.2g}, 40 of 400 requests)")
    assert error.p_value == pytest.approx(float(binom.sf(39, 400, 0.01)))
    # 12 of 400 slower than 250 ms (3%) against 1%: p = P(Binomial(400, 0.01) >= 12)
    assert (latency.status, latency.value, latency.p_value) == (
        "fail", 500.0, pytest.approx(float(binom.sf(11, 400, 0.01))))
    assert "conservative" in latency.test
    assert latency.detail.startswith("p99 <= 500 ms, above 250 ms: 12 of 400 requests slower")
    assert (shift.status, shift.value, shift.alpha) == ("pass", 0.0, level)


def test_p99_past_the_last_bucket_and_bound_past_every_bucket() -> None:
    slow = VariantSample(requests=300, errors=0,
                         latency=((0.25, 100), (10.0, 200), (math.inf, 300)))
    decision = check_guards(guards(error_rate=None), slow, None, looks=1)[0]
    assert (decision.status, decision.value) == ("fail", None)
    assert decision.detail.startswith("p99 > 10000 ms, above 250 ms: 200 of 300")
    beyond = check_guards(guards(p99_ms={"max": 20_000}), slow, None, looks=1)[1]
    assert (beyond.status, beyond.detail) == (
        "insufficient", "insufficient data: no latency bucket at or above 20000 ms")


def test_no_errors_under_a_zero_bound_passes_and_one_fails() -> None:
    config = guards(error_rate={"max": 0.0}, p99_ms=None, prediction_shift=None)
    clean = VariantSample(requests=200, errors=0)
    assert check_guards(config, clean, None, looks=1)[0].status == "pass"
    assert check_guards(config, VariantSample(requests=200, errors=1), None,
                        looks=1)[0].status == "fail"


def test_only_active_guards_decide_and_looks_must_be_positive() -> None:
    config = guards(p99_ms=None, prediction_shift=None)
    assert [d.guard for d in check_guards(config, VariantSample(200, 0), None, looks=1)] == [
        "error_rate"]
    assert guard_alpha(config, 2) == pytest.approx(0.025)
    with pytest.raises(ValueError, match="looks must be at least 1, not 0"):
        check_guards(config, VariantSample(200, 0), None, looks=0)
