"""The live-quality guard on feedback labels: a candidate exactly at its bound (accuracy
``max_drop`` points below the incumbent's; a regressor's MAE ``1 + max_drop`` times the
incumbent's) is rolled back at most at the stated rate, at small and large label counts
(seeded simulations); a worse candidate is caught; fewer labels than the minimum decide
nothing."""

from __future__ import annotations

import numpy as np
import pytest

from assay.config import GuardsConfig
from assay.deployment import VariantSample, check_guards, check_live_quality

TRIALS = 4000
ALPHA = 0.05


def labelled(rng: np.random.Generator, n: int, accuracy: float) -> VariantSample:
    return VariantSample(requests=n, errors=0, labelled=n,
                         correct=int(rng.binomial(n, accuracy)), quality="accuracy")


def regressed(rng: np.random.Generator, n: int, scale: float) -> VariantSample:
    errors = rng.normal(0.0, scale, n)  # E|e| = scale * sqrt(2 / pi)
    return VariantSample(requests=n, errors=0, labelled=n, abs_error=float(np.abs(errors).sum()),
                         sq_error=float((errors ** 2).sum()), quality="mae")


def _rate(decide: object) -> float:
    fails = sum(decide(np.random.default_rng(seed)) for seed in range(TRIALS))  # type: ignore[operator]
    return fails / TRIALS


@pytest.mark.parametrize("n", [200, 5000])
@pytest.mark.parametrize("drop", [0.0, 0.03])
def test_accuracy_at_the_bound_is_rolled_back_at_most_alpha(n: int, drop: float) -> None:
    def decide(rng: np.random.Generator) -> bool:
        incumbent = labelled(rng, n, 0.85)
        candidate = labelled(rng, n, 0.85 - drop)  # exactly max_drop worse: H0 holds
        return check_live_quality(drop, candidate, incumbent, alpha=ALPHA,
                                  min_labels=100).failed

    rate = _rate(decide)
    # the stated rate + 3 Monte Carlo standard errors
    assert rate <= ALPHA + 3 * (ALPHA * (1 - ALPHA) / TRIALS) ** 0.5, rate


@pytest.mark.parametrize("n", [200, 5000])
def test_mae_at_the_bound_is_rolled_back_at_most_alpha(n: int) -> None:
    def decide(rng: np.random.Generator) -> bool:
        incumbent = regressed(rng, n, 1.0)
        candidate = regressed(rng, n, 1.05)  # MAE exactly 5% above: H0 holds
        return check_live_quality(0.05, candidate, incumbent, alpha=ALPHA,
                                  min_labels=100).failed

    rate = _rate(decide)
    assert rate <= ALPHA + 3 * (ALPHA * (1 - ALPHA) / TRIALS) ** 0.5, rate


def test_a_worse_classifier_is_caught() -> None:
    rng = np.random.default_rng(0)
    caught = [check_live_quality(0.02, labelled(rng, 400, 0.70), labelled(rng, 400, 0.85),
                                 alpha=ALPHA / 3, min_labels=200) for _ in range(200)]
    assert sum(d.failed for d in caught) / 200 >= 0.95
    assert "accuracy 0.7" in caught[0].detail and caught[0].test.startswith("one-sided")


def test_a_worse_regressor_is_caught_and_a_better_one_passes() -> None:
    rng = np.random.default_rng(1)
    worse = check_live_quality(0.05, regressed(rng, 1000, 1.5), regressed(rng, 1000, 1.0),
                               alpha=ALPHA, min_labels=200)
    better = check_live_quality(0.05, regressed(rng, 1000, 0.8), regressed(rng, 1000, 1.0),
                                alpha=ALPHA, min_labels=200)
    assert worse.failed and worse.value is not None and worse.value > 0.3
    assert better.status == "pass" and "MAE" in better.detail


def test_fewer_labels_than_the_minimum_decide_nothing() -> None:
    rng = np.random.default_rng(2)
    few = check_live_quality(0.02, labelled(rng, 199, 0.0), labelled(rng, 5000, 1.0),
                             alpha=ALPHA, min_labels=200)
    assert few.status == "insufficient" and "199 labelled" in few.detail
    none = check_live_quality(0.02, labelled(rng, 500, 0.0), None, alpha=ALPHA, min_labels=200)
    assert none.status == "insufficient"


def test_live_quality_takes_its_share_of_alpha() -> None:
    config = GuardsConfig.model_validate({"alpha": 0.06, "error_rate": {"max": 0.01},
                                          "live_quality": {"max_drop": 0.02, "min_labels": 50}})
    assert config.active == ["error_rate", "live_quality"]
    rng = np.random.default_rng(3)
    decisions = check_guards(config, labelled(rng, 300, 0.8), labelled(rng, 300, 0.8), looks=3)
    assert [d.guard for d in decisions] == ["error_rate", "live_quality"]
    assert decisions[1].alpha == pytest.approx(0.06 / (3 * 2))


def test_the_servers_feedback_counters_become_samples() -> None:
    """The counters the server writes (its own Metrics class) read back as the guard's inputs,
    and a delta counts the labels since the step's snapshot."""
    from assay.deployment import delta, samples_from_exposition
    from assay.serving._feedback import Score
    from assay.serving._metrics import Metrics

    metrics = Metrics()
    metrics.observe_scores("toy", [Score("1", "stable", "correct", 0.0),
                                   Score("2", "candidate", "wrong", 0.0)])
    metrics.observe_scores("toy", [Score("1", "stable", "wrong", 0.0)])
    before = samples_from_exposition(metrics.exposition()[0].decode(), "toy")
    metrics.observe_scores("toy", [Score("2", "candidate", "correct", 0.0)])
    metrics.observe_scores("toy", None)
    metrics.observe_scores("reg", [Score("3", "stable", "scored", -2.0),
                                   Score("3", "stable", "scored", 1.0)])
    text = metrics.exposition()[0].decode()
    now = samples_from_exposition(text, "toy")
    assert (now[("stable", "1")].labelled, now[("stable", "1")].correct) == (2, 1)
    assert now[("candidate", "2")].quality == "accuracy"
    step = delta(now[("candidate", "2")], before[("candidate", "2")])
    assert (step.labelled, step.correct) == (1, 1)
    regressor = samples_from_exposition(text, "reg")[("stable", "3")]
    assert (regressor.quality, regressor.labelled) == ("mae", 2)
    assert (regressor.abs_error, regressor.sq_error) == (3.0, 5.0)
    assert 'assay_serving_feedback_unmatched_total{model="toy"} 1.0' in text
