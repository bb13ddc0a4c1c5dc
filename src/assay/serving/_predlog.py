"""The prediction log: what the server saw and answered, for monitoring to read later.

Requests hand their inputs and outputs to a queue bounded in rows (a sampled share of them); one
background thread writes them as Parquet segments under ``<log dir>/<model>/`` (default
``.assay/predictions/<model>/``), one segment per model version, closed when it reaches
``log_segment_rows`` rows or ``log_segment_seconds`` seconds. Each segment is written to a
temporary name, flushed to disk and renamed, so a reader never sees half a segment. When the
queue is full or a write fails (a full or read-only disk), the records are dropped and counted
(``assay_serving_prediction_log_records{outcome="dropped"}``): the log never slows or fails a
request. Labels sent to ``POST /feedback`` go beside, under ``<model>/feedback/``.

A prediction segment's columns: ``request_id``, ``ts`` (seconds since the epoch), ``model``,
``version``, ``row`` (the row's index in its request), ``inputs`` (a struct of the model's
input columns), ``prediction`` and, for classifiers, ``probabilities`` (one per class, in the
order of ``model.json``'s classes). A feedback segment's: ``request_id``, ``ts``, ``model``,
``label`` (JSON text).
"""

from __future__ import annotations

import itertools
import os
import queue
import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

    from assay.serving._metrics import Metrics


@dataclass
class _Record:
    model: str
    version: str
    kind: str  # "predictions" or "feedback"
    request_id: str | None
    ts: float
    frame: pl.DataFrame | None = None
    predictions: np.ndarray | None = None
    probabilities: np.ndarray | None = None
    feedback: list[tuple[str, str]] | None = None

    @property
    def rows(self) -> int:
        if self.frame is not None:
            return self.frame.height
        return len(self.feedback or [])


def folder_name(model: str) -> str:
    """A model name as one folder name (``team/churn`` -> ``team--churn``)."""
    return model.replace("/", "--")


class PredictionLog:
    """The bounded queue and its background writer."""

    def __init__(self, directory: Path, *, metrics: Metrics, sample: float, capacity: int,
                 segment_rows: int, segment_seconds: float) -> None:
        self.directory = directory
        self._metrics = metrics
        self._sample = sample
        self._segment_rows = segment_rows
        self._segment_seconds = segment_seconds
        self._queue: queue.Queue[_Record | None] = queue.Queue()
        self._capacity = capacity
        self._pending = 0  # rows queued and not yet taken by the writer
        self._pending_lock = threading.Lock()
        self._sequence = itertools.count()
        self._thread = threading.Thread(target=self._run, name="assay-prediction-log",
                                        daemon=True)
        self._thread.start()

    def record(self, model: str, version: str, request_id: str, frame: pl.DataFrame,
               predictions: np.ndarray, probabilities: np.ndarray | None) -> None:
        """Queue one request's rows (if sampled); never blocks."""
        if self._sample < 1.0 and random.random() >= self._sample:
            return
        self._put(_Record(model, version, "predictions", request_id, time.time(), frame,
                          predictions, probabilities))

    def feedback(self, model: str, labels: list[tuple[str, str]]) -> bool:
        """Queue ground-truth labels ``(request id, label as JSON)``; False if the queue is
        full (the caller answers 503)."""
        return self._put(_Record(model, "", "feedback", None, time.time(), feedback=labels))

    def _put(self, record: _Record) -> bool:
        rows = record.rows
        with self._pending_lock:
            full = self._pending + rows > self._capacity
            if not full:
                self._pending += rows
        if full:
            self._metrics.log_records.labels(record.model, "dropped").inc(rows)
            return False
        self._queue.put_nowait(record)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued and stop the writer."""
        self._queue.put(None)
        self._thread.join(timeout=timeout)

    # -- the writer thread ---------------------------------------------------------------

    def _run(self) -> None:
        buffers: dict[tuple[str, str, str], list[_Record]] = {}
        opened: dict[tuple[str, str, str], float] = {}
        while True:
            try:
                record = self._queue.get(timeout=min(1.0, self._segment_seconds))
            except queue.Empty:
                record = False  # type: ignore[assignment]
            now = time.monotonic()
            if record is None:
                for key in list(buffers):
                    self._flush(key, buffers.pop(key))
                return
            if record:
                with self._pending_lock:
                    self._pending -= record.rows
                key = (record.model, record.version, record.kind)
                buffers.setdefault(key, []).append(record)
                opened.setdefault(key, now)
                if sum(r.rows for r in buffers[key]) >= self._segment_rows:
                    self._flush(key, buffers.pop(key))
                    opened.pop(key, None)
            for key in [k for k, t in opened.items() if now - t >= self._segment_seconds]:
                opened.pop(key)
                if key in buffers:
                    self._flush(key, buffers.pop(key))

    def _flush(self, key: tuple[str, str, str], records: list[_Record]) -> None:
        model, _, kind = key
        rows = sum(r.rows for r in records)
        try:
            frame = _predictions_frame(records) if kind == "predictions" else \
                _feedback_frame(records)
            folder = self.directory / folder_name(model)
            if kind == "feedback":
                folder = folder / "feedback"
            self._write(folder, frame)
        except (OSError, ValueError, TypeError) as exc:  # a full or read-only disk, odd data
            del exc
            self._metrics.log_records.labels(model, "dropped").inc(rows)
            return
        except Exception:  # polars' own errors: the log never takes the server down
            self._metrics.log_records.labels(model, "dropped").inc(rows)
            return
        self._metrics.log_records.labels(model, "written").inc(rows)

    def _write(self, folder: Path, frame: pl.DataFrame) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        name = f"segment-{time.time():.6f}-{os.getpid()}-{next(self._sequence)}.parquet"
        final = folder / name
        temp = folder / f".{name}.tmp"
        try:
            with open(temp, "wb") as handle:
                frame.write_parquet(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, final)
        finally:
            if temp.exists():
                temp.unlink()
        try:
            fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            pass


def _predictions_frame(records: list[_Record]) -> pl.DataFrame:
    import numpy as np
    import polars as pl

    parts = []
    for r in records:
        assert r.frame is not None and r.predictions is not None
        predictions = np.asarray(r.predictions)
        columns = [
            pl.lit(r.request_id, pl.String).alias("request_id"),
            pl.lit(r.ts, pl.Float64).alias("ts"),
            pl.lit(r.model, pl.String).alias("model"),
            pl.lit(r.version, pl.String).alias("version"),
            pl.int_range(pl.len(), dtype=pl.Int64).alias("row"),
            pl.struct(r.frame.columns).alias("inputs"),
            pl.Series("prediction", predictions.tolist() if predictions.dtype == object
                      else predictions),
        ]
        if r.probabilities is not None:
            columns.append(pl.Series("probabilities",
                                     np.asarray(r.probabilities, dtype=np.float64)))
        parts.append(r.frame.select(columns))
    return pl.concat(parts, how="vertical_relaxed")


def _feedback_frame(records: list[_Record]) -> pl.DataFrame:
    import polars as pl

    rows = [(request_id, r.ts, r.model, label) for r in records for request_id, label in
            (r.feedback or [])]
    return pl.DataFrame(rows, schema=["request_id", "ts", "model", "label"], orient="row")
