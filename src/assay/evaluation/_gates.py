"""Gates: checks on metrics that pass or fail with the measured value and the bound."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from assay.config import suggest
from assay.errors import EvaluationError
from assay.evaluation._bootstrap import BOOTSTRAP_CLASSIFICATION, BOOTSTRAP_REGRESSION
from assay.evaluation._options import EvaluateOptions, GateOptions
from assay.metrics import is_higher_better, metric_names


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
        for comparison in (gate.beats_champion, gate.max_regression):
            if comparison is not None:
                _check_metric(comparison.metric, known, where)
                if comparison.metric not in comparable:
                    raise EvaluationError(
                        f"{where}: {comparison.metric!r} cannot be compared with the champion; "
                        f"use one of {', '.join(comparable)}",
                        metric=comparison.metric,
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


def run_gates(
    gates: list[GateOptions],
    *,
    default_dataset: str,
    metrics: dict[str, dict[str, dict[str, float]]],
    improvement: Any,
    has_champion: bool,
    is_champion: bool,
) -> list[GateResult]:
    """Evaluate every gate for one candidate.

    Args:
        gates: the configured gates.
        default_dataset: the dataset a gate without ``dataset`` applies to.
        metrics: dataset -> slice -> metric -> value.
        improvement: ``(dataset, metric, confidence) -> (point, low) | str``: the improvement
            over the champion (sign-adjusted so larger is better) and its lower CI bound, or the
            reason it is not available.
        has_champion: whether a champion exists.
        is_champion: whether this candidate is the champion.
    """
    results = []
    for gate in gates:
        dataset = gate.dataset or default_dataset
        slice_name = gate.slice
        if gate.metric is not None:
            found = metrics.get(dataset, {}).get(slice_name, {})
            value = found.get(gate.metric)
            for op, bound in ((">=", gate.min), ("<=", gate.max)):
                if bound is None:
                    continue
                name = gate.name or f"{gate.metric} {op} {bound:g}"
                if value is None:
                    results.append(
                        GateResult(
                            name,
                            dataset,
                            slice_name,
                            gate.metric,
                            op,
                            bound,
                            None,
                            False,
                            _missing_reason(found, gate.metric, slice_name, dataset),
                        )
                    )
                    continue
                ok = value >= bound if op == ">=" else value <= bound
                detail = (
                    f"{gate.metric} = {_fmt(value)} on {dataset}/{slice_name}, needs {op} {bound:g}"
                )
                results.append(
                    GateResult(name, dataset, slice_name, gate.metric, op, bound, value, ok, detail)
                )
            continue
        beats = gate.beats_champion
        regression = gate.max_regression
        metric = (beats or regression).metric  # type: ignore[union-attr]
        if beats is not None:
            op, bound = "improvement_low >", beats.min_delta
            name = gate.name or f"beats_champion({metric}, min_delta={beats.min_delta:g})"
            confidence = beats.confidence
        else:
            assert regression is not None
            op, bound = "improvement >=", -regression.max_delta
            name = gate.name or f"max_regression({metric}, max_delta={regression.max_delta:g})"
            confidence = 0.0
        if is_champion:
            results.append(
                GateResult(
                    name, dataset, slice_name, metric, op, bound, None, True, "this is the champion"
                )
            )
            continue
        if not has_champion:
            results.append(
                GateResult(
                    name,
                    dataset,
                    slice_name,
                    metric,
                    op,
                    bound,
                    None,
                    True,
                    "no champion yet: nothing to compare against",
                )
            )
            continue
        found_improvement = improvement(dataset, metric, confidence)
        if isinstance(found_improvement, str):
            results.append(
                GateResult(
                    name, dataset, slice_name, metric, op, bound, None, False, found_improvement
                )
            )
            continue
        point, low = found_improvement
        direction = "higher" if is_higher_better(metric) else "lower"
        if beats is not None:
            ok = low > bound
            detail = (
                f"{metric} improvement over the champion on {dataset}: {_fmt(point)} "
                f"({confidence:.0%} CI lower bound {_fmt(low)}, needs > {bound:g}; "
                f"{direction} is better)"
            )
            results.append(
                GateResult(name, dataset, slice_name, metric, op, bound, low, ok, detail)
            )
        else:
            ok = point >= bound
            detail = (
                f"{metric} change vs the champion on {dataset}: {_fmt(point)} "
                f"(may regress by at most {-bound:g}; {direction} is better)"
            )
            results.append(
                GateResult(name, dataset, slice_name, metric, op, bound, point, ok, detail)
            )
    return results
