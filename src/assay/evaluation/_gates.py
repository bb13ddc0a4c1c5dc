"""Gates: checks on metrics that pass or fail with the measured value and the bound."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assay.config import suggest
from assay.errors import EvaluationError
from assay.evaluation._bootstrap import BOOTSTRAP_CLASSIFICATION, BOOTSTRAP_REGRESSION
from assay.evaluation._options import EvaluateOptions, GateOptions

if TYPE_CHECKING:
    import numpy as np
from assay.metrics import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    is_higher_better,
    metric_names,
)


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict for one candidate."""

    gate: str
    dataset: str
    slice: str
    metric: str
    op: str
    bound: float
    value: float | None
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "dataset": self.dataset,
            "slice": self.slice,
            "metric": self.metric,
            "op": self.op,
            "bound": self.bound,
            "value": self.value,
            "passed": self.passed,
            "detail": self.detail,
        }


def baseline_metrics_of(task: str) -> tuple[str, ...]:
    """The metrics a ``beats_baseline`` gate may name (the task's own quality metrics)."""
    if task == "classification":
        return tuple(m for m in CLASSIFICATION_METRICS if m not in ("tp", "fp", "tn", "fn"))
    return REGRESSION_METRICS


def comparable_metrics(task: str) -> tuple[str, ...]:
    return BOOTSTRAP_CLASSIFICATION if task == "classification" else BOOTSTRAP_REGRESSION


def _check_metric(metric: str, known: tuple[str, ...], where: str) -> None:
    if metric not in known:
        raise EvaluationError(
            f"{where}: unknown metric {metric!r}{suggest(metric, list(known))}; "
            f"known: {', '.join(known)}",
            metric=metric,
        )


def check_names(options: EvaluateOptions) -> None:
    """Check the datasets and slices that gates and selection name. Needs no task, so the
    planning of a ``kind: evaluate`` stage (and ``assay config check``) catches a typo before
    anything trains.

    Raises:
        EvaluationError: an unknown dataset or slice (with a suggestion).
    """
    datasets = list(options.datasets)
    slices = ["all", *options.slices]
    named = [(f"gates[{index}]", gate.dataset, gate.slice)
             for index, gate in enumerate(options.gates)]
    for where, dataset, slice_name in [*named, ("select", options.select.dataset,
                                                options.select.slice)]:
        if dataset is not None and dataset not in datasets:
            raise EvaluationError(
                f"{where}: unknown dataset {dataset!r}{suggest(dataset, datasets)}",
                dataset=dataset,
            )
        if slice_name not in slices:
            raise EvaluationError(
                f"{where}: unknown slice {slice_name!r}{suggest(slice_name, slices)}",
                slice=slice_name,
            )


def validate_options(options: EvaluateOptions, task: str) -> None:
    """Check every metric, dataset and slice that gates and selection name, before any work.

    Raises:
        EvaluationError: an unknown metric (with a suggestion), dataset or slice.
    """
    check_names(options)
    known = metric_names(task)
    comparable = comparable_metrics(task)
    for index, gate in enumerate(options.gates):
        where = f"gates[{index}]"
        if gate.metric is not None:
            _check_metric(gate.metric, known, where)
        comparison = gate.champion_comparison
        if comparison is not None:
            _check_metric(comparison.metric, known, where)
            if comparison.metric not in comparable:
                raise EvaluationError(
                    f"{where}: {comparison.metric!r} cannot be compared with the champion; "
                    f"use one of {', '.join(comparable)}",
                    metric=comparison.metric,
                )
        if gate.beats_baseline is not None:
            own = baseline_metrics_of(task)
            _check_metric(gate.beats_baseline.metric, known, where)
            if gate.beats_baseline.metric not in own:
                raise EvaluationError(
                    f"{where}: the baseline has no {gate.beats_baseline.metric!r}; use one of "
                    f"{', '.join(own)}",
                    metric=gate.beats_baseline.metric,
                )
    for metric in options.compare or []:
        _check_metric(metric, comparable, "compare")
    if options.select.metric is not None:
        _check_metric(options.select.metric, known, "select")
    if options.fairness is not None:
        for metric in options.fairness.metrics:
            _check_metric(metric, known, "fairness.metrics")


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _missing_reason(metrics: dict[str, Any], metric: str, slice_name: str, dataset: str) -> str:
    if metrics.get("rows") == 0:
        return f"slice {slice_name!r} selected no rows on {dataset}"
    if not metrics:
        return f"no metrics on {dataset}"
    return f"{metric} is undefined on {dataset}/{slice_name} (one class only?)"


@dataclass(frozen=True)
class ChampionDelta:
    """A candidate's change versus the champion on one metric, sign-adjusted so larger is
    better: the point estimate, the lower bound of its interval (at the level multiplicity
    adjustment set), whether an interval gate passes, and how the level was chosen."""

    point: float
    low: float
    passed: bool
    note: str = ""


def interval_verdicts(
    draws: dict[str, np.ndarray], *, bound: float, alpha: float, family: int, adjust: bool
) -> dict[str, tuple[float, bool, str]]:
    """Interval gates' verdicts for the challengers compared with one champion.

    Each challenger passes when the ``alpha`` quantile of its bootstrap draws of (challenger -
    champion), sign-adjusted so larger is better, is above ``bound``: a one-sided test at level
    ``alpha``. With ``adjust`` and more than one challenger, Holm's step-down keeps the chance
    that any truly-not-better challenger passes at ``alpha``: the strongest evidence (the
    smallest share of draws at or below the bound) is tested at alpha/m, the next at
    alpha/(m-1), ..., and the first that fails stops the rest.

    Args:
        draws: challenger -> its bootstrap draws (challengers without draws are left out but
            still count in ``family``).
        bound: the value the lower bound must exceed (``min_delta``, or ``-margin``).
        alpha: the one-sided level (half of 1 - the interval's confidence).
        family: how many challengers are compared with the champion.
        adjust: whether to apply Holm's adjustment.

    Returns:
        challenger -> (lower bound, passed, note for the report).
    """
    import numpy as np

    adjust = adjust and family > 1
    order = sorted(draws, key=lambda name: float(np.mean(draws[name] <= bound)))
    verdicts: dict[str, tuple[float, bool, str]] = {}
    still = True
    for rank, name in enumerate(order):
        level = alpha / (family - rank) if adjust else alpha
        low = float(np.quantile(draws[name], level))
        passed = still and low > bound
        note = ""
        if adjust:
            note = (f"Holm-adjusted over {family} challengers: bound at the {1 - level:.2%} "
                    "one-sided level")
            if not still:
                note += "; a stronger challenger already failed (Holm stops there)"
            still = passed
        verdicts[name] = (low, passed, note)
    return verdicts


def _gate_result(name: str, dataset: str, slice_name: str, metric: str, op: str, bound: float,
                 value: float | None, passed: bool, detail: str) -> GateResult:
    return GateResult(name, dataset, slice_name, metric, op, bound, value, passed, detail)


def _direction(metric: str) -> str:
    return "higher" if is_higher_better(metric) else "lower"


def run_gates(
    gates: list[GateOptions],
    *,
    default_dataset: str,
    metrics: dict[str, dict[str, dict[str, float]]],
    baseline: dict[str, dict[str, dict[str, float]]],
    improvement: Callable[[int, str, str, float, float], ChampionDelta | str],
    has_champion: bool,
    is_champion: bool,
) -> list[GateResult]:
    """Evaluate every gate for one candidate.

    Args:
        gates: the configured gates.
        default_dataset: the dataset a gate without ``dataset`` applies to.
        metrics: dataset -> slice -> metric -> value.
        baseline: the same for the constant baseline.
        improvement: ``(gate index, dataset, metric, confidence, bound) -> ChampionDelta | str``:
            the change versus the champion (``confidence`` 0 for a point comparison), or the
            reason it is not available.
        has_champion: whether a champion exists.
        is_champion: whether this candidate is the champion.
    """
    results = []
    for index, gate in enumerate(gates):
        dataset = gate.dataset or default_dataset
        slice_name = gate.slice
        found = metrics.get(dataset, {}).get(slice_name, {})
        if gate.metric is not None:
            value = found.get(gate.metric)
            for op, bound in ((">=", gate.min), ("<=", gate.max)):
                if bound is None:
                    continue
                name = gate.name or f"{gate.metric} {op} {bound:g}"
                if value is None:
                    results.append(_gate_result(
                        name, dataset, slice_name, gate.metric, op, bound, None, False,
                        _missing_reason(found, gate.metric, slice_name, dataset)))
                    continue
                ok = value >= bound if op == ">=" else value <= bound
                detail = (
                    f"{gate.metric} = {_fmt(value)} on {dataset}/{slice_name}, needs {op} {bound:g}"
                )
                results.append(_gate_result(
                    name, dataset, slice_name, gate.metric, op, bound, value, ok, detail))
            continue
        if gate.beats_baseline is not None:
            results.append(_beats_baseline(gate, dataset, found, baseline))
            continue
        results.append(_champion_gate(index, gate, dataset, improvement, has_champion=has_champion,
                                      is_champion=is_champion))
    return results


def _beats_baseline(gate: GateOptions, dataset: str, found: dict[str, float],
                    baseline: dict[str, dict[str, dict[str, float]]]) -> GateResult:
    spec = gate.beats_baseline
    assert spec is not None
    metric, slice_name = spec.metric, gate.slice
    name = gate.name or f"beats_baseline({metric}, margin={spec.margin:g})"
    value = found.get(metric)
    theirs = baseline.get(dataset, {}).get(slice_name, {}).get(metric)
    if value is None or theirs is None:
        return _gate_result(name, dataset, slice_name, metric, "gain >", spec.margin, None, False,
                            _missing_reason(found, metric, slice_name, dataset))
    gain = value - theirs if is_higher_better(metric) else theirs - value
    detail = (f"{metric} = {_fmt(value)} on {dataset}/{slice_name} against {_fmt(theirs)} for the "
              f"baseline: gain {_fmt(gain)}, needs > {spec.margin:g} ({_direction(metric)} is "
              "better)")
    return _gate_result(name, dataset, slice_name, metric, "gain >", spec.margin, gain,
                        gain > spec.margin, detail)


def _champion_gate(index: int, gate: GateOptions, dataset: str,
                   improvement: Callable[[int, str, str, float, float], ChampionDelta | str], *,
                   has_champion: bool, is_champion: bool) -> GateResult:
    slice_name = gate.slice
    beats, inferior, regression = gate.beats_champion, gate.non_inferiority, gate.max_regression
    if beats is not None:
        metric, op, bound, confidence = beats.metric, "improvement_low >", beats.min_delta, \
            beats.confidence
        name = gate.name or f"beats_champion({metric}, min_delta={beats.min_delta:g})"
    elif inferior is not None:
        metric, op, bound, confidence = inferior.metric, "improvement_low >", -inferior.margin, \
            inferior.confidence
        name = gate.name or f"non_inferiority({metric}, margin={inferior.margin:g})"
    else:
        assert regression is not None
        metric, op, bound, confidence = regression.metric, "improvement >=", \
            -regression.max_delta, 0.0
        name = gate.name or f"max_regression({metric}, max_delta={regression.max_delta:g})"
    if is_champion:
        return _gate_result(name, dataset, slice_name, metric, op, bound, None, True,
                            "this is the champion")
    if not has_champion:
        return _gate_result(name, dataset, slice_name, metric, op, bound, None, True,
                            "no champion yet: nothing to compare against")
    delta = improvement(index, dataset, metric, confidence, bound)
    if isinstance(delta, str):
        return _gate_result(name, dataset, slice_name, metric, op, bound, None, False, delta)
    direction = _direction(metric)
    if confidence == 0.0:
        detail = (
            f"{metric} change vs the champion on {dataset}: {_fmt(delta.point)} "
            f"(may regress by at most {-bound:g}; {direction} is better; a point estimate: "
            "no error rate)"
        )
        return _gate_result(name, dataset, slice_name, metric, op, bound, delta.point,
                            delta.point >= bound, detail)
    what = "improvement over" if beats is not None else "change vs"
    level = "lower bound" if delta.note else f"{confidence:.0%} CI lower bound"
    detail = (
        f"{metric} {what} the champion on {dataset}: {_fmt(delta.point)} "
        f"({level} {_fmt(delta.low)}, needs > {bound:g}; "
        f"{direction} is better{'; ' + delta.note if delta.note else ''})"
    )
    return _gate_result(name, dataset, slice_name, metric, op, bound, delta.low, delta.passed,
                        detail)
