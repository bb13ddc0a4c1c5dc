"""The in-script tracking API: calls queue rows in memory; a background thread writes them to the
store in batches; everything still queued is written at exit, also when the script crashes.

Inside ``assay run`` the runner's environment (``ASSAY_STAGE_RUN_ID``, ``ASSAY_STORE_URL``, ...)
attaches every call to that stage's run. Elsewhere ``start_run`` (or the first call) creates an
ad-hoc run in the project found from the working directory.

Every value is checked when it is logged (a value the store cannot hold is a TrackingError at
that call, never a failed batch later). A write that fails keeps its rows queued and retries
them; until they are written, tracking calls, ``flush()`` and the end of the run raise the
TrackingError, and a run that ends with rows unwritten is recorded ``failed``. The queue is
bounded: a call that finds :data:`QUEUE_LIMIT` values waiting writes them itself first.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from assay.errors import AssayError, TrackingError
from assay.store import statements as sql
from assay.store._metric_values import MAX_KEY, key_problem, metric_columns, to_metric, to_step

if TYPE_CHECKING:
    from collections.abc import Callable

    from assay.store import Connection, Store

FLUSH_INTERVAL = 1.0
# A write transaction of TRANSACTION_ROWS points holds the store's write turn for a few ms, so
# with 8 writers a turn comes back within tens of ms; a flush() never has more than QUEUE_LIMIT
# values to write, which bounds both memory and how long it can take.
FLUSH_SOON = 2_000  # queued values that wake the background writer before FLUSH_INTERVAL
QUEUE_LIMIT = 5_000  # queued values per run; a call that finds this many writes them itself
TRANSACTION_ROWS = 1_000  # metric points per write transaction

# (key, value, value_kind, step, ts): a point as the metrics table stores it
Point = tuple[str, "float | None", "str | None", int, float]


class ActiveStageRun(tuple[str, str, str]):
    """``(run_id, stage_run_id, store_url)``, plus ``root`` and ``stage`` attributes."""

    root: Path
    stage: str | None

    def __new__(cls, run_id: str, stage_run_id: str, store_url: str, *, root: Path,
                stage: str | None) -> ActiveStageRun:
        self = super().__new__(cls, (run_id, stage_run_id, store_url))
        self.root = root
        self.stage = stage
        return self

    @property
    def run_id(self) -> str:
        return self[0]

    @property
    def stage_run_id(self) -> str:
        return self[1]

    @property
    def store_url(self) -> str:
        return self[2]


def _reason(exc: BaseException) -> str:
    """One line saying why a write failed: the database's own words when the store has them
    (a StoreError's ``reason``), else the error's first line."""
    reason = getattr(exc, "reason", None)
    lines = str(reason if isinstance(reason, str) and reason else exc).strip().splitlines()
    return lines[0].rstrip(".") if lines else type(exc).__name__


class _Writer:
    """Queues rows for one stage run and writes them in batches from a daemon thread.

    Rows leave the queue only once their transaction committed: a failed write puts them back
    in front (and ``failure`` says why until a later write succeeds).
    """

    def __init__(self, store_url: str, stage_run_id: str, store: Store | None = None) -> None:
        self.store_url = store_url
        self.stage_run_id = stage_run_id
        self._lock = threading.Lock()
        self._metrics: list[Point] = []
        self._params: dict[str, str] = {}
        self._tags: dict[str, str] = {}
        self._artifacts: list[tuple[str, str, int, str]] = []
        self._store: Store | None = store
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._flush_lock = threading.Lock()
        self._writing = 0  # values a flush has taken and not yet committed
        self.failure: str | None = None  # why the queued rows could not be written
        self.cause = ""  # the store's own words for it

    def _ensure_thread(self) -> None:
        if self._thread is None and not self._stop:
            self._thread = threading.Thread(target=self._loop, name="assay-tracking", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop:
            self._wake.wait(FLUSH_INTERVAL)
            self._wake.clear()
            if self._stop:
                return
            with contextlib.suppress(TrackingError):  # kept in self.failure: the next call,
                self.flush()  # flush() or the end of the run raises it

    @property
    def queued(self) -> int:
        """Values not written yet (metric points, params, tags, artifacts), also those a
        flush is writing right now."""
        return (len(self._metrics) + len(self._params) + len(self._tags) + len(self._artifacts)
                + self._writing)

    def check(self) -> None:
        """Raise the failure of the last write while its rows are still unwritten."""
        if self.failure is not None:
            raise TrackingError(self.failure, run=self.stage_run_id)

    def _make_room(self, adding: int = 1) -> None:
        """Before ``adding`` more values are queued: raise the last write's failure while its
        rows are unwritten, and write the queue if they would overfill it (the caller waits, so
        memory stays bounded however fast it logs; a single batch larger than
        :data:`QUEUE_LIMIT` is queued whole)."""
        self.check()
        if self.queued + adding > QUEUE_LIMIT:
            self.flush()

    def _queued_one(self, queued: int) -> None:
        if queued >= FLUSH_SOON:
            self._wake.set()
        if self._thread is None:
            self._ensure_thread()

    def metric(self, point: Point) -> None:
        if self.failure is not None or self.queued >= QUEUE_LIMIT:
            self._make_room()
        with self._lock:
            self._metrics.append(point)
            queued = len(self._metrics)
        if queued >= FLUSH_SOON or self._thread is None:
            self._queued_one(queued)

    def metrics(self, points: list[Point]) -> None:
        """Queue ``points`` in one step (written in the same transactions as single points)."""
        if self.failure is not None or self.queued + len(points) > QUEUE_LIMIT:
            self._make_room(len(points))
        with self._lock:
            self._metrics.extend(points)
            queued = len(self._metrics)
        if queued >= FLUSH_SOON or self._thread is None:
            self._queued_one(queued)

    def param(self, key: str, value: str) -> None:
        self._make_room()
        with self._lock:
            self._params[key] = value
        self._queued_one(self.queued)

    def tag(self, key: str, value: str) -> None:
        self._make_room()
        with self._lock:
            self._tags[key] = value
        self._queued_one(self.queued)

    def artifact(self, path: str, oid: str, size: int, kind: str) -> None:
        self._make_room()
        with self._lock:
            self._artifacts.append((path, oid, size, kind))
        self._queued_one(self.queued)

    @property
    def store(self) -> Store:
        if self._store is None:
            from assay.store import open_store

            self._store = open_store(self.store_url)
        return self._store

    def flush(self) -> None:
        """Write everything queued so far, :data:`TRANSACTION_ROWS` points per transaction.

        Raises:
            TrackingError: the store refused a write; what was not written stays queued.
        """
        with self._flush_lock:
            with self._lock:
                metrics, self._metrics = self._metrics, []
                params, self._params = self._params, {}
                tags, self._tags = self._tags, {}
                artifacts, self._artifacts = self._artifacts, []
                self._writing = len(metrics) + len(params) + len(tags) + len(artifacts)
            if not self._writing:
                return
            done = 0
            try:
                while True:
                    chunk = metrics[done : done + TRANSACTION_ROWS]
                    self._write(chunk, params, tags, artifacts)
                    done += len(chunk)
                    params, tags, artifacts = {}, {}, []
                    self._writing = len(metrics) - done
                    if done >= len(metrics):
                        break
            except BaseException as exc:
                with self._lock:
                    self._metrics[:0] = metrics[done:]
                    self._params = {**params, **self._params}
                    self._tags = {**tags, **self._tags}
                    self._artifacts[:0] = artifacts
                    self._writing = 0
                    left = self.queued
                if not isinstance(exc, (AssayError, OSError)):
                    raise
                self.cause = _reason(exc)
                self.failure = (
                    f"Tracking could not write {left:,} value(s) of run {self.stage_run_id[:8]}: "
                    f"{self.cause}; they are kept and retried (free space or fix the store, "
                    "then call assay.tracking.flush())"
                )
                raise TrackingError(self.failure, run=self.stage_run_id) from exc
            self.failure = None

    def _write(self, metrics: list[Point], params: dict[str, str], tags: dict[str, str],
               artifacts: list[tuple[str, str, int, str]]) -> None:
        """One write transaction."""
        sid = self.stage_run_id
        with self.store.write() as conn:
            conn.executemany(sql.INSERT_METRIC, [
                {"stage_run_id": sid, "key": key, "value": value, "value_kind": kind,
                 "step": step, "ts": ts} for key, value, kind, step, ts in metrics])
            conn.executemany(sql.PUT_PARAM, [{"stage_run_id": sid, "key": k, "value": v}
                                             for k, v in params.items()])
            conn.executemany(sql.PUT_TAG, [{"stage_run_id": sid, "key": k, "value": v}
                                           for k, v in tags.items()])
            conn.executemany(sql.INSERT_ARTIFACT, [
                {"stage_run_id": sid, "path": p, "hash": h, "size": n, "kind": kind}
                for p, h, n, kind in artifacts])

    def close(self) -> None:
        """Stop the background writer and write what is still queued.

        Raises:
            TrackingError: the last write failed; the rows are still queued.
        """
        self._stop = True
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=60)
        self.flush()

    def release(self) -> None:
        """Close the connection to the store (after :meth:`close` and recording the end)."""
        if self._store is not None:
            self._store.close()
            self._store = None


class ActiveRun:
    """A run the tracking calls attach to; a context manager that ends an ad-hoc run."""

    def __init__(self, *, run_id: str, stage_run_id: str, store_url: str, root: Path,
                 stage: str | None, owned: bool, store: Store | None = None) -> None:
        self.run_id = run_id
        self.stage_run_id = stage_run_id
        self.store_url = store_url
        self.root = root
        self.stage = stage
        self.owned = owned  # an ad-hoc run we created (and must close)
        self.writer = _Writer(store_url, stage_run_id, store)
        self.ended = False

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.end("failed" if exc_type is not None else "succeeded")

    def end(self, status: str = "succeeded") -> None:
        """Write what is queued and, for an ad-hoc run, record how it ended.

        A run whose values could not all be written ends ``failed`` (with the reason in its
        details), and the TrackingError is raised.

        Raises:
            TrackingError: values could not be written, or the end could not be recorded.
        """
        if self.ended:
            return
        self.ended = True
        try:
            failure: TrackingError | None = None
            try:
                self.writer.close()
            except TrackingError:
                failure = TrackingError(
                    f"{self.writer.queued:,} tracked value(s) of run {self.stage_run_id[:8]} were "
                    f"not saved: {self.writer.cause}", run=self.stage_run_id)
            if self.owned:
                self._record_end("failed" if failure is not None else status,
                                 None if failure is None else str(failure))
            if failure is not None:
                raise failure
        finally:
            self.writer.release()
            _STATE.forget(self)

    def _record_end(self, status: str, reason: str | None) -> None:
        """Mark the ad-hoc run and its stage run ended (also on a full disk: see
        :meth:`assay.store.Store.write_ending`)."""
        code = 0 if status == "succeeded" else 1
        details = None if reason is None else {"reason": reason}
        ended = {"status": status, "ended_at": time.time(), "exit_code": code,
                 "details": details}

        def mark(conn: Connection) -> None:
            with_details = details is not None
            conn.execute(sql.FINISH_STAGE_RUN_WITH_DETAILS if with_details
                         else sql.FINISH_STAGE_RUN, {**ended, "id": self.stage_run_id})
            conn.execute(sql.FINISH_RUN_WITH_DETAILS if with_details else sql.FINISH_RUN,
                         {**ended, "id": self.run_id})

        try:
            self.writer.store.write_ending(mark)
        except (AssayError, OSError) as exc:
            raise TrackingError(
                f"Run {self.run_id[:8]} could not be recorded {status}: {_reason(exc)}"
                + (f" (and: {reason})" if reason else ""), run=self.run_id) from exc


class _State:
    def __init__(self) -> None:
        self.stack: list[ActiveRun] = []
        self.pipeline: ActiveRun | None = None
        self.lock = threading.RLock()
        self.failed = False

    def forget(self, run: ActiveRun) -> None:
        with self.lock:
            if run in self.stack:
                self.stack.remove(run)
            if self.pipeline is run:
                self.pipeline = None

    def from_env(self) -> ActiveRun | None:
        stage_run_id = os.environ.get("ASSAY_STAGE_RUN_ID")
        store_url = os.environ.get("ASSAY_STORE_URL")
        run_id = os.environ.get("ASSAY_RUN_ID")
        if not (stage_run_id and store_url and run_id):
            return None
        if self.pipeline is None or self.pipeline.stage_run_id != stage_run_id:
            self.pipeline = ActiveRun(
                run_id=run_id, stage_run_id=stage_run_id, store_url=store_url,
                root=Path(os.environ.get("ASSAY_PROJECT") or Path.cwd()),
                stage=os.environ.get("ASSAY_STAGE"), owned=False,
            )
        return self.pipeline

    def current(self, *, create: bool) -> ActiveRun | None:
        with self.lock:
            if self.stack:
                return self.stack[-1]
            found = self.from_env()
            if found is not None or not create:
                return found
            return start_run()


_STATE = _State()


def _excepthook_failed(exc_type: type[BaseException], exc: BaseException,
                       tb: TracebackType | None) -> None:
    _STATE.failed = True
    _previous_hook(exc_type, exc, tb)


_previous_hook = sys.excepthook
sys.excepthook = _excepthook_failed


@atexit.register
def _at_exit() -> None:
    with _STATE.lock:
        runs = list(reversed(_STATE.stack))
        pipeline = _STATE.pipeline
    failures: list[TrackingError] = []
    for run in [*runs, *([pipeline] if pipeline is not None else [])]:
        try:
            run.end("failed" if _STATE.failed and run.owned else "succeeded")
        except TrackingError as exc:
            failures.append(exc)
    if failures:
        _exit_unsaved(failures)


def _exit_unsaved(failures: list[TrackingError]) -> None:
    """End the process with status 1: values it logged could not be saved.

    An exception in an exit handler does not change the exit status, and the runner of a
    pipeline stage judges the stage by it; so this is a hard exit, after flushing the standard
    streams and logging (the exit handlers registered before assay's are skipped).
    """
    for failure in failures:
        sys.stderr.write(f"error: {failure}\n")
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    if "logging" in sys.modules:
        import logging

        logging.shutdown()
    os._exit(1)


def start_run(name: str | None = None, *, tags: dict[str, str] | None = None) -> ActiveRun:
    """Start a run to log into (inside ``assay run`` this is the stage's own run).

    Outside a pipeline it records an ad-hoc run (``runs.kind = 'adhoc'``) with one stage run
    named ``name``, in the project found from the working directory (or ``ASSAY_PROJECT``).

    Example::

        with assay.start_run(name="explore"):
            assay.log_param("lr", 0.1)
            assay.log_metric("loss", 0.3, step=1)

    Raises:
        TrackingError: not inside an assay project.
    """
    with _STATE.lock:
        attached = _STATE.from_env()
        if attached is not None:
            if name:
                attached.writer.tag("run_name", _tag_text("run_name", name))
            for key, value in (tags or {}).items():
                attached.writer.tag(_key("Tag", key), _tag_text(key, value))
            return attached
        checked_tags = {_key("Tag", k): _tag_text(k, v) for k, v in (tags or {}).items()}
        from assay._layout import find_root
        from assay.pipeline import start_git_state

        found = find_root()
        # git answers while the rest is prepared (outside a project: a TrackingError below)
        git = start_git_state(found) if found is not None else None
        try:
            root, store_url, cache_dir = _project_places(found)
            run_id, stage_run_id, store = _record_start(
                name=name, root=root, store_url=store_url, cache_dir=cache_dir,
                git=git or (lambda: (None, None)))
        finally:
            if git is not None:
                git()  # no git process outlives the start (the answer is kept)
        # The run keeps this store (and its open connection) to the end: on a full disk a new
        # SQLite connection cannot even open, and the end must still be recorded.
        run = ActiveRun(run_id=run_id, stage_run_id=stage_run_id, store_url=store_url,
                        root=root, stage=name or "main", owned=True, store=store)
        for key, text in checked_tags.items():
            run.writer.tag(key, text)
        _STATE.stack.append(run)
        return run


def _record_start(*, name: str | None, root: Path, store_url: str, cache_dir: Path,
                  git: Callable[[], tuple[str | None, bool | None]]) -> tuple[str, str, Store]:
    """Insert an ad-hoc run and its stage run; (run id, stage run id, the open store)."""
    import uuid

    from assay._identity import current_user
    from assay.objects import LocalCache
    from assay.pipeline import detect_trigger, store_environment
    from assay.store import open_store

    run_id, stage_run_id = str(uuid.uuid4()), str(uuid.uuid4())
    cache = LocalCache(cache_dir)
    with cache.writing():  # until the run row names the environment object (gc waits)
        env_hash = store_environment(cache)
        store = open_store(store_url)
        commit, dirty = git()  # asked before the project was read: answered by now, mostly
        now = time.time()
        try:
            with store.write() as conn:
                conn.execute(sql.INSERT_RUN, {
                    "id": run_id, "name": name, "kind": "adhoc",
                    "trigger": detect_trigger(None), "status": "running",
                    "git_commit": commit, "git_dirty": dirty, "actor": current_user(),
                    "env_hash": env_hash, "started_at": now})
                conn.execute(sql.INSERT_STAGE_RUN, {
                    "id": stage_run_id, "run_id": run_id, "stage": name or "main",
                    "status": "running", "started_at": now})
        except BaseException:
            store.close()
            raise
    return run_id, stage_run_id, store


def _project_places(root: Path | None) -> tuple[Path, str, Path]:
    """(root, store URL, cache folder) of the project at ``root`` (found from the working
    directory or ``ASSAY_PROJECT``; None: none was found): from the settings cache when it
    holds those of assay.yaml as it is now (no pydantic: a second ``start_run`` in a project
    costs tens of ms), else from the loaded, validated project (which refreshes the cache).

    Raises:
        TrackingError: not inside an assay project, or its assay.yaml is invalid.
    """
    from assay.data import DataSettings

    cached = DataSettings.cached(root) if root is not None else None
    if cached is not None:
        return cached.root, cached.store_url, cached.cache_dir
    from assay.config import Project
    from assay.errors import UsageError

    try:
        project = Project.load()
    except UsageError as exc:
        raise TrackingError(
            f"No active run and no assay project here ({exc}); run inside `assay run`, or "
            "from a project folder (assay init)"
        ) from None
    return project.root, project.store_url, project.cache_dir


def active_run() -> ActiveRun | None:
    """The run tracking calls attach to right now (None: none yet)."""
    return _STATE.current(create=False)


def active_stage_run() -> ActiveStageRun | None:
    """``(run_id, stage_run_id, store_url)`` of the active stage run, or None.

    The tuple also has ``root`` and ``stage`` attributes (for ``log_model``).
    """
    run = _STATE.current(create=False)
    if run is None:
        return None
    return ActiveStageRun(run.run_id, run.stage_run_id, run.store_url, root=run.root,
                          stage=run.stage)


def _run() -> ActiveRun:
    run = _STATE.current(create=True)
    assert run is not None
    return run


def _key(what: str, key: Any) -> str:
    """``key`` as stored, or a TrackingError now rather than a failed batch later."""
    name = key if type(key) is str else str(key)
    problem = key_problem(name)
    if problem is None:
        return name
    shown = repr(name[:60]) + ("..." if len(name) > 60 else "")
    raise TrackingError(f"{what} name {shown} {problem}", key=name[:MAX_KEY])


def _plain(value: Any) -> Any:
    """JSON for what ``json`` cannot encode itself: numpy scalars as numbers, else ``str``."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError("bytes: decode them first, e.g. value.decode()")
    if getattr(value, "ndim", None) == 0 and callable(getattr(value, "item", None)):
        return value.item()  # numpy scalars (np.int64, np.float32 NaN, ...) and 0-d arrays
    return str(value)


def _param_text(key: str, value: Any) -> str:
    try:
        return json.dumps(value, default=_plain)
    except (TypeError, ValueError, RecursionError) as exc:
        raise TrackingError(f"Param '{key}' cannot be stored: {exc}", key=key) from None


def _tag_text(key: Any, value: Any) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise TrackingError(f"Tag '{key}' is bytes; decode it first, e.g. value.decode()",
                            key=str(key))
    text = value if type(value) is str else str(value)
    if "\x00" in text:
        raise TrackingError(f"Tag '{key}' contains a NUL character", key=str(key))
    try:
        text.encode()
    except UnicodeEncodeError:
        raise TrackingError(f"Tag '{key}' is not encodable text (a lone surrogate)",
                            key=str(key)) from None
    return text


def log_param(key: str, value: Any) -> None:
    """Record a parameter (JSON-encoded) on the active run; a second call overwrites it.

    Raises:
        TrackingError: the key is not 1-255 printable characters, the value cannot be JSON
            (bytes, a circular structure), or an earlier write to the store failed.
    """
    name = _key("Param", key)
    _run().writer.param(name, _param_text(name, value))


def log_params(params: dict[str, Any]) -> None:
    """Record several parameters (all checked before any is queued)."""
    checked = {name: _param_text(name, value)
               for name, value in ((_key("Param", k), v) for k, v in params.items())}
    writer = _run().writer
    for name, text in checked.items():
        writer.param(name, text)


def log_metric(key: str, value: float, step: int = 0) -> None:
    """Record a metric value at ``step`` (history over steps is kept).

    NaN and ±Inf are stored and shown as such; ints must be exact as a float64 (up to 2**53).

    Raises:
        TrackingError: the value is not a number (a string, bytes or a bool), an int a float64
            would round, the step is not a whole number, the key is not 1-255 printable
            characters, or an earlier write to the store failed.
    """
    point = _point(key, value, step)
    _run().writer.metric(point)


def _point(key: Any, value: Any, step: Any) -> Point:
    name = _key("Metric", key)
    try:
        number = to_metric(value)
    except ValueError as exc:
        raise TrackingError(f"Metric '{name}' {exc}", key=name) from None
    try:
        whole = to_step(step)
    except ValueError as exc:
        raise TrackingError(f"Step of metric '{name}' {exc}", key=name) from None
    stored, kind = metric_columns(number)
    return (name, stored, kind, whole, time.time())


def log_metrics(metrics: dict[str, float], step: int = 0) -> None:
    """Record several metrics at one step (all checked before any is queued)."""
    points = [_point(key, value, step) for key, value in metrics.items()]
    _run().writer.metrics(points)


def set_tag(key: str, value: Any) -> None:
    """Attach a tag (text) to the active run.

    Raises:
        TrackingError: the key is not 1-255 printable characters, the value is bytes or holds
            NUL, or an earlier write to the store failed.
    """
    name = _key("Tag", key)
    _run().writer.tag(name, _tag_text(name, value))


def record_artifact(path: str, oid: str, size: int, kind: str = "artifact") -> None:
    """Record an object already in the cache as an artifact of the active run."""
    _run().writer.artifact(path, oid, int(size), kind)


def log_artifact(path: str | os.PathLike[str]) -> str:
    """Store a file or directory in the content-addressed cache and record it; returns its id.

    Raises:
        TrackingError: ``path`` does not exist, or the store refused the artifact's row (or an
            earlier write).
    """
    from assay.config import Project
    from assay.objects import LocalCache

    run = _run()
    local = Path(path)
    if not local.is_absolute():
        local = Path.cwd() / local
    if not local.exists():
        raise TrackingError(f"Cannot log artifact {os.fspath(path)!r}: no such file", path=str(path))
    project = Project.load(run.root)
    cache = LocalCache(project.cache_dir)
    with cache.writing():  # until the artifact row is written: gc never sees it unreferenced
        stored = cache.add_dir(local) if local.is_dir() else cache.add_file(local)
        try:
            shown = local.resolve().relative_to(project.root).as_posix()
        except ValueError:
            shown = local.name
        run.writer.artifact(shown, stored.oid, stored.size, "artifact")
        run.writer.flush()
    return stored.oid


def flush() -> None:
    """Write everything queued so far (normally done in the background and at exit)."""
    run = _STATE.current(create=False)
    if run is not None:
        run.writer.flush()
