"""The in-script tracking API: calls queue rows in memory; a background thread writes them to the
store in batches; everything still queued is written at exit, also when the script crashes.

Inside ``assay run`` the runner's environment (``ASSAY_STAGE_RUN_ID``, ``ASSAY_STORE_URL``, ...)
attaches every call to that stage's run. Elsewhere ``start_run`` (or the first call) creates an
ad-hoc run in the project found from the working directory.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from assay.errors import TrackingError

if TYPE_CHECKING:
    from assay.store import Store

FLUSH_INTERVAL = 1.0


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


class _Writer:
    """Queues rows for one stage run and writes them in batches from a daemon thread."""

    def __init__(self, store_url: str, stage_run_id: str) -> None:
        self.store_url = store_url
        self.stage_run_id = stage_run_id
        self._lock = threading.Lock()
        self._metrics: list[tuple[str, float, int, float]] = []
        self._params: dict[str, str] = {}
        self._tags: dict[str, str] = {}
        self._artifacts: list[tuple[str, str, int, str]] = []
        self._store: Store | None = None
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._flush_lock = threading.Lock()

    def _ensure_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="assay-tracking", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop:
            self._wake.wait(FLUSH_INTERVAL)
            self._wake.clear()
            if self._stop:
                return
            self.flush()

    def metric(self, key: str, value: float, step: int, ts: float) -> None:
        with self._lock:
            self._metrics.append((key, value, step, ts))
        if self._thread is None:
            self._ensure_thread()

    def param(self, key: str, value: str) -> None:
        with self._lock:
            self._params[key] = value
        self._ensure_thread()

    def tag(self, key: str, value: str) -> None:
        with self._lock:
            self._tags[key] = value
        self._ensure_thread()

    def artifact(self, path: str, oid: str, size: int, kind: str) -> None:
        with self._lock:
            self._artifacts.append((path, oid, size, kind))
        self._ensure_thread()

    @property
    def store(self) -> Store:
        if self._store is None:
            from assay.store import open_store

            self._store = open_store(self.store_url)
        return self._store

    def flush(self) -> None:
        """Write everything queued so far in one transaction."""
        with self._flush_lock:
            with self._lock:
                metrics, self._metrics = self._metrics, []
                params, self._params = self._params, {}
                tags, self._tags = self._tags, {}
                artifacts, self._artifacts = self._artifacts, []
            if not (metrics or params or tags or artifacts):
                return
            from assay.store.tables import artifacts as artifacts_table
            from assay.store.tables import metrics as metrics_table
            from assay.store.tables import params as params_table
            from assay.store.tables import tags as tags_table

            sid = self.stage_run_id
            with self.store.write() as conn:
                if metrics:
                    # Straight to the driver's executemany: building SQLAlchemy parameter
                    # dicts for 10,000 points costs as much as inserting them.
                    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
                    conn.exec_driver_sql(
                        f"INSERT INTO {metrics_table.name} (stage_run_id, key, value, step, ts) "
                        f"VALUES ({', '.join([mark] * 5)})",
                        [(sid, k, v, s, t) for k, v, s, t in metrics],
                    )
                for table, values in ((params_table, params), (tags_table, tags)):
                    if values:
                        conn.execute(table.delete().where(
                            table.c.stage_run_id == sid, table.c.key.in_(list(values))))
                        conn.execute(table.insert(), [
                            {"stage_run_id": sid, "key": k, "value": v} for k, v in values.items()
                        ])
                if artifacts:
                    conn.execute(artifacts_table.insert(), [
                        {"stage_run_id": sid, "path": p, "hash": h, "size": n, "kind": kind}
                        for p, h, n, kind in artifacts
                    ])

    def close(self) -> None:
        self._stop = True
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self.flush()
        if self._store is not None:
            self._store.close()
            self._store = None


class ActiveRun:
    """A run the tracking calls attach to; a context manager that ends an ad-hoc run."""

    def __init__(self, *, run_id: str, stage_run_id: str, store_url: str, root: Path,
                 stage: str | None, owned: bool) -> None:
        self.run_id = run_id
        self.stage_run_id = stage_run_id
        self.store_url = store_url
        self.root = root
        self.stage = stage
        self.owned = owned  # an ad-hoc run we created (and must close)
        self.writer = _Writer(store_url, stage_run_id)
        self.ended = False

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.end("failed" if exc_type is not None else "succeeded")

    def end(self, status: str = "succeeded") -> None:
        """Flush and, for an ad-hoc run, record how it ended."""
        if self.ended:
            return
        self.ended = True
        self.writer.close()
        if self.owned:
            from assay.store import open_store
            from assay.store.tables import runs, stage_runs

            now = time.time()
            code = 0 if status == "succeeded" else 1
            store = open_store(self.store_url)
            try:
                with store.write() as conn:
                    conn.execute(stage_runs.update().where(stage_runs.c.id == self.stage_run_id)
                                 .values(status=status, ended_at=now, exit_code=code))
                    conn.execute(runs.update().where(runs.c.id == self.run_id)
                                 .values(status=status, ended_at=now, exit_code=code))
            finally:
                store.close()
        _STATE.forget(self)


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
    for run in runs:
        run.end("failed" if _STATE.failed else "succeeded")
    if pipeline is not None:
        pipeline.end()


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
                attached.writer.tag("run_name", name)
            for key, value in (tags or {}).items():
                attached.writer.tag(key, str(value))
            return attached
        from assay.config import Project
        from assay.errors import UsageError
        from assay.objects import LocalCache
        from assay.pipeline import detect_trigger, git_state, store_environment
        from assay.store import open_store
        from assay.store.tables import runs, stage_runs

        try:
            project = Project.load()
        except UsageError as exc:
            raise TrackingError(
                f"No active run and no assay project here ({exc}); run inside `assay run`, or "
                "from a project folder (assay init)"
            ) from None
        import uuid

        from assay._identity import current_user

        run_id, stage_run_id = str(uuid.uuid4()), str(uuid.uuid4())
        stage = name or "main"
        commit, dirty = git_state(project.root)
        cache = LocalCache(project.cache_dir)
        with cache.writing():  # until the run row names the environment object (gc waits)
            env_hash = store_environment(cache)
            now = time.time()
            store = open_store(project.store_url)
            try:
                with store.write() as conn:
                    conn.execute(runs.insert().values(
                        id=run_id, name=name, kind="adhoc", trigger=detect_trigger(None),
                        status="running", git_commit=commit, git_dirty=dirty,
                        actor=current_user(), env_hash=env_hash, started_at=now, details={}))
                    conn.execute(stage_runs.insert().values(
                        id=stage_run_id, run_id=run_id, stage=stage, status="running",
                        started_at=now, details={}))
            finally:
                store.close()
        run = ActiveRun(run_id=run_id, stage_run_id=stage_run_id, store_url=project.store_url,
                        root=project.root, stage=stage, owned=True)
        for key, value in (tags or {}).items():
            run.writer.tag(key, str(value))
        _STATE.stack.append(run)
        return run


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


def _encode(value: Any) -> str:
    return json.dumps(value, default=str)


def log_param(key: str, value: Any) -> None:
    """Record a parameter (JSON-encoded) on the active run; a second call overwrites it."""
    _run().writer.param(str(key), _encode(value))


def log_params(params: dict[str, Any]) -> None:
    """Record several parameters."""
    writer = _run().writer
    for key, value in params.items():
        writer.param(str(key), _encode(value))


def log_metric(key: str, value: float, step: int = 0) -> None:
    """Record a metric value at ``step`` (history over steps is kept).

    Raises:
        TrackingError: the value is not a number.
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TrackingError(f"Metric '{key}' must be a number, got {value!r}", key=key) from None
    if math.isinf(number):
        raise TrackingError(f"Metric '{key}' is infinite", key=key)
    _run().writer.metric(str(key), number, int(step), time.time())


def log_metrics(metrics: dict[str, float], step: int = 0) -> None:
    """Record several metrics at one step."""
    for key, value in metrics.items():
        log_metric(key, value, step)


def set_tag(key: str, value: Any) -> None:
    """Attach a tag to the active run."""
    _run().writer.tag(str(key), str(value))


def record_artifact(path: str, oid: str, size: int, kind: str = "artifact") -> None:
    """Record an object already in the cache as an artifact of the active run."""
    _run().writer.artifact(path, oid, int(size), kind)


def log_artifact(path: str | os.PathLike[str]) -> str:
    """Store a file or directory in the content-addressed cache and record it; returns its id.

    Raises:
        TrackingError: ``path`` does not exist.
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
