"""Micro-batching: concurrent requests for one model predicted in one vectorised call.

Requests are decoded and checked on the event loop, then queued here as checked rows. One inference
thread per served reference takes the first waiting request, adds every request that is
already waiting (and, with ``max_wait_ms``, those arriving within that time) up to
``max_batch_rows`` rows, predicts them in one call and hands each request its slice. The event
loop never runs a model; a model's own error fails only the requests of its batch, as a
:class:`~assay.errors.RequestRejected` (422), never the thread.
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from assay.errors import AssayError, RequestRejected

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

    from assay.models import LoadedModel
    from assay.serving._decode import Rows
    from assay.serving._model import Served


@dataclass
class Outcome:
    """A request's slice of its batch's outputs."""

    served: Served
    predictions: np.ndarray
    probabilities: np.ndarray | None
    batch_rows: int
    frame: pl.DataFrame
    """The request's rows as the model took them (a slice of its batch's frame)."""
    model_seconds: float = 0.0
    """How long its batch's model call took."""


@dataclass
class _Item:
    served: Served
    frame: Rows
    future: asyncio.Future[Outcome]
    loop: asyncio.AbstractEventLoop


def _deliver(future: asyncio.Future[Outcome], result: Outcome | BaseException) -> None:
    if future.done():  # the request timed out meanwhile
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


#: Batches of at least this many rows are predicted with every core's OpenMP thread. Below it
#: one thread is faster in the server, though not alone: the team's threads spin after each
#: call on the cores the event loop needs (1,000-row requests on 2 busy cores: 236 requests/s
#: with one thread, 175 with two; 4,000 rows predict 1.7x faster with two).
PARALLEL_ROWS = 4096


class _OpenMP:
    """How many OpenMP threads the models on this thread use: one for a micro-batch (a tree
    ensemble predicting a few rows is faster alone than with a team of threads that must be
    woken for every call: on a busy 2-core machine, 0.6 ms instead of 170 ms for one row), all
    cores for a large batch. omp_set_num_threads is per thread: other threads keep theirs."""

    def __init__(self) -> None:
        self._controllers: list[Any] = []
        self._current = 0
        self._cores = os.cpu_count() or 1
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - scikit-learn depends on it
            return
        self._controllers = list(ThreadpoolController().select(user_api="openmp")
                                 .lib_controllers)

    def use(self, rows: int) -> None:
        wanted = self._cores if rows >= PARALLEL_ROWS else 1
        if wanted != self._current:
            for controller in self._controllers:
                controller.set_num_threads(wanted)
            self._current = wanted


class Queued(Protocol):
    """A queued request: its rows."""

    @property
    def frame(self) -> Rows: ...


Item = TypeVar("Item", bound=Queued)


def collect(source: queue.SimpleQueue[Item | None], first: Item, *, max_rows: int,
            max_wait: float) -> tuple[list[Item], bool]:
    """``first`` and the requests waiting in ``source`` (and those arriving within
    ``max_wait`` seconds) up to ``max_rows`` rows; True if a None (stop) was taken."""
    batch, rows = [first], first.frame.height
    deadline = time.monotonic() + max_wait
    while rows < max_rows:
        try:
            item = source.get_nowait()
        except queue.Empty:
            wait = deadline - time.monotonic()
            if wait <= 0:
                break
            try:
                item = source.get(timeout=wait)
            except queue.Empty:
                break
        if item is None:
            return batch, True
        batch.append(item)
        rows += item.frame.height
    return batch, False


class Batcher:
    """The inference thread of one served reference."""

    def __init__(self, name: str, *, max_batch_rows: int, max_wait_ms: float,
                 on_batch: Callable[[int], None] | None = None) -> None:
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._max_rows = max_batch_rows
        self._max_wait = max_wait_ms / 1000.0
        self._on_batch = on_batch
        self._thread = threading.Thread(target=self._run, name=f"assay-infer-{name}",
                                        daemon=True)
        self._thread.start()

    def submit(self, served: Served, frame: Rows) -> asyncio.Future[Outcome]:
        """Queue ``frame`` for ``served``; the future resolves on the calling loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        self._queue.put(_Item(served, frame, future, loop))
        return future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        self._openmp: _OpenMP | None = None  # made at the first batch: the model's OpenMP
        # runtime is loaded with the model, after this thread starts
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, stop = collect(self._queue, first, max_rows=self._max_rows,
                                  max_wait=self._max_wait)
            live = [item for item in batch if not item.future.done()]
            # a swap may land between requests: each group is predicted by its own version
            groups: dict[int, list[_Item]] = {}
            for item in live:
                groups.setdefault(id(item.served), []).append(item)
            for items in groups.values():
                self._predict(items)
            if stop:
                return

    def _predict(self, items: list[_Item]) -> None:
        served = items[0].served
        if self._openmp is None:
            self._openmp = _OpenMP()
        start = 0
        for result in predict(served.model, [item.frame for item in items], self._openmp):
            group, start = items[start:start + result.count], start + result.count
            if isinstance(result, Failed):
                for item in group:
                    item.loop.call_soon_threadsafe(_deliver, item.future, result.error)
                continue
            if self._on_batch is not None:
                self._on_batch(result.frame.height)
            for item, outcome in zip(group, result.outcomes(served), strict=True):
                item.loop.call_soon_threadsafe(_deliver, item.future, outcome)


@dataclass
class Call:
    """One model call over consecutive requests of a batch: its frame, its outputs, how long
    it took and each request's rows."""

    frame: pl.DataFrame
    predictions: np.ndarray
    probabilities: np.ndarray | None
    seconds: float
    heights: list[int]

    @property
    def count(self) -> int:
        """Requests answered by this call."""
        return len(self.heights)

    def spans(self) -> list[tuple[int, int]]:
        """Each request's ``(start, end)`` rows in the call's frame and outputs."""
        found, start = [], 0
        for height in self.heights:
            found.append((start, start + height))
            start += height
        return found

    def outcomes(self, served: Served) -> list[Outcome]:
        """Each request's slice of the call, as :class:`Outcome`."""
        probabilities = self.probabilities
        return [Outcome(served, self.predictions[start:end],
                        None if probabilities is None else probabilities[start:end],
                        self.frame.height, self.frame.slice(start, end - start), self.seconds)
                for start, end in self.spans()]


@dataclass
class Failed:
    """Consecutive requests of a batch the model could not predict, and the refusal each
    gets."""

    count: int
    error: RequestRejected


def predict(model: LoadedModel, parts: list[Rows], openmp: _OpenMP, *,
            clock: Callable[[], float] = time.perf_counter) -> list[Call | Failed]:
    """Requests ``parts`` (rows of one signature) predicted in one call by ``model``; when
    that call fails on the input, each request alone, so one request's rows fail only it (a
    422). The model's own crash fails them all (a 500). The results cover ``parts`` in order.

    The inference threads call this, and so does the shadow process (:mod:`._shadow`), which
    times the call by its CPU time (``clock``): it runs at idle priority, so its wall time
    would measure how busy the machine is rather than the candidate."""
    from assay.serving._decode import frame_of

    try:
        frame = frame_of(parts)
        openmp.use(frame.height)
        began = clock()
        predictions, probabilities = model.outputs(frame)
        took = clock() - began
    except AssayError as exc:  # RequestRejected from the frame, ModelError from the model
        if len(parts) > 1:  # one request's rows failed the model: not its batch-mates'
            return [result for part in parts
                    for result in predict(model, [part], openmp, clock=clock)]
        reason = " ".join(str(exc).split())[:300]
        return [Failed(1, RequestRejected(f"The model could not predict this input: {reason}",
                                          status=422))]
    except Exception as exc:  # the model's own code: fail the batch, keep the thread
        return [Failed(len(parts), RequestRejected(
            f"The model failed: {type(exc).__name__}", status=500))]
    return [Call(frame, predictions, probabilities, took, [part.height for part in parts])]
