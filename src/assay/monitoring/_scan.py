"""Which rows of a deployment's prediction log are a window: a lazy scan, never a table.

The window's rows are scanned lazily with Polars from the server's Parquet segments
(``<log dir>/<model>/segment-*.parquet``, see :mod:`assay.serving`), only the columns the
monitor needs, filtered to the deployment's model and the window (the newest N rows, or those
of the last duration); ``inputs`` is unnested into one column per input. Nothing is collected
here but a few counts: the window is aggregated by its caller in one streaming pass
(:mod:`assay.monitoring._window`), so a window larger than memory is never held.

The newest N rows are those at or after the N-th newest timestamp, found without sorting the
log: the newest-written segments are counted until they hold N rows, which leaves out every
segment written before the oldest of those rows; then a histogram of the timestamps (1,024 buckets, counted by the streaming engine) narrows it
to one bucket, again until the bucket holds at most a million rows, whose timestamps are then
read and sorted. Rows sharing the N-th newest timestamp (one request's rows) are taken in the
log's order up to N.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from assay.errors import MonitoringError

if TYPE_CHECKING:
    import polars as pl

#: The column holding the model's answer, beside the inputs.
PREDICTION = "prediction"
#: Whether a row's model is a classifier (its segment has probabilities), beside each row.
CLASSIFIED = "\0classified"
#: A classifier's probabilities per row (for the label-free estimate), beside each row.
PROBABILITIES = "\0probabilities"
#: The columns of a window that are not inputs.
LOG_COLUMNS = ("ts", "version", "request_id", CLASSIFIED, PROBABILITIES)
#: The variant of a deployment whose answers are mirrored, never returned (see assay.serving).
SHADOW = "shadow"
#: Timestamps read to find the N-th newest exactly (8 bytes each); more are narrowed first.
_EXACT_ROWS = 1_000_000
_BUCKETS = 1024


def log_folder(log_dir: Path, model: str) -> Path:
    """The folder the server writes ``model``'s segments to."""
    from assay.serving._predlog import folder_name  # the server's own rule

    return log_dir / folder_name(model)


def scan_window(folder: Path, model: str, *, rows: int | None = None,
                seconds: float | None = None, columns: list[str] | None = None,
                now: float | None = None, deployment: str | None = None) -> pl.LazyFrame:
    """The window's rows, lazily: ``ts``, ``version``, ``request_id``, whether the model is a
    classifier, one column per input (only ``columns`` when given), ``prediction`` and a
    classifier's probabilities; rows a shadow variant answered are left out (the traffic is
    what the served variants saw and answered). With ``deployment``, only the rows that
    deployment's server logged (another server of the same model writes to the same folder). A
    window of the last ``seconds`` skips the segments closed before it began (a segment is named
    by the time it was written, after its every row). Collect it with the streaming engine;
    :func:`read_errors` names what a failed collect means.

    Raises:
        MonitoringError: the folder does not exist, or a segment (or, for ``rows``, the
            timestamps) cannot be read.
    """
    import polars as pl

    if not folder.is_dir():
        raise MonitoringError(
            f"no prediction log for model '{model}' at {folder}; serve the deployment with "
            "`assay serve --deployment NAME` (or set log_dir: in the monitor)", path=str(folder))
    frames: list[pl.LazyFrame] = []
    with read_errors(folder):
        since = None if seconds is None else (now or time.time()) - seconds
        segments: list[tuple[float | None, pl.LazyFrame]] = []
        for segment in sorted(folder.glob("segment-*.parquet")):
            written = _written_at(segment)
            if since is not None and written is not None and written < since:
                continue
            segments.append((written, _segment(pl.scan_parquet(segment), model, columns,
                                               deployment)))
        if rows is not None:
            segments = _newest_segments(segments, rows, since)
        frames = [lf for _, lf in segments]
        if not frames:
            return pl.LazyFrame({"ts": [], "version": []},
                                schema={"ts": pl.Float64, "version": pl.String})
        window = pl.concat(frames, how="diagonal_relaxed")
        if since is not None:
            window = window.filter(pl.col("ts") >= since)
        if rows is not None:
            window = _newest(window, rows)
        return window


def _segment(lf: pl.LazyFrame, model: str, columns: list[str] | None,
             deployment: str | None) -> pl.LazyFrame:
    import polars as pl

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
        select.append(pl.col("probabilities").cast(pl.List(pl.Float64)).alias(PROBABILITIES))
    mine = pl.col("model") == model
    if deployment is not None and "deployment" in schema:  # not another server's traffic of
        mine = mine & (pl.col("deployment") == deployment)  # the model
    if "variant" in schema:  # a shadow's answers were never returned: its rows repeat inputs
        # a served variant logged
        mine = mine & (pl.col("variant") != SHADOW)
    return lf.filter(mine).select(select)


@contextmanager
def read_errors(folder: Path, what: str = "the prediction log",
                *also: type[Exception]) -> Iterator[None]:
    """Polars' and the file system's errors (and ``also``) while reading the log, as a
    MonitoringError."""
    import polars as pl

    caught: tuple[type[Exception], ...] = (pl.exceptions.PolarsError, OSError, *also)
    try:
        yield
    except caught as exc:
        from assay.contracts import describe_read_error

        raise MonitoringError(f"{what} at {folder} cannot be read: {describe_read_error(exc)}",
                              path=str(folder)) from exc


def _newest_segments(segments: list[tuple[float | None, pl.LazyFrame]], n: int,
                     since: float | None) -> list[tuple[float | None, pl.LazyFrame]]:
    """The segments that can hold one of the newest ``n`` rows. The newest-written segments
    are counted (their rows of the window) until they hold ``n``: the n-th newest row is no
    older than their oldest row, and a segment written before that time holds no newer row
    (it was written after its every row). Segments not named by their time are kept."""
    import polars as pl

    dated = sorted(((w, lf) for w, lf in segments if w is not None), key=lambda s: -s[0])
    counted, oldest = 0, None
    for _, lf in dated:
        if since is not None:
            lf = lf.filter(pl.col("ts") >= since)
        found = lf.select(pl.len().alias("n"), pl.col("ts").min().alias("lo")
                          ).collect(engine="streaming").row(0, named=True)
        if found["n"]:
            counted += int(found["n"])
            oldest = float(found["lo"]) if oldest is None else min(oldest, float(found["lo"]))
        if counted >= n:
            break
    if counted < n or oldest is None:
        return segments
    return [(w, lf) for w, lf in segments if w is None or w >= oldest]


def _newest(window: pl.LazyFrame, n: int) -> pl.LazyFrame:
    """The newest ``n`` rows of ``window`` (all of them when it has fewer)."""
    import polars as pl

    ts = pl.col("ts")
    stats = window.select(pl.len().alias("n"), ts.min().alias("lo"), ts.max().alias("hi")
                          ).collect(engine="streaming").row(0, named=True)
    if stats["n"] <= n:
        return window
    lo, hi, inside = float(stats["lo"]), float(stats["hi"]), int(stats["n"])
    above = 0  # rows newer than hi; the n-th newest timestamp lies in [lo, hi]
    while lo < hi and inside > _EXACT_ROWS:
        step = (hi - lo) / _BUCKETS
        edges = sorted({lo + step * i for i in range(1, _BUCKETS)} - {lo, hi})
        if not edges:
            break
        found = lo, hi, inside
        buckets = (window.filter(ts.is_between(lo, hi))
                   .group_by(ts.bin_intervals(edges, labels=False, right_closed=True).alias("k"))
                   .agg(pl.len().alias("n"), ts.min().alias("lo"), ts.max().alias("hi"))
                   .sort("k", descending=True).collect(engine="streaming"))
        for bucket in buckets.iter_rows(named=True):
            if above + bucket["n"] >= n:
                found = float(bucket["lo"]), float(bucket["hi"]), int(bucket["n"])
                break
            above += int(bucket["n"])
        if found == (lo, hi, inside):  # no narrower: read it
            break
        lo, hi, inside = found
    if lo == hi:
        threshold, newer = lo, above
    else:
        values = (window.filter(ts.is_between(lo, hi)).select(ts).collect(engine="streaming")
                  .get_column("ts").sort(descending=True))
        threshold = float(values[n - above - 1])
        newer = above + int((values > threshold).sum())
    return pl.concat([window.filter(ts > threshold),
                      window.filter(ts == threshold).head(n - newer)])


def _written_at(segment: Path) -> float | None:
    """When the server wrote ``segment-<unix time>-<pid>-<n>.parquet`` (None: another name)."""
    try:
        return float(segment.name.split("-")[1])
    except (IndexError, ValueError):
        return None
