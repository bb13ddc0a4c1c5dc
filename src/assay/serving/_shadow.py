"""Shadow predictions, made in a child process at the lowest CPU priority.

In mode ``shadow`` (:mod:`._routing`) a share of the requests is mirrored to the candidate, whose
answers are never returned; they must not slow the answers that are. On a thread of the server
they did: a model such as scikit-learn's HistGradientBoosting holds the interpreter for
0.3-0.5 ms per call, and a request arriving meanwhile waited (the incumbent's p99 rose 11-17%
with a shadow on every request, ``benchmarks/bench_shadow.py``). So the shadow version predicts
in a child process of its own, at nice 19 (and, once loaded, under ``SCHED_IDLE`` on Linux): it
takes neither the server's interpreter nor, when the server needs it, its CPU. On a machine the
server keeps busy, the child falls behind and mirrored requests are dropped (and counted).

- The child (``spawn``: the server has threads, and a threaded process is never forked) loads
  the shadow version through the server's one path, :func:`._model.load` (checked out with every
  file's hash verified, checked, loaded, warmed), and predicts with the inference threads' one
  function, :func:`._batcher.predict`.
- A sender thread takes the mirrored requests, waits :data:`SHADOW_WAIT_MS` for more (up to
  ``max_batch_rows`` rows), joins their rows into one request's and sends them in one pickle; a
  receiver thread takes each batch's answers and records them as the server records its own:
  requests and latency (the model call's time) as variant ``shadow``, the prediction
  distribution, the prediction-log records.
- Bounded: at most ``max_concurrency`` mirrored requests are waiting or in the child; more are
  dropped and counted (``assay_serving_shadow_dropped_total``), as are those a dead child took
  with it. Nothing of the shadow ever fails or delays a request.
- The child starts when a shadow variant is applied (or at the next batch) and stops when the
  variant goes away and when the server stops; if the server dies, the child's pipe closes and
  it exits too. A child that dies (or does not answer a batch within :data:`STUCK_S`, and
  is killed) is logged (``serving.shadow_died``) and started again at the next batch after a
  back-off (1 s, doubling up to 30 s; an answered batch resets it).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assay.errors import AssayError
from assay.serving._batcher import Call, collect
from assay.serving._events import log_line

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from assay.serving._decode import Rows
    from assay.serving._feedback import Answers
    from assay.serving._metrics import Metrics
    from assay.serving._model import Served, Target
    from assay.serving._predlog import PredictionLog
    from assay.serving._routing import Variant

#: A shadow batch waits this long for more mirrored requests: nobody waits for a shadow's
#: answer, and one pickle and one model call for many rows cost less than one per request.
SHADOW_WAIT_MS = 50.0
#: The first wait before a dead child is started again; it doubles at each death in a row.
BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0
#: How long a stopping child gets to exit before it is killed.
STOP_S = 2.0
#: A loaded child that leaves a batch unanswered this long (or ``--timeout``, if longer) is
#: stuck, and killed: it yields the CPU to everything else, so it may be slow for a while.
STUCK_S = 60.0
NICE = 19


@dataclass
class Mirrored:
    """A request mirrored to the shadow variant."""

    route: str
    """The route label of the metrics."""
    variant: Variant
    frame: Rows
    """Its rows, checked against the shadow version's signature."""
    request_id: str


@dataclass
class _Child:
    """One child process, its two pipes and the batches it has not answered yet."""

    served: Served
    process: Any  # multiprocessing's SpawnProcess
    inbox: Connection
    outbox: Connection
    pending: dict[int, tuple[float, list[Mirrored]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    ready_at: float | None = None
    is_gone: bool = False
    is_stopping: bool = False
    reason: str | None = None

    @property
    def pid(self) -> int | None:
        pid: int | None = self.process.pid
        return pid


class ShadowProcess:
    """The shadow predictions of one served reference: the child process that makes them, the
    sender and receiver threads that talk to it."""

    def __init__(self, key: str, *, metrics: Metrics, log: Callable[[], PredictionLog | None],
                 root: str | None, allow_pickle: bool, max_in_flight: int,
                 max_batch_rows: int, timeout_s: float, answers: Answers | None = None) -> None:
        self.key = key
        self._metrics = metrics
        self._log = log
        self._answers = answers
        self._root = root
        self._allow_pickle = allow_pickle
        self._max_in_flight = max_in_flight
        self._max_rows = max_batch_rows
        self._timeout_s = timeout_s
        self._queue: queue.SimpleQueue[Mirrored | None] = queue.SimpleQueue()
        self._count_lock = threading.Lock()
        self._in_flight = 0
        self._child_lock = threading.Lock()
        self._child: _Child | None = None
        self._backoff = BACKOFF_S
        self._retry_at = 0.0
        self._is_closed = False
        self._batches = itertools.count()
        self.restarts = 0
        """Children started after one died."""
        self._sender = threading.Thread(target=self._send, name=f"assay-shadow-{key}",
                                        daemon=True)
        self._sender.start()

    # -- the event loop's side -------------------------------------------------------------

    def submit(self, item: Mirrored) -> None:
        """Queue ``item`` for the child, or drop and count it when too many are in flight;
        never blocks."""
        with self._count_lock:
            is_full = self._in_flight >= self._max_in_flight
            if not is_full:
                self._in_flight += 1
        if is_full:
            self._metrics.shadow_dropped.labels(self.key).inc()
            return
        self._queue.put(item)

    # -- the server's side: what runs, and stopping ----------------------------------------

    def follow(self, shadow: Variant | None) -> None:
        """Start the child of ``shadow``'s version if none runs it; stop the child when there
        is no shadow variant any more."""
        if shadow is None:
            child = self._child
            if child is not None:
                self._stop(child)
                with self._child_lock:
                    if self._child is child:
                        self._child = None
            return
        self._running(shadow.served)

    def describe(self) -> dict[str, Any]:
        """The shadow process's part of ``GET /status``."""
        child = self._child
        return {"pid": child.pid if child is not None and not child.is_gone else None,
                "ready": child is not None and child.ready_at is not None and not child.is_gone,
                "version": child.served.version if child is not None else None,
                "in_flight": self._in_flight, "restarts": self.restarts}

    def close(self) -> None:
        """The server stops: the sender ends, the child exits (or is killed)."""
        with self._child_lock:
            self._is_closed = True
            child, self._child = self._child, None
        self._queue.put(None)
        if child is not None:  # first: a sender blocked on a full pipe fails and ends
            self._stop(child)
        self._sender.join(timeout=5)

    # -- the sender thread -----------------------------------------------------------------

    def _send(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=1.0)
            except queue.Empty:
                self._kill_if_stuck()
                continue
            if first is None:
                return
            batch, is_stopping = collect(self._queue, first, max_rows=self._max_rows,
                                         max_wait=SHADOW_WAIT_MS / 1000.0)
            groups: dict[int, list[Mirrored]] = {}
            for item in batch:  # a new revision may land between requests
                groups.setdefault(id(item.variant.served), []).append(item)
            for items in groups.values():
                self._dispatch(items)
            self._kill_if_stuck()
            if is_stopping:
                return

    def _dispatch(self, items: list[Mirrored]) -> None:
        from assay.serving._decode import joined

        child = self._running(items[0].variant.served)
        if child is None:  # backing off after a death
            self._drop(len(items))
            return
        batch = next(self._batches)
        with child.lock:
            if child.is_gone:
                is_taken = False
            else:
                child.pending[batch] = (time.monotonic(), items)
                is_taken = True
        if not is_taken:
            self._drop(len(items))
            return
        rows = joined([item.frame for item in items])
        with contextlib.suppress(OSError, ValueError):  # gone: its receiver drops them
            child.inbox.send((batch, rows.columns, [item.frame.height for item in items]))

    def _running(self, served: Served) -> _Child | None:
        """The child predicting ``served`` (started if there is none, or another version's;
        None while backing off after a death)."""
        with self._child_lock:
            child = self._child
            if child is not None and _same(child.served, served) and not child.is_gone:
                return child
            if self._is_closed or time.monotonic() < self._retry_at:
                return None
            old, self._child = child, self._start(served)
            if old is not None and old.is_gone:
                self.restarts += 1
            new = self._child
        if old is not None and not old.is_gone:
            self._stop(old)
        return new

    def _start(self, served: Served) -> _Child:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        inbox_reader, inbox = context.Pipe(duplex=False)
        outbox, outbox_writer = context.Pipe(duplex=False)
        process = context.Process(
            target=run_child, name=f"assay-shadow-{self.key}", daemon=True,
            kwargs={"target": served.target, "root": self._root,
                    "allow_pickle": self._allow_pickle, "inbox": inbox_reader,
                    "outbox": outbox_writer})
        process.start()
        inbox_reader.close()  # the child's ends: once it exits, our reads see the end
        outbox_writer.close()
        child = _Child(served, process, inbox, outbox)
        log_line({"event": "serving.shadow_started", "model": self.key,
                  "version": served.version, "pid": child.pid})
        threading.Thread(target=self._receive, args=(child,), daemon=True,
                         name=f"assay-shadow-{self.key}-answers").start()
        return child

    def _stop(self, child: _Child) -> None:
        child.is_stopping = True
        with contextlib.suppress(OSError, ValueError):
            child.inbox.send(None)
        child.process.join(STOP_S)
        if child.process.is_alive():
            child.process.kill()
            child.process.join(STOP_S)
        child.inbox.close()

    def _kill_if_stuck(self) -> None:
        """A child that has not answered a batch within :data:`STUCK_S` (once loaded) is
        killed: its receiver sees it die, and the next batch starts another."""
        child = self._child
        if child is None or child.ready_at is None or child.is_gone:
            return
        with child.lock:
            oldest = min((sent for sent, _ in child.pending.values()), default=None)
        limit = max(self._timeout_s, STUCK_S)
        if oldest is not None and time.monotonic() - max(oldest, child.ready_at) > limit:
            child.reason = f"no answer within {limit:g} s"
            child.process.kill()

    # -- the receiver thread (one per child) -----------------------------------------------

    def _receive(self, child: _Child) -> None:
        while True:
            try:
                message = child.outbox.recv()
            except (EOFError, OSError):
                break
            if message[0] == "ready":
                child.ready_at = time.monotonic()
                log_line({"event": "serving.shadow_ready", "model": self.key,
                          "version": child.served.version, "pid": child.pid})
            elif message[0] == "failed":
                child.reason = message[1]
            else:
                _, batch, results = message
                with child.lock:
                    sent, items = child.pending.pop(batch, (0.0, []))
                if items:
                    self._record(items, results, time.monotonic() - sent)
                    self._backoff = BACKOFF_S
        with child.lock:
            child.is_gone = True
            lost = sum(len(items) for _, items in child.pending.values())
            child.pending.clear()
        self._drop(lost)
        child.outbox.close()
        if child.is_stopping:
            return
        child.process.join(STOP_S)
        with self._child_lock:
            wait = self._backoff
            self._retry_at = time.monotonic() + wait
            self._backoff = min(self._backoff * 2, MAX_BACKOFF_S)
        log_line({"event": "serving.shadow_died", "model": self.key,
                  "version": child.served.version, "pid": child.pid,
                  "exitcode": child.process.exitcode, "reason": child.reason, "lost": lost,
                  "retry_in_s": wait})

    def _record(self, items: list[Mirrored], results: list[Call | int],
                elapsed: float) -> None:
        """Each request's shadow prediction, recorded as the server records its answers (a
        refused one as status 500, its time the wait for its batch). Per batch where the
        metrics allow it: this thread shares the interpreter with the answers."""
        log, start = self._log(), 0
        for result in results:
            count = result if isinstance(result, int) else result.count
            group, start = items[start:start + count], start + count
            variant = group[0].variant
            served = variant.served
            if isinstance(result, int):
                self._count(group, variant, "500", elapsed)
                continue
            if log is not None or self._answers is not None:
                classified = result.probabilities is not None
                for item, outcome in zip(group, result.outcomes(served), strict=True):
                    if log is not None:
                        log.record(served.name, served.version, item.request_id,
                                   outcome.frame, outcome.predictions, outcome.probabilities,
                                   variant=variant.name)
                    if self._answers is not None:  # scored when its label arrives
                        self._answers.remember(self.key, item.request_id, served.version,
                                               variant.name, outcome.predictions, classified)
            self._count(group, variant, "200", result.seconds)
            self._metrics.observe_predictions(self.key, served.version, variant.name,
                                              result.predictions,
                                              result.probabilities is not None)
        with self._count_lock:
            self._in_flight -= len(items)

    def _count(self, group: list[Mirrored], variant: Variant, status: str,
               seconds: float) -> None:
        version = variant.served.version
        routes: dict[str, int] = {}
        for item in group:
            routes[item.route] = routes.get(item.route, 0) + 1
        for route, count in routes.items():
            self._metrics.requests.labels(route, status, self.key, version,
                                          variant.name).inc(count)
            latency = self._metrics.latency.labels(route, self.key, version, variant.name)
            for _ in range(count):
                latency.observe(seconds)

    def _drop(self, count: int) -> None:
        if count <= 0:
            return
        self._metrics.shadow_dropped.labels(self.key).inc(count)
        with self._count_lock:
            self._in_flight -= count


def _same(one: Served, other: Served) -> bool:
    """True if ``one`` and ``other`` are one version (loaded once or twice)."""
    return one is other or (one.target.oid is not None and one.target.oid == other.target.oid)


# -- the child process -------------------------------------------------------------------------

def run_child(*, target: Target, root: str | None, allow_pickle: bool, inbox: Connection,
              outbox: Connection) -> None:
    """The child's main: lowest priority, load ``target`` as the server does, then predict
    each batch from ``inbox`` until a None or the server's end of the pipe closes."""
    import signal

    os.nice(NICE)  # before the imports and the load: all of it yields to the server
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which stops us
    from assay.serving._batcher import _OpenMP, predict
    from assay.serving._decode import Rows
    from assay.serving._model import find_project, load

    try:
        served = load(target, find_project(root), allow_pickle=allow_pickle)
    except (AssayError, OSError) as exc:
        outbox.send(("failed", " ".join(str(exc).split())[:300]))
        return
    except Exception as exc:  # the model's own load code
        outbox.send(("failed", repr(exc)[:300]))
        return
    # Loaded, it predicts under SCHED_IDLE as well (Linux): a server thread that wakes takes
    # the core from it at once, where a nice-19 task may finish a slice first. Not for the
    # load: that would take many times longer on a busy machine.
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    outbox.send(("ready", os.getpid()))
    openmp = _OpenMP()
    signature = served.model.signature
    while True:
        try:
            message = inbox.recv()
        except (EOFError, OSError):
            return  # the server is gone
        if message is None:
            return
        batch, columns, heights = message
        parts = Rows(columns, sum(heights), signature).split(heights)
        results = [result if isinstance(result, Call) else result.count
                   for result in predict(served.model, parts, openmp, clock=time.process_time)]
        try:
            outbox.send(("batch", batch, results))
        except OSError:
            return
