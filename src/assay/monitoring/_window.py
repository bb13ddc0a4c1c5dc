"""One window of a deployment's prediction log, compared with the monitor's reference.

The window's rows are read lazily with Polars from the server's Parquet segments
(``<log dir>/<model>/segment-*.parquet``, see :mod:`assay.serving`), only the columns the
monitor needs, filtered to the deployment's model and the window (the newest N rows, or those
of the last duration); ``inputs`` is unnested into one column per input.

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
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import MonitoringError

if TYPE_CHECKING:
    import polars as pl

    from assay.config import MonitoringConfig, Project
    from assay.contracts import ColumnProfile, ReferenceProfile
    from assay.monitoring._reference import Reference

#: The column holding the model's answer, beside the inputs.
PREDICTION = "prediction"
STATUSES = ("drift", "no_drift", "insufficient_data", "schema_mismatch")
#: Whether a row's model is a classifier (its segment has probabilities), beside each row.
CLASSIFIED = "\0classified"
#: A classifier's probabilities per row (for the label-free estimate), beside each row.
PROBABILITIES = "\0probabilities"
#: The columns of a window that are not inputs.
LOG_COLUMNS = ("ts", "version", "request_id", CLASSIFIED, PROBABILITIES)
#: The variant of a deployment whose answers are mirrored, never returned (see assay.serving).
SHADOW = "shadow"


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
    id: int | None = None
    created_at: float | None = None

    @property
    def drifted(self) -> list[str]:
        return [c.column for c in self.columns if c.status == "drift"]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["columns"] = [c.to_dict() for c in self.columns]
        return out


def log_folder(log_dir: Path, model: str) -> Path:
    """The folder the server writes ``model``'s segments to."""
    from assay.serving._predlog import folder_name  # the server's own rule

    return log_dir / folder_name(model)


def read_window(folder: Path, model: str, *, rows: int | None = None,
                seconds: float | None = None, columns: list[str] | None = None,
                now: float | None = None) -> pl.DataFrame:
    """The window's rows: ``ts``, ``version``, ``request_id``, whether the model is a
    classifier, one column per input (only ``columns`` when given) and ``prediction``, newest
    rows last; rows a shadow variant answered are left out (the traffic is what the served
    variants saw and answered). A window of the last ``seconds`` skips the segments closed
    before it began (a segment is named by the time it was written, after its every row).

    Raises:
        MonitoringError: the folder does not exist, or a segment cannot be read.
    """
    import polars as pl

    if not folder.is_dir():
        raise MonitoringError(
            f"no prediction log for model '{model}' at {folder}; serve the deployment with "
            "`assay serve --deployment NAME` (or set log_dir: in the monitor)", path=str(folder))
    frames: list[pl.LazyFrame] = []
    try:
        since = None if seconds is None else (now or time.time()) - seconds
        for segment in sorted(folder.glob("segment-*.parquet")):
            written = _written_at(segment)
            if since is not None and written is not None and written < since:
                continue
            lf = pl.scan_parquet(segment)
            schema = lf.collect_schema()
            inputs = schema.get("inputs")
            fields = [f.name for f in inputs.fields] if isinstance(inputs, pl.Struct) else []
            wanted = [f for f in fields if columns is None or f in columns]
            select = [pl.col("ts").cast(pl.Float64), pl.col("version").cast(pl.String),
                      pl.col("request_id").cast(pl.String),
                      pl.lit("probabilities" in schema).alias(CLASSIFIED),
                      *(pl.col("inputs").struct.field(f).alias(f) for f in wanted)]
            if PREDICTION in schema:
                select.append(pl.col(PREDICTION))
            if "probabilities" in schema:
                select.append(pl.col("probabilities").cast(pl.List(pl.Float64))
                              .alias(PROBABILITIES))
            mine = pl.col("model") == model
            if "variant" in schema:  # a shadow's answers were never returned: its rows repeat
                # inputs a served variant logged
                mine = mine & (pl.col("variant") != SHADOW)
            frames.append(lf.filter(mine).select(select))
        if not frames:
            return pl.DataFrame({"ts": [], "version": []},
                                schema={"ts": pl.Float64, "version": pl.String})
        window = pl.concat(frames, how="diagonal_relaxed")
        if since is not None:
            window = window.filter(pl.col("ts") >= since)
        if rows is not None:
            window = window.sort("ts").tail(rows)
        return window.collect(engine="streaming")
    except (pl.exceptions.PolarsError, OSError) as exc:
        from assay.contracts import describe_read_error

        raise MonitoringError(f"the prediction log at {folder} cannot be read: "
                              f"{describe_read_error(exc)}", path=str(folder)) from exc


def _written_at(segment: Path) -> float | None:
    """When the server wrote ``segment-<unix time>-<pid>-<n>.parquet`` (None: another name)."""
    try:
        return float(segment.name.split("-")[1])
    except (IndexError, ValueError):
        return None


def _is_numeric(dtype: Any) -> bool:
    import polars as pl

    return bool(dtype.is_numeric()) and dtype != pl.Boolean


def decide_column(frame: pl.DataFrame, name: str, ref: ColumnProfile | None, *,
                  role: str, alpha: float) -> ColumnResult:
    """One column of the window against its reference column (before the correction)."""
    import polars as pl

    from assay.contracts import binned_counts, category_counts, compare_with_profile

    if ref is None:
        return ColumnResult(name, "schema_mismatch", role,
                            reason=f"column '{name}' is not in the reference")
    if frame.height == 0:
        return ColumnResult(name, "insufficient_data", role, numeric=ref.numeric,
                            reason="the window has no rows")
    if name not in frame.columns:
        return ColumnResult(name, "schema_mismatch", role, numeric=ref.numeric,
                            reason=f"column '{name}' is missing from the prediction log")
    dtype = frame.schema[name]
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
    if ref.numeric:
        values = col.cast(pl.Float64)
        values = values.filter(values.is_finite())
        counts = binned_counts(values, ref)
    else:
        counts = category_counts(col.drop_nulls())
    raw = frame.select(counts.alias("counts")).row(0)[0]
    labels, ref_counts, cur_counts, drift = compare_with_profile(ref, raw, alpha=alpha)
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


def monitored_columns(frame: pl.DataFrame, config: MonitoringConfig) -> list[str]:
    """The configured columns, else every input column of the window; then the prediction."""
    if config.columns is not None:
        names = [c for c in config.columns if c != PREDICTION]
    else:
        names = [c for c in frame.columns if c not in (*LOG_COLUMNS, PREDICTION)]
    return [*names, PREDICTION]


def baseline_path(project: Project, monitor: str, reference: Reference) -> Path:
    from assay.monitoring._reference import profile_key

    safe = monitor.replace("/", "--")
    return (project.state_dir / "monitoring" / "baselines"
            / f"{safe}-{profile_key(reference.oid)}.json")


def prediction_baseline(project: Project, monitor: str, reference: Reference,
                        frame: pl.DataFrame) -> tuple[ColumnProfile | None, bool]:
    """(the prediction's baseline profile, whether this window just became it).

    The first window with at least 30 predictions becomes the baseline (stored atomically);
    later windows are compared with it.
    """
    from assay.contracts import ColumnProfile, DistributionSpec, drift, profile_frame
    from assay.monitoring._reference import BINS

    path = baseline_path(project, monitor, reference)
    try:
        return ColumnProfile(**json.loads(path.read_text())), False
    except (OSError, ValueError, TypeError):
        pass
    if (PREDICTION not in frame.columns or frame.schema[PREDICTION].is_nested()
            or frame[PREDICTION].drop_nulls().len() < drift.MIN_VALUES):
        return None, False
    profile = profile_frame(frame.lazy(), {PREDICTION: DistributionSpec(bins=BINS)},
                            shown="the first window's predictions").columns.get(PREDICTION)
    if profile is None or profile.insufficient:
        return None, False
    from assay._atomic import write_text_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(asdict(profile), allow_nan=False))
    return profile, True


def compute_window(project: Project, *, monitor: str, config: MonitoringConfig,
                   model: str, deployment: str, reference: Reference,
                   profile: ReferenceProfile, rows: int | None, seconds: float | None,
                   now: float | None = None) -> WindowResult:
    """Read one window and decide every column and the verdict (nothing is stored)."""
    log_dir = Path(config.log_dir) if config.log_dir else project.state_dir / "predictions"
    if not log_dir.is_absolute():
        log_dir = project.root / log_dir
    wanted = None if config.columns is None else list(config.columns)
    folder = log_folder(log_dir, model)
    frame = read_window(folder, model, rows=rows, seconds=seconds, columns=wanted, now=now)
    quality = _quality(folder, frame)
    estimate = None
    if PROBABILITIES in frame.columns:
        from assay.monitoring._quality import estimated_accuracy

        found = estimated_accuracy(frame.get_column(PROBABILITIES))
        estimate = None if found is None else asdict(found)
    results = []
    for name in monitored_columns(frame, config):
        if name == PREDICTION:
            baseline, fresh = prediction_baseline(project, monitor, reference, frame)
            if fresh or baseline is None:
                why = ("this window's predictions became the baseline later windows are "
                       "compared with" if fresh else "no baseline yet: a window with at least "
                       "30 predictions becomes it")
                results.append(ColumnResult(PREDICTION, "insufficient_data", "prediction",
                                            reason=why))
                continue
            results.append(decide_column(frame, PREDICTION, baseline, role="prediction",
                                         alpha=config.alpha))
            continue
        results.append(decide_column(frame, name, profile.columns.get(name), role="input",
                                     alpha=config.alpha))
    columns, verdict = correct(results, alpha=config.alpha, correction=config.correction)
    ts = frame.get_column("ts") if frame.height else None
    versions = sorted(str(v) for v in frame.get_column("version").unique().drop_nulls()) \
        if frame.height else []
    return WindowResult(
        monitor=monitor, deployment=deployment, model=model, versions=versions,
        start=float(ts.min()) if ts is not None else None,  # type: ignore[arg-type]
        end=float(ts.max()) if ts is not None else None,  # type: ignore[arg-type]
        rows=frame.height, verdict=verdict, columns=columns, reference=reference.label,
        reference_hash=reference.oid, alpha=config.alpha, correction=config.correction,
        quality=quality, estimate=estimate)


def _quality(folder: Path, frame: pl.DataFrame) -> dict[str, Any] | None:
    import polars as pl

    from assay.monitoring._quality import labels_of, realised_quality

    try:
        found = realised_quality(frame, labels_of(folder), classified_column=CLASSIFIED,
                                 prediction=PREDICTION)
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        from assay.contracts import describe_read_error

        raise MonitoringError(f"the feedback labels at {folder / 'feedback'} cannot be read: "
                              f"{describe_read_error(exc)}", path=str(folder)) from exc
    return None if found is None else asdict(found)
