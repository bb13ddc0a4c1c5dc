"""One window of a deployment's prediction log, compared with the monitor's reference.

The window (:func:`assay.monitoring._scan.scan_window`, a lazy scan of the server's segments)
is never collected: every statistic a window needs is an aggregation of ONE ``select``, run by
Polars' streaming engine in bounded memory, whatever the window's size: each column's counts
per reference bin or category (one sum per cell, :func:`assay.contracts.cell_counts`), the
label-free estimate's sums, the contract's row checks, the window's row count and time span.
The versions served, the labelled rows (for realised quality) and, once per monitor, the
predictions that become its baseline are read by small queries of their own.

Each column is decided by the contracts' drift engine against the reference's stored profile
(:func:`assay.contracts.compare_with_profile`: the test at ``alpha``, then the effect size), and
the columns' p-values are corrected together (:func:`assay.contracts.drift.adjust`) for the
window's verdict. A column's status is ``drift``, ``no_drift``, ``insufficient_data`` (fewer
than 30 values, an empty window, an all-null column: never an alert) or ``schema_mismatch``
(the column is missing, or its type is not the reference's).

The prediction is compared with the predictions of the monitor's first window with enough rows
(its *baseline*, stored beside the reference's profile): the reference data has no predictions.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.monitoring._scan import (
    CLASSIFIED,
    LOG_COLUMNS,
    PREDICTION,
    PROBABILITIES,
    log_folder,
    read_errors,
    scan_window,
)

if TYPE_CHECKING:
    import polars as pl

    from assay.config import MonitoringConfig, Project
    from assay.contracts import ColumnProfile, ReferenceProfile
    from assay.monitoring._contract import WindowContract
    from assay.monitoring._reference import Reference

STATUSES = ("drift", "no_drift", "insufficient_data", "schema_mismatch")


@dataclass(frozen=True)
class ColumnResult:
    """One column's decision in one window."""

    column: str
    status: str
    role: str = "input"
    """``input`` or ``prediction``."""
    statistic: str | None = None
    value: float | None = None
    p_value: float | None = None
    threshold: float | None = None
    values: int = 0
    """Values compared (finite numbers, or non-null categories)."""
    reason: str | None = None
    numeric: bool | None = None
    labels: list[str] = field(default_factory=list)
    reference_counts: list[float] = field(default_factory=list)
    current_counts: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class WindowResult:
    """One window of a monitor: which rows, against what, the verdict and every column."""

    monitor: str
    deployment: str
    model: str
    versions: list[str]
    start: float | None
    end: float | None
    rows: int
    verdict: str
    columns: list[ColumnResult]
    reference: str
    reference_hash: str | None
    alpha: float
    correction: str
    quality: dict[str, Any] | None = None
    """Realised quality from feedback labels: ``{metric, value, labels}`` (None: no labels)."""
    estimate: dict[str, Any] | None = None
    """A classifier's accuracy estimated without labels from its probabilities:
    ``{metric, value, low, high, coverage, rows}`` (None: no probabilities)."""
    data_quality: str | None = None
    """``pass`` or ``fail`` (an error-severity check of the contract failed); None: no
    contract was checked."""
    contract: str | None = None
    """The contract whose row checks ran on the window."""
    quality_checks: list[dict[str, Any]] = field(default_factory=list)
    """Each check: ``{check, column, severity, failed_rows, rows, passed, message}``."""
    quality_alarm: dict[str, Any] | None = None
    """With ``min_accuracy:``, whether the window's accuracy is shown below it:
    ``{source, metric, value, bound, n, p_value, alarm}`` (None: nothing to decide on)."""
    id: int | None = None
    created_at: float | None = None

    @property
    def drifted(self) -> list[str]:
        return [c.column for c in self.columns if c.status == "drift"]

    @property
    def failed_checks(self) -> list[dict[str, Any]]:
        """The contract checks that failed (either severity)."""
        return [c for c in self.quality_checks if not c["passed"]]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["columns"] = [c.to_dict() for c in self.columns]
        return out


def _is_numeric(dtype: Any) -> bool:
    import polars as pl

    return bool(dtype.is_numeric()) and dtype != pl.Boolean


def column_cells(schema: dict[str, Any], name: str, ref: ColumnProfile | None, *,
                 role: str) -> ColumnResult | tuple[pl.Expr, int]:
    """One column of a window of schema ``schema`` against its reference column: each row's
    cell of the reference and how many cells to count, or the column's result when it cannot be compared (it is not in the
    reference, missing, of another type or nested, or the reference has too few values)."""
    import polars as pl

    from assay.contracts import cell_index

    if ref is None:
        return ColumnResult(name, "schema_mismatch", role,
                            reason=f"column '{name}' is not in the reference")
    if name not in schema:
        return ColumnResult(name, "schema_mismatch", role, numeric=ref.numeric,
                            reason=f"column '{name}' is missing from the prediction log")
    dtype = schema[name]
    if dtype.is_nested():
        return ColumnResult(name, "schema_mismatch", role, numeric=ref.numeric,
                            reason=f"column '{name}' holds {dtype} values, which are not "
                                   "compared")
    if dtype != pl.Null and _is_numeric(dtype) != ref.numeric:
        there = "numeric" if ref.numeric else "not numeric"
        return ColumnResult(name, "schema_mismatch", role, numeric=ref.numeric,
                            reason=f"column '{name}' is {dtype} here but {there} in the "
                                   "reference")
    if ref.insufficient:
        return ColumnResult(name, "insufficient_data", role, numeric=ref.numeric,
                            reason=ref.insufficient)
    col = pl.col(name)
    return cell_index(col.cast(pl.Float64) if ref.numeric else col, ref)


def decide_cells(name: str, ref: ColumnProfile, sums: list[Any], *, role: str,
                 alpha: float) -> ColumnResult:
    """The column's decision (before the correction) from its collected cell counts."""
    from assay.contracts import compare_with_profile, counts_of_cells

    labels, ref_counts, cur_counts, drift = compare_with_profile(
        ref, counts_of_cells(ref, sums), alpha=alpha)
    shown = len(labels) <= 50  # a report's plot; many categories are summarised by the test
    return ColumnResult(
        name, drift.status, role, statistic=drift.statistic, value=_finite(drift.value),
        p_value=_finite(drift.p_value), threshold=drift.threshold, values=int(sum(cur_counts)),
        reason=drift.insufficient, numeric=ref.numeric,
        labels=labels if shown else [], reference_counts=ref_counts if shown else [],
        current_counts=cur_counts if shown else [])


def _finite(value: float | None) -> float | None:
    import math

    return value if value is None or math.isfinite(value) else None


def correct(columns: list[ColumnResult], *, alpha: float,
            correction: str) -> tuple[list[ColumnResult], str]:
    """The columns decided together (their p-values corrected for how many were tested: a
    column drifts when its test rejects after the correction and its effect is beyond its
    bound), and the window's verdict: ``drift`` when any column drifted, else
    ``schema_mismatch`` when a column did not fit, else ``no_drift`` when any column was
    decided, else ``insufficient_data``."""
    from dataclasses import replace

    from assay.contracts import drift

    family = [i for i, c in enumerate(columns)
              if c.status in ("drift", "no_drift") and c.p_value is not None]
    rejected = drift.adjust([float(columns[i].p_value or 0.0) for i in family], alpha,
                            correction) if family else []
    out = list(columns)
    for i, reject in zip(family, rejected, strict=True):
        col = columns[i]
        effect = col.threshold is None or (col.value is not None and col.value > col.threshold)
        out[i] = replace(col, status="drift" if reject and effect else "no_drift")
    statuses = {c.status for c in out}
    verdict = ("drift" if "drift" in statuses else "schema_mismatch"
               if "schema_mismatch" in statuses else "no_drift" if "no_drift" in statuses
               else "insufficient_data")
    return out, verdict


def monitored_columns(schema: dict[str, Any], config: MonitoringConfig) -> list[str]:
    """The configured columns, else every input column of the window; then the prediction."""
    if config.columns is not None:
        names = [c for c in config.columns if c != PREDICTION]
    else:
        names = [c for c in schema if c not in (*LOG_COLUMNS, PREDICTION)]
    return [*names, PREDICTION]


def baseline_path(project: Project, monitor: str, reference: Reference) -> Path:
    from assay.monitoring._reference import profile_key

    safe = monitor.replace("/", "--")
    return (project.state_dir / "monitoring" / "baselines"
            / f"{safe}-{profile_key(reference.oid)}.json")


def stored_baseline(project: Project, monitor: str, reference: Reference
                    ) -> ColumnProfile | None:
    """The prediction's baseline profile, once a window has become it."""
    from assay.contracts import ColumnProfile

    try:
        return ColumnProfile(**json.loads(baseline_path(project, monitor, reference)
                                          .read_text()))
    except (OSError, ValueError, TypeError):
        return None


def new_baseline(project: Project, monitor: str, reference: Reference,
                 window: pl.LazyFrame) -> ColumnProfile | None:
    """This window's predictions profiled and stored (atomically) as the baseline later
    windows are compared with (None: too few to profile). The profile's quantiles read the
    window's predictions (one column), once in a monitor's life."""
    from assay.contracts import DistributionSpec, profile_frame
    from assay.monitoring._reference import BINS

    profile = profile_frame(window, {PREDICTION: DistributionSpec(bins=BINS)},
                            shown="the first window's predictions").columns.get(PREDICTION)
    if profile is None or profile.insufficient:
        return None
    from assay._atomic import write_text_atomic

    path = baseline_path(project, monitor, reference)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(asdict(profile), allow_nan=False))
    return profile


def compute_window(project: Project, *, monitor: str, config: MonitoringConfig,
                   model: str, deployment: str, reference: Reference,
                   profile: ReferenceProfile, rows: int | None, seconds: float | None,
                   now: float | None = None, contract: WindowContract | None = None,
                   source: pl.LazyFrame | None = None, source_version: str | None = None
                   ) -> WindowResult:
    """Scan one window and decide every column, the verdict and the contract's row checks
    (nothing is stored). The window is aggregated in one streaming pass. With ``source`` (a
    dataset version's rows, a dataset monitor), that is the window instead of the prediction
    log: no prediction, no labels, ``versions`` is ``[source_version]``."""
    import polars as pl

    from assay.contracts import cell_counts, drift
    from assay.monitoring._quality import confidence_sums, estimate_from

    log_dir = Path(config.log_dir) if config.log_dir else project.state_dir / "predictions"
    if not log_dir.is_absolute():
        log_dir = project.root / log_dir
    wanted = None if config.columns is None else list(config.columns)
    if wanted is not None and contract is not None:
        wanted += [c for c in contract.contract.columns if c not in wanted]
    folder = log_folder(log_dir, model)
    if source is None:
        window = scan_window(folder, model, rows=rows, seconds=seconds, columns=wanted, now=now,
                             deployment=deployment)
    else:
        folder = Path(reference.path)
        window = source if wanted is None else source.select(
            c for c in source.collect_schema() if c in wanted)
    with read_errors(folder):
        schema = dict(window.collect_schema())
        checks = None
        if contract is not None:
            inputs = list(schema) if source is not None else [
                c for c in schema if c not in (*LOG_COLUMNS, PREDICTION)]
            checks = contract.compile(window, inputs)
            window = checks.frame
        exprs: dict[str, pl.Expr] = {"\0rows": pl.len(), "\0start": pl.col("ts").min(),
                                     "\0end": pl.col("ts").max()}
        baseline = None if source is not None else stored_baseline(project, monitor, reference)
        predicted = (source is None and PREDICTION in schema
                     and not schema[PREDICTION].is_nested())
        if baseline is None and predicted:
            exprs["\0predictions"] = pl.col(PREDICTION).is_not_null().sum()
        if PROBABILITIES in schema:
            exprs.update({f"\0estimate{i}": e
                          for i, e in enumerate(confidence_sums(pl.col(PROBABILITIES)))})
        names = monitored_columns(schema, config) if source is None else (
            list(config.columns) if config.columns is not None else list(schema))
        if source is not None:  # a dataset version (its own ts or version columns are data)
            exprs["\0start"] = exprs["\0end"] = pl.lit(None, dtype=pl.Float64)
        plans: dict[str, ColumnResult | tuple[pl.Expr, int]] = {}
        cells: list[pl.Expr] = []
        for name in names:
            if name == PREDICTION and baseline is None:
                continue
            ref: ColumnProfile | None = (baseline if name == PREDICTION
                                         else profile.columns.get(name))
            plans[name] = found = column_cells(schema, name, ref, role="input"
                                               if name != PREDICTION else "prediction")
            if isinstance(found, tuple):  # each row's cell, once, then a sum per cell
                cells.append(found[0].alias(f"\0cell:{name}"))
                exprs.update({f"\0cell{i}:{name}": e for i, e in
                              enumerate(cell_counts(pl.col(f"\0cell:{name}"), found[1]))})
        if checks is not None:
            exprs.update(checks.exprs)
        values = (window.with_columns(cells).select(e.alias(k) for k, e in exprs.items())
                  .collect(engine="streaming").row(0, named=True))
        fresh = False
        if (baseline is None and predicted
                and int(values["\0predictions"] or 0) >= drift.MIN_VALUES):
            baseline = new_baseline(project, monitor, reference, window)
            fresh = baseline is not None
        versions = [source_version or "-"] if source is not None else sorted(
            str(v) for v in window.select(pl.col("version").drop_nulls())
            .unique().collect(engine="streaming").get_column("version"))
    count = int(values["\0rows"])
    results = []
    for name in names:
        role = "prediction" if name == PREDICTION else "input"
        if name == PREDICTION and name not in plans:
            why = ("this window's predictions became the baseline later windows are "
                   "compared with" if fresh else "no baseline yet: a window with at least "
                   "30 predictions becomes it")
            results.append(ColumnResult(PREDICTION, "insufficient_data", "prediction",
                                        reason=why))
            continue
        plan = plans[name]
        ref = baseline if name == PREDICTION else profile.columns.get(name)
        if count == 0 and ref is not None:
            results.append(ColumnResult(name, "insufficient_data", role, numeric=ref.numeric,
                                        reason="the window has no rows"))
        elif isinstance(plan, ColumnResult):
            results.append(plan)
        else:
            assert ref is not None
            sums = [values[f"\0cell{i}:{name}"] for i in range(plan[1])]
            results.append(decide_cells(name, ref, sums, role=role, alpha=config.alpha))
    columns, verdict = correct(results, alpha=config.alpha, correction=config.correction)
    estimate = None
    if PROBABILITIES in schema:
        found_estimate = estimate_from([values[f"\0estimate{i}"] for i in range(3)])
        estimate = None if found_estimate is None else asdict(found_estimate)
    quality_checks, data_quality = [], None
    if checks is not None and contract is not None:
        quality_checks = contract.summarise(checks.results(values), rows=count)
        data_quality = "fail" if any(c["severity"] == "error" and not c["passed"]
                                     for c in quality_checks) else "pass"
    quality = None if source is not None else _quality(folder, window)
    alarm = None
    if config.min_accuracy is not None:
        from assay.monitoring._quality import quality_alarm

        alarm = quality_alarm(config.min_accuracy, quality, estimate, alpha=config.alpha)
    return WindowResult(
        monitor=monitor, deployment=deployment, model=model, versions=versions,
        start=None if values["\0start"] is None else float(values["\0start"]),
        end=None if values["\0end"] is None else float(values["\0end"]),
        rows=count, verdict=verdict, columns=columns, reference=reference.label,
        reference_hash=reference.oid, alpha=config.alpha, correction=config.correction,
        quality=quality, estimate=estimate, data_quality=data_quality,
        contract=None if contract is None else contract.name, quality_checks=quality_checks,
        quality_alarm=alarm)


def _quality(folder: Path, window: pl.LazyFrame) -> dict[str, Any] | None:
    from assay.monitoring._quality import labels_of, realised_quality

    with read_errors(folder / "feedback", "the feedback labels", ValueError):
        found = realised_quality(window, labels_of(folder), classified_column=CLASSIFIED,
                                 prediction=PREDICTION)
    return None if found is None else asdict(found)
