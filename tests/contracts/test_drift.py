"""Drift statistics on counts: right values, no false alarms, insufficient data reported."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.contracts import drift


def test_identical_distributions_do_not_drift() -> None:
    counts = [100.0, 200.0, 300.0, 400.0]
    assert drift.compare(None, counts, counts, numeric=False).status == "no_drift"
    for statistic in (s for s in drift.STATISTICS if s != "z"):  # z: two categories
        result = drift.compare(statistic, counts, counts, centers=[0, 1, 2, 3], scale=1.0)
        assert not result.drifted, statistic
        assert result.insufficient is None


def test_shifted_distributions_drift() -> None:
    ref = [400.0, 300.0, 200.0, 100.0]
    cur = [100.0, 200.0, 300.0, 400.0]
    for statistic in (s for s in drift.STATISTICS if s != "z"):  # z: two categories
        result = drift.compare(statistic, ref, cur, centers=[0, 1, 2, 3], scale=1.0)
        assert result.drifted, statistic


def test_known_values() -> None:
    assert drift.js_distance([1, 0], [0, 1]) == pytest.approx(1.0)
    assert drift.psi([50, 50], [50, 50]) == pytest.approx(0.0)
    d, _ = drift.ks_binned([1, 1, 0, 0], [0, 0, 1, 1])
    assert d == pytest.approx(1.0)
    assert drift.wasserstein_binned([1, 0], [0, 1], [0.0, 2.0], scale=2.0) == pytest.approx(1.0)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 500), st.integers(0, 500),
                          st.floats(-1e3, 1e3, allow_nan=False)), min_size=2, max_size=12))
def test_chi2_and_wasserstein_equal_scipy_stats(bins: list[tuple[int, int, float]]) -> None:
    from scipy.stats import chi2, wasserstein_distance

    ref = np.array([b[0] for b in bins], dtype=float)
    cur = np.array([b[1] for b in bins], dtype=float)
    centers = np.array([b[2] for b in bins])
    if ref.sum() == 0 or cur.sum() == 0:
        return
    stat, p = drift.chi2_counts(ref, cur)
    keep = (ref + cur) > 0
    if keep.sum() >= 2:
        assert p == pytest.approx(float(chi2.sf(stat, keep.sum() - 1)), rel=1e-12, abs=1e-300)
    expected = float(wasserstein_distance(centers, centers, ref, cur))
    assert drift.wasserstein_binned(ref, cur, centers) == pytest.approx(expected, rel=1e-9,
                                                                        abs=1e-9)


@pytest.mark.parametrize(("ref", "cur", "reason"), [
    ([0, 0], [1, 2], "reference has no values"), ([40, 2], [0, 0], "no values to compare"),
    ([10, 10], [40, 40], "reference has 20 values (fewer than 30)"),
    ([40, 40], [0, 29], "current data has 29 values (fewer than 30)")])
def test_insufficient_data_is_not_drift(ref: list[float], cur: list[float], reason: str) -> None:
    result = drift.compare("psi", ref, cur)
    assert (result.drifted, result.insufficient, result.value) == (False, reason, None)
    assert result.status == "insufficient_data"


def test_chi2_false_alarm_rate_is_at_most_its_level() -> None:
    rng = np.random.default_rng(0)
    probs = [0.5, 0.3, 0.15, 0.05]
    alarms = sum(
        drift.compare("chi2", rng.multinomial(2000, probs), rng.multinomial(2000, probs),
                      alpha=0.01).drifted
        for _ in range(400)
    )
    assert alarms / 400 <= 0.025


def test_quantile_bins_hold_equal_shares() -> None:
    values = np.random.default_rng(1).normal(size=10_000)
    edges = drift.quantile_edges(values, 10)
    counts = drift.bin_counts(values, edges)
    assert len(counts) == 10 and counts.sum() == 10_000
    assert np.all(np.abs(counts - 1000) <= 1)


def test_bad_input_raises() -> None:
    with pytest.raises(ValueError, match="unknown drift statistic 'nope'"):
        drift.compare("nope", [1], [1])
    with pytest.raises(ValueError, match="reference has 2 bins, current has 3"):
        drift.compare("psi", [1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="non-negative"):
        drift.psi([-1, 2], [1, 2])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=1000), min_size=2, max_size=20))
def test_statistics_are_zero_on_self_and_symmetric_js(counts: list[int]) -> None:
    if sum(counts) == 0:
        return
    assert drift.psi(counts, counts) == pytest.approx(0.0, abs=1e-12)
    assert drift.js_distance(counts, counts) == pytest.approx(0.0, abs=1e-6)
    other = list(reversed(counts))
    assert drift.js_distance(counts, other) == pytest.approx(drift.js_distance(other, counts))


def test_the_z_test_is_scipys_chi_square_of_the_two_by_two_table() -> None:
    from scipy.stats import chi2_contingency

    for ref, cur in [([120.0, 80.0], [90.0, 110.0]), ([500.0, 500.0], [480.0, 520.0]),
                     ([31.0, 9.0], [20.0, 20.0])]:
        z, p = drift.z_two_proportions(ref, cur)
        chi2, expected_p, _, _ = chi2_contingency([ref, cur], correction=False)
        assert abs(z * z - chi2) < 1e-9 and abs(p - expected_p) < 1e-9


def test_a_binary_column_of_a_small_sample_gets_the_z_test() -> None:
    found = drift.compare(None, [300.0, 700.0], [200.0, 300.0], numeric=False)
    assert found.statistic == "z" and found.test == "z" and found.drifted
    many = drift.compare(None, [300.0, 700.0, 5.0], [200.0, 300.0, 5.0], numeric=False)
    assert many.statistic == "chi2"
    large = drift.compare(None, [3000.0, 7000.0], [2000.0, 3000.0], numeric=False)
    assert large.statistic == "js"
    asked = drift.compare("z", [300.0, 700.0, 5.0], [200.0, 300.0, 5.0], numeric=False)
    assert asked.insufficient is not None and "exactly two categories" in asked.insufficient


@pytest.mark.parametrize("n", [200, 1000])
def test_the_z_test_false_alarm_rate_holds(n: int) -> None:
    rng = np.random.default_rng(n)
    alarms = 0
    for _ in range(2000):
        ref = rng.binomial(n, 0.3)
        cur = rng.binomial(n, 0.3)
        alarms += drift.compare(None, [ref, n - ref], [cur, n - cur], numeric=False).drifted
    assert alarms / 2000 <= drift.DEFAULT_ALPHA + 0.02
