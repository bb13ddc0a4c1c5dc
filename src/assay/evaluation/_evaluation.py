"""Running an evaluation: every candidate on every dataset and slice, fairness, the champion
comparison, gates and selection, gathered into the ``evaluation.json`` document."""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import AssayError, EvaluationError
from assay.evaluation._bootstrap import paired_bootstrap
from assay.evaluation._curves import curve_points
from assay.evaluation._data import (
    EvalDataset,
    check_finite,
    label_indices,
    load_dataset,
    plain_value,
    slice_expression,
)
from assay.evaluation._fairness import fairness_report
from assay.evaluation._gates import (
    ChampionDelta,
    comparable_metrics,
    interval_verdicts,
    run_gates,
    validate_options,
)
from assay.evaluation._options import EvaluateOptions
from assay.metrics import (
    baseline_predictions,
    binary_positive_last,
    classification_metrics,
    is_higher_better,
    positive_class_index,
    regression_metrics,
)

if TYPE_CHECKING:
    import numpy as np

    from assay.models import LoadedModel


@dataclass(frozen=True)
class Candidate:
    """A model to evaluate: a package directory, named, with its object id when known."""

    name: str
    package: Path
    oid: str | None = None
    is_champion: bool = False
    ref: str | None = None


@dataclass
class Scored:
    """One candidate's predictions on one dataset."""

    y: np.ndarray  # class indices or regression targets
    score: np.ndarray  # positive-class probability (binary), predictions (regression)
    proba: np.ndarray | None  # full probabilities (classification)


@dataclass
class Evaluation:
    """The result: the ``evaluation.json`` document and data for plots."""

    report: dict[str, Any]
    curves: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.report["passed"])

    def failure_summary(self) -> str:
        """One line per candidate naming the gates that stopped it."""
        lines = []
        for cand in self.report["candidates"]:
            if cand["passed"] or cand["is_champion"]:
                continue
            failed = [g for g in cand["gates"] if not g["passed"]]
            reasons = "; ".join(f"{g['gate']}: {g['detail']}" for g in failed) or "no gates passed"
            lines.append(f"{cand['candidate']}: {reasons}")
        return "\n".join(lines)


class Progress:
    """Progress lines of a long evaluation (the evaluate stage otherwise prints nothing for
    tens of seconds): :meth:`say` emits now, :meth:`tick` at most every ``every`` seconds."""

    def __init__(self, emit: Callable[[str], None] | None = None, *, every: float = 3.0) -> None:
        self.emit = emit
        self.every = every
        self._last = time.monotonic()

    def say(self, text: str) -> None:
        if self.emit is not None:
            self.emit(text)
            self._last = time.monotonic()

    def tick(self, text: str) -> None:
        if self.emit is not None and time.monotonic() - self._last >= self.every:
            self.say(text)


def _rel(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _slice_metrics(
    task: str, scored: Scored, mask: np.ndarray | None, threshold: float
) -> dict[str, float]:
    import numpy as np

    y, score, proba = scored.y, scored.score, scored.proba
    if mask is not None:
        y, score = y[mask], score[mask]
        proba = proba[mask] if proba is not None else None
    rows = int(y.size)
    if rows == 0:
        return {"rows": 0}
    if task == "classification":
        assert proba is not None
        out = classification_metrics(y, proba, threshold)
    else:
        out = regression_metrics(y.astype(np.float64), score)
    return {"rows": float(rows), **out}


class _Run:
    """The state of one evaluation (kept out of function arguments)."""

    def __init__(self, options: EvaluateOptions, root: Path,
                 progress: Progress | None = None) -> None:
        self.options = options
        self.root = root
        self.progress = progress or Progress()
        self.datasets: dict[str, EvalDataset] = {}
        self.task = ""
        self.scores: dict[str, dict[str, Scored]] = {}
        self.curves: dict[str, Any] = {}
        self.positive_class: Any = None  # the label binary metrics measure (None: not binary)

    def score(self, cand: Candidate, model: LoadedModel, ds: EvalDataset) -> tuple[Scored, float]:
        import numpy as np

        frame = model.prepare(ds.frame)
        started = time.perf_counter()
        if self.task == "classification":
            proba = model.proba_of(frame)
            elapsed = time.perf_counter() - started
            check_finite(proba, candidate=cand.name, dataset=ds.name)
            y = label_indices(ds.target, model.classes, dataset=ds.name)
            if proba.shape[1] == 2:
                positive = positive_class_index(
                    model.classes, self.options.pos_label, error=EvaluationError,
                    where="pos_label")
                y, proba = binary_positive_last(y, proba, positive)
                self.positive_class = plain_value(model.classes[positive])
            score = proba[:, 1] if proba.shape[1] == 2 else proba.max(axis=1)
            return Scored(y=y, score=score, proba=proba), elapsed
        pred = np.asarray(model.predict(frame), dtype=np.float64).reshape(-1)
        elapsed = time.perf_counter() - started
        check_finite(pred, candidate=cand.name, dataset=ds.name)
        return Scored(y=ds.target.astype(np.float64), score=pred, proba=None), elapsed

    def baseline(self, ds: EvalDataset) -> dict[str, dict[str, float]]:
        """The constant baseline's metrics on every slice of ``ds``: class frequencies (the
        majority class at a 0.5 threshold) or the mean target."""
        import numpy as np

        if self.task == "classification":
            present = np.unique(ds.target)
            y = np.searchsorted(present, ds.target).astype(np.int64)
            if present.size == 2:
                positive = positive_class_index(
                    [plain_value(v) for v in present], self.options.pos_label,
                    error=EvaluationError, where="pos_label")
                y = (y == positive).astype(np.int64)
            proba = baseline_predictions(self.task, y, int(present.size))
            score = proba[:, 1] if present.size == 2 else proba.max(axis=1)
            scored = Scored(y=y, score=score, proba=proba)
        else:
            target = ds.target.astype(np.float64)
            scored = Scored(y=target, score=baseline_predictions(self.task, target), proba=None)
        threshold = self.options.threshold
        per_slice = {"all": _slice_metrics(self.task, scored, None, threshold)}
        for name, mask in ds.masks.items():
            per_slice[name] = _slice_metrics(self.task, scored, mask, threshold)
        return per_slice

    def evaluate_candidate(self, cand: Candidate) -> dict[str, Any]:
        from assay.models import load_package

        entry: dict[str, Any] = {
            "candidate": cand.name,
            "package": _rel(cand.package, self.root),
            "oid": cand.oid,
            "is_champion": cand.is_champion,
            "passed": False,
            "metrics": {},
            "fairness": {},
            "comparison": {},
            "gates": [],
        }
        try:
            model = load_package(cand.package, allow_pickle=self.options.allow_pickle)
        except AssayError as exc:
            entry["gates"].append(_error_gate("load", "", f"cannot load the model: {exc}"))
            return entry
        if model.task != self.task:
            entry["gates"].append(
                _error_gate("task", "", f"is a {model.task} model; this evaluation is {self.task}")
            )
            return entry
        size_mb = model.package.size_bytes / 1e6
        self.scores[cand.name] = {}
        for ds in self.datasets.values():
            try:
                scored, elapsed = self.score(cand, model, ds)
            except AssayError as exc:  # the model's own errors arrive as ModelError
                entry["gates"].append(_error_gate("predict", ds.name, str(exc)))
                continue
            self.scores[cand.name][ds.name] = scored
            per_slice = {"all": _slice_metrics(self.task, scored, None, self.options.threshold)}
            per_slice["all"]["latency_ms_per_row"] = elapsed * 1000.0 / max(ds.rows, 1)
            per_slice["all"]["model_size_mb"] = size_mb
            for name, mask in ds.masks.items():
                per_slice[name] = _slice_metrics(self.task, scored, mask, self.options.threshold)
            fairness = self.options.fairness
            is_binary = scored.proba is not None and scored.proba.shape[1] == 2
            if fairness is not None and ds.groups is not None and is_binary:
                found = fairness_report(
                    scored, ds.groups, fairness.column, fairness.metrics, self.options.threshold
                )
                entry["fairness"][ds.name] = found
                for key in ("demographic_parity_difference", "equalized_odds_difference"):
                    per_slice["all"][key] = found[key]
            entry["metrics"][ds.name] = per_slice
            if is_binary:
                self.curves.setdefault(cand.name, {})[ds.name] = curve_points(
                    scored, self.options.threshold
                )
        if not self.scores[cand.name]:
            # it predicted on no dataset: it fails on its predict errors alone (its gates
            # cannot be judged), and the other candidates still compete
            del self.scores[cand.name]
        return entry


def _error_gate(gate: str, dataset: str, detail: str) -> dict[str, Any]:
    return {
        "gate": gate,
        "dataset": dataset,
        "slice": "all",
        "metric": "",
        "op": "",
        "bound": None,
        "value": None,
        "passed": False,
        "detail": detail,
    }


def evaluate(
    options: EvaluateOptions,
    candidates: list[Candidate],
    *,
    root: Path,
    stage: str = "evaluate",
    champion: Candidate | None = None,
    datasets: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Evaluation:
    """Evaluate candidates (and the champion) on every dataset, run gates, select the best.

    Args:
        options: the evaluation options.
        candidates: the challengers.
        root: the project root (dataset paths are resolved inside it).
        stage: the stage name recorded in the report.
        champion: the current champion, if any.
        datasets: ``datasets:`` of assay.yaml, so options may name datasets instead of paths.
        progress: called with a line of progress per candidate scored and, every few
            seconds, during the champion comparison's bootstrap.

    Returns:
        The evaluation (``report`` is the evaluation.json document).

    Raises:
        EvaluationError: misconfiguration (unknown metric, missing column, one-class target...).
    """
    from assay.evaluation._data import config_datasets, dataset_path
    from assay.models import read_package

    if not candidates:
        raise EvaluationError("No candidates to evaluate: the candidate stages produced no model")
    run = _Run(options, root, Progress(progress))
    if datasets is None:
        datasets = config_datasets(root)
    tasks = set()
    for cand in ([champion] if champion else []) + candidates:
        try:
            tasks.add(read_package(cand.package).task)
        except AssayError:
            continue
    run.task = sorted(tasks)[0] if len(tasks) == 1 else ""
    if not run.task:
        if not tasks:
            run.task = "classification"
        else:
            raise EvaluationError(
                f"Candidates mix tasks ({', '.join(sorted(tasks))}); evaluate them separately"
            )
    validate_options(options, run.task)
    slices = {name: slice_expression(name, text) for name, text in options.slices.items()}
    fairness_column = options.fairness.column if options.fairness else None
    for name, raw in options.datasets.items():
        run.datasets[name] = load_dataset(
            name,
            dataset_path(root, raw, datasets),
            root=root,
            target=options.target,
            slices=slices,
            fairness_column=fairness_column,
        )
    if run.task == "classification":
        for ds in run.datasets.values():
            import numpy as np

            present = np.unique(ds.target)
            if present.size < 2:
                raise EvaluationError(
                    f"The target {options.target!r} in dataset {ds.name!r} has one class only "
                    f"({plain_value(present[0])!r}); classification metrics need both classes",
                    dataset=ds.name,
                )
            if options.pos_label is not None and present.size == 2:
                positive_class_index(
                    [plain_value(v) for v in present], options.pos_label, error=EvaluationError,
                    where=f"pos_label (target {options.target!r} in dataset {ds.name!r})")
    baseline = {name: run.baseline(ds) for name, ds in run.datasets.items()}
    names = [c.name for c in candidates]
    if len(set(names)) != len(names):
        raise EvaluationError(f"Candidate names are not unique: {names}")
    first_dataset = next(iter(options.datasets))
    entries = []
    champion_entry = None
    rows = ", ".join(f"{ds.name} {ds.rows:,} rows" for ds in run.datasets.values())
    if champion is not None:
        run.progress.say(f"scoring the champion {champion.ref or champion.name} on {rows}")
        champion_entry = run.evaluate_candidate(champion)
        entries.append(champion_entry)
    for i, cand in enumerate(candidates, start=1):
        run.progress.say(f"scoring candidate {i}/{len(candidates)} {cand.name} on {rows}")
        entries.append(run.evaluate_candidate(cand))

    primary_metric = options.select.metric or (
        "roc_auc" if run.task == "classification" else "rmse"
    )
    primary_dataset = options.select.dataset or first_dataset
    compare = _comparison_metrics(options, run.task, primary_metric)
    champion_scores = run.scores.get(champion.name, {}) if champion else {}
    champion_problem = _champion_problem(champion, champion_entry, run)

    judge = _Judge(run, champion, champion_entry, champion_scores, compare, champion_problem)
    judge.challengers = [c for c in candidates if c.name in run.scores]
    for cand, entry in zip(([champion] if champion else []) + candidates, entries, strict=True):
        loaded = cand.name in run.scores
        if champion is not None and not cand.is_champion and loaded:
            for ds_name in run.datasets:
                found = judge.intervals(cand, ds_name, options.bootstrap.confidence)
                if not isinstance(found, str):
                    entry["comparison"][ds_name] = {m: iv.to_dict() for m, iv in found.items()}
        if loaded:
            gates = run_gates(
                options.gates,
                default_dataset=first_dataset,
                metrics=entry["metrics"],
                baseline=baseline,
                improvement=functools.partial(judge.improvement, cand, entry),
                has_champion=champion is not None,
                is_champion=cand.is_champion,
            )
            entry["gates"].extend(g.to_dict() for g in gates)
        entry["passed"] = loaded and all(g["passed"] for g in entry["gates"])

    mode = options.select.mode or ("max" if is_higher_better(primary_metric) else "min")
    best = None
    best_value = 0.0
    for cand, entry in zip(([champion] if champion else []) + candidates, entries, strict=True):
        if cand.is_champion or not entry["passed"]:
            continue
        value = (
            entry["metrics"]
            .get(primary_dataset, {})
            .get(options.select.slice, {})
            .get(primary_metric)
        )
        if value is None:
            continue
        if best is None or (value > best_value if mode == "max" else value < best_value):
            best, best_value = (cand, entry), value
    selected = None
    if best is not None:
        selected = {"candidate": best[0].name, "package": best[1]["package"], "oid": best[0].oid}
    report = {
        "stage": stage,
        "passed": selected is not None,
        "selected": selected,
        "primary_metric": {
            "name": primary_metric,
            "dataset": primary_dataset,
            "slice": options.select.slice,
        },
        "positive_class": run.positive_class,
        "baseline": {
            "model": "class frequencies" if run.task == "classification" else "mean target",
            "metrics": baseline,
        },
        "multiplicity": {
            "method": options.multiplicity,
            "candidates": len(judge.challengers) if champion is not None else 0,
        },
        "pos_label": options.pos_label,
        "champion": (
            {
                "ref": champion.ref or champion.name,
                "package": _rel(champion.package, root),
                "oid": champion.oid,
            }
            if champion
            else None
        ),
        "candidates": entries,
    }
    return Evaluation(report=_finite(report), curves=run.curves)


def _finite(value: Any) -> Any:
    """The report with NaN and infinities as null (strict JSON; PostgreSQL rejects NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


class _Judge:
    """Answers gates' questions about a candidate versus the champion (bootstraps are cached)."""

    def __init__(
        self,
        run: _Run,
        champion: Candidate | None,
        champion_entry: dict[str, Any] | None,
        champion_scores: dict[str, Scored],
        compare: list[str],
        champion_problem: str | None,
    ) -> None:
        self.run = run
        self.champion = champion
        self.champion_entry = champion_entry or {}
        self.champion_scores = champion_scores
        self.compare = compare
        self.problem = champion_problem
        self._cache: dict[tuple[str, str, float], dict[str, Any] | str] = {}
        self.challengers: list[Candidate] = []  # the family a multiplicity adjustment covers
        self._families: dict[tuple[int, str], dict[str, ChampionDelta | str]] = {}

    def intervals(
        self, cand: Candidate, dataset: str, confidence: float, metrics: list[str] | None = None
    ) -> dict[str, Any] | str:
        wanted = metrics or self.compare
        key = (cand.name, dataset, confidence)
        found = self._cache.get(key)
        if found is None or (not isinstance(found, str) and any(m not in found for m in wanted)):
            missing = wanted if found is None else [m for m in wanted if m not in found]
            extra = _compare(
                self.run, cand, self.champion_scores, dataset, missing, confidence, self.problem
            )
            found = extra if isinstance(extra, str) or found is None else {**found, **extra}
            self._cache[key] = found
        return found

    def improvement(
        self, cand: Candidate, entry: dict[str, Any], gate: int, dataset: str, metric: str,
        confidence: float, bound: float,
    ) -> ChampionDelta | str:
        """The change versus the champion, sign-adjusted so larger is better; or why not.

        An interval gate (``confidence`` > 0) passes when the lower bound clears ``bound``; with
        several challengers and ``multiplicity: holm`` the bounds are Holm's step-down levels
        over the challengers, so the chance that any truly worse one passes stays at the level.
        """
        if self.problem:
            return self.problem
        if confidence == 0.0:  # a point comparison (max_regression)
            mine = entry["metrics"].get(dataset, {}).get("all", {}).get(metric)
            champion_metrics = self.champion_entry.get("metrics", {})
            theirs = champion_metrics.get(dataset, {}).get("all", {}).get(metric)
            if mine is None or theirs is None:
                return f"{metric} is not available for both models on {dataset}"
            delta = mine - theirs
            point = delta if is_higher_better(metric) else -delta
            return ChampionDelta(point=point, low=point, passed=point >= bound)
        key = (gate, dataset)
        if key not in self._families:
            self._families[key] = self._family(dataset, metric, confidence, bound)
        return self._families[key].get(cand.name, "not compared with the champion")

    def _family(
        self, dataset: str, metric: str, confidence: float, bound: float
    ) -> dict[str, ChampionDelta | str]:

        sign = 1.0 if is_higher_better(metric) else -1.0
        alpha = (1 - confidence) / 2  # the interval is two-sided: its lower bound is one-sided
        found: dict[str, ChampionDelta | str] = {}
        draws: dict[str, tuple[float, np.ndarray]] = {}
        for cand in self.challengers:
            result = self.intervals(cand, dataset, confidence, [metric])
            if isinstance(result, str):
                found[cand.name] = result
                continue
            iv = result[metric]
            assert iv.draws is not None
            draws[cand.name] = (sign * iv.delta, sign * iv.draws)
        adjust = self.run.options.multiplicity == "holm"
        verdicts = interval_verdicts(
            {name: values for name, (_, values) in draws.items()}, bound=bound, alpha=alpha,
            family=len(self.challengers), adjust=adjust)
        for name, (low, passed, note) in verdicts.items():
            found[name] = ChampionDelta(point=draws[name][0], low=low, passed=passed, note=note)
        return found


def _comparison_metrics(options: EvaluateOptions, task: str, primary: str) -> list[str]:
    if options.compare is not None:
        return list(options.compare)
    comparable = comparable_metrics(task)
    wanted = [primary] if primary in comparable else []
    for gate in options.gates:
        comparison = gate.champion_comparison
        if comparison is not None and comparison.metric not in wanted:
            wanted.append(comparison.metric)
    return wanted or [comparable[0]]


def _champion_problem(
    champion: Candidate | None, entry: dict[str, Any] | None, run: _Run
) -> str | None:
    if champion is None or entry is None:
        return None
    failed = [g for g in entry["gates"] if not g["passed"]]
    if champion.name not in run.scores or failed:
        reason = failed[0]["detail"] if failed else "it could not be scored"
        return f"the champion {champion.ref or champion.name} could not be evaluated: {reason}"
    return None


def _compare(
    run: _Run,
    cand: Candidate,
    champion_scores: dict[str, Scored],
    dataset: str,
    metrics: list[str],
    confidence: float,
    champion_problem: str | None,
) -> dict[str, Any] | str:
    import numpy as np

    if champion_problem:
        return champion_problem
    mine = run.scores.get(cand.name, {}).get(dataset)
    theirs = champion_scores.get(dataset)
    if mine is None or theirs is None:
        return f"no predictions of both models on {dataset}"
    if run.task == "classification" and (mine.proba is None or mine.proba.shape[1] != 2):
        return "champion comparison supports binary classification and regression"
    if run.task == "classification" and not np.array_equal(mine.y, theirs.y):
        return "the champion and the candidate order the classes differently"
    point = None
    if run.task == "classification":
        threshold = run.options.threshold
        a = classification_metrics(mine.y, mine.proba, threshold)  # type: ignore[arg-type]
        b = classification_metrics(theirs.y, theirs.proba, threshold)  # type: ignore[arg-type]
        point = {m: a[m] - b[m] for m in metrics if m in a and m in b}
    else:
        a = regression_metrics(mine.y, mine.score)
        b = regression_metrics(theirs.y, theirs.score)
        point = {m: a[m] - b[m] for m in metrics}
    boot = run.options.bootstrap
    what = f"{cand.name} vs the champion on {dataset}"
    run.progress.say(f"comparing {what}: {boot.resamples:,} bootstrap resamples")
    return dict(
        paired_bootstrap(
            mine.y,
            mine.score,
            theirs.score,
            task=run.task,
            metrics=metrics,
            resamples=boot.resamples,
            confidence=confidence,
            seed=boot.seed,
            threshold=run.options.threshold,
            point=point,
            progress=lambda done, total: run.progress.tick(
                f"  bootstrap {what}: {done:,}/{total:,} resamples"),
        )
    )
