"""Run records in the metadata store: runs, stage runs, params, metrics files, artifacts."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay._atomic import write_bytes_atomic
from assay._identity import current_user
from assay.pipeline._aliases import is_pseudo_param
from assay.store import statements as sql
from assay.store._metric_values import key_problem, metric_columns, to_metric

if TYPE_CHECKING:
    from collections.abc import Callable

    from assay.objects import LocalCache
    from assay.store import Connection, Store

CI_VARS = ("CI", "GITHUB_ACTIONS", "GITLAB_CI", "SEMAPHORE", "JENKINS_URL", "BUILDKITE")
TRIGGERS = ("manual", "ci", "schedule", "data", "drift")


def detect_trigger(explicit: str | None) -> str:
    """``--trigger`` if given, ``ci`` under a CI system, else ``manual``."""
    if explicit:
        return explicit
    if any(os.environ.get(var) for var in CI_VARS):
        return "ci"
    return "manual"


def git_state(root: Path) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the repository holding ``root``; (None, None) outside git."""
    return start_git_state(root)()


def start_git_state(root: Path) -> Callable[[], tuple[str | None, bool | None]]:
    """Start asking git for :func:`git_state`; call what this returns for the answer.

    Both git queries start at once (each is mostly process start-up), and the caller does its
    other work while they run: a run's start waits for the slower query, not their sum.
    """
    def start(*args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(["git", *args], cwd=root, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)

    try:
        head = start("rev-parse", "HEAD")
    except OSError:
        return lambda: (None, None)
    try:
        dirty = start("status", "--porcelain", "--untracked-files=no")
    except OSError:
        head.kill()
        head.communicate()
        return lambda: (None, None)

    found: list[tuple[str | None, bool | None]] = []

    def answer() -> tuple[str | None, bool | None]:
        """The answer, waiting for git the first time (later calls repeat it)."""
        if found:
            return found[0]
        try:
            commit = head.communicate(timeout=10)[0]
            changes = dirty.communicate(timeout=10)[0]
        except subprocess.TimeoutExpired:
            for proc in (head, dirty):
                proc.kill()
                proc.communicate()
            commit, changes = None, None
        found.append((None, None) if commit is None or head.returncode != 0
                     else (commit.strip(), bool((changes or "").strip())))
        return found[0]

    return answer


def environment_fingerprint() -> dict[str, Any]:
    """Python version, platform and installed packages (name -> version)."""
    from importlib.metadata import distributions

    packages = {}
    for dist in distributions():
        name = dist.metadata["Name"]
        if name:
            packages[str(name).lower()] = dist.version
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "packages": dict(sorted(packages.items())),
    }


def _environment_key() -> str:
    """What the fingerprint depends on, cheaply: the interpreter, the platform and the names of
    the distributions' metadata folders on ``sys.path`` (``numpy-2.1.0.dist-info`` carries the
    version, so installing, upgrading or removing a package changes the key)."""
    import blake3

    names: list[str] = []
    for entry in sys.path:
        try:
            with os.scandir(entry or ".") as items:
                names.extend(f"{entry}/{i.name}" for i in items
                             if i.name.endswith((".dist-info", ".egg-info", ".egg-link")))
        except OSError:
            continue
    body = json.dumps([sys.version, sys.executable, platform.platform(), sorted(names)])
    return blake3.blake3(body.encode()).hexdigest()


def environment_memo_dir() -> Path:
    """Where fingerprints are remembered per machine (under :func:`user_cache_dir`)."""
    from assay._layout import user_cache_dir

    return user_cache_dir() / "environments"


def store_environment(cache: LocalCache) -> str:
    """Save the fingerprint as an object; returns its hash (``runs.env_hash``).

    Listing every installed package's metadata is slow (a few hundred ms), so the fingerprint
    is remembered per machine in :func:`environment_memo_dir`, keyed by what it depends on
    (:func:`_environment_key`); a new project then only copies it into its cache.
    """
    memo = environment_memo_dir() / f"{_environment_key()}.json"
    body: bytes | None = None
    with contextlib.suppress(OSError):
        body = memo.read_bytes()
    if body is not None:
        try:
            json.loads(body)
        except ValueError:
            body = None  # torn or edited: compute it again
    if body is None:
        body = json.dumps(environment_fingerprint(), sort_keys=True, indent=1).encode()
        with contextlib.suppress(OSError):
            # only saves work: a lost memo means one more slow fingerprint
            memo.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(memo, body, durable=False)
    return cache.add_bytes(body)  # durable: runs.env_hash refers to it


def new_id() -> str:
    return str(uuid.uuid4())


def start_run(
    store: Store,
    *,
    run_id: str,
    kind: str,
    trigger: str,
    profile: str | None,
    root: Path | None,
    env_hash: str | None,
    name: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Record a new ``running`` run (and its ``run.<kind>.started`` event)."""
    commit, dirty = git_state(root) if root is not None else (None, None)
    row = {"id": run_id, "name": name, "kind": kind, "trigger": trigger, "status": "running",
           "profile": profile, "git_commit": commit, "git_dirty": dirty,
           "actor": current_user(), "env_hash": env_hash, "started_at": time.time(),
           "exit_code": None, "ended_at": None, "details": details or {}}
    with store.write() as conn:
        conn.execute(sql.INSERT_RUN, row)
        store.record_event(f"run.{kind}.started", run_id, {"trigger": trigger}, conn=conn)


UNRECORDED_REASON = "the run ended before this stage run's end could be recorded"


def finish_run(store: Store, run_id: str, *, status: str, exit_code: int,
               details: dict[str, Any] | None = None) -> None:
    """Record how run ``run_id`` ended; in the same transaction, any of its stage runs still
    ``running`` (their end could not be recorded) end as ``interrupted`` (an interrupted run)
    or ``failed``: no stage run outlives its run."""
    now = time.time()
    values: dict[str, Any] = {"id": run_id, "status": status, "ended_at": now,
                              "exit_code": exit_code, "details": details}
    with store.write() as conn:
        conn.execute(sql.FINISH_RUN if details is None else sql.FINISH_RUN_WITH_DETAILS, values)
        conn.execute(sql.END_RUNNING_STAGE_RUNS, {
            "run_id": run_id, "status": "interrupted" if status == "interrupted" else "failed",
            "ended_at": now, "details": {"reason": UNRECORDED_REASON}})
        store.record_event(f"run.{status}", run_id, {"exit_code": exit_code}, conn=conn)


def user_params(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` without the pipeline's pseudo-params (``@alias:...``: in the key, not a param)."""
    return {k: v for k, v in params.items() if not is_pseudo_param(k)}


@dataclass
class StageRunBatch:
    """Stage-run rows waiting to be written together, in one transaction.

    A row that a running child refers to (its tracking calls add metrics to it) must be
    committed before the child starts; finished-stage rows may wait for the next group commit.
    """

    inserts: list[dict[str, Any]] = field(default_factory=list)
    params: list[dict[str, Any]] = field(default_factory=list)
    finishes: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    artifacts: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.inserts or self.finishes)

    def start(self, *, stage_run_id: str, run_id: str, stage: str, group: str | None,
              status: str, cache_key: str | None, attempt: int = 1,
              log_path: str | None = None, params: dict[str, Any] | None = None,
              details: dict[str, Any] | None = None, ended: bool = False) -> None:
        """Queue a new stage run (``ended`` for one that is complete at once: a cache hit)."""
        now = time.time()
        self.inserts.append({
            "id": stage_run_id, "run_id": run_id, "stage": stage, "group": group,
            "status": status, "cache_key": cache_key, "cached": status == "cached",
            "attempt": attempt, "started_at": now, "ended_at": now if ended else None,
            "exit_code": 0 if ended else None, "log_path": log_path, "details": details or {},
        })
        self.params.extend(
            {"stage_run_id": stage_run_id, "key": k, "value": json.dumps(v, default=str)}
            for k, v in user_params(params or {}).items()
        )

    def finish(self, stage_run_id: str, *, status: str, exit_code: int | None,
               metrics: dict[str, float] | None = None,
               artifacts: list[tuple[str, str, int, str]] | None = None,
               details: dict[str, Any] | None = None) -> None:
        """Queue closing a stage run, with metrics-file values and out artifacts."""
        self.finishes.append({"id": stage_run_id, "status": status, "ended_at": time.time(),
                              "exit_code": exit_code, "details": details})
        if metrics:
            self.metrics[stage_run_id] = dict(metrics)
        self.artifacts.extend(
            {"stage_run_id": stage_run_id, "path": p, "hash": h, "size": s, "kind": k}
            for p, h, s, k in artifacts or []
        )

    def write(self, conn: Connection) -> None:
        """Execute everything queued inside ``conn``'s transaction (then :meth:`clear`)."""
        conn.executemany(sql.INSERT_STAGE_RUN, self.inserts)
        conn.executemany(sql.INSERT_PARAM, self.params)
        conn.executemany(sql.FINISH_STAGE_RUN,
                         [r for r in self.finishes if r["details"] is None])
        conn.executemany(sql.FINISH_STAGE_RUN_WITH_DETAILS,
                         [r for r in self.finishes if r["details"] is not None])
        if self.metrics:
            ids = list(self.metrics)
            logged = {(str(sid), str(key))
                      for start in range(0, len(ids), sql.MAX_IN)
                      for sid, key in conn.execute(*sql.metric_keys_of(
                          ids[start : start + sql.MAX_IN]))}
            conn.executemany(sql.INSERT_METRIC, self._metric_rows(logged))
        conn.executemany(sql.INSERT_ARTIFACT, self.artifacts)

    def _metric_rows(self, logged: set[tuple[str, str]]) -> list[dict[str, Any]]:
        """Metrics-file values not logged already through the tracking API (which wins)."""
        now = time.time()
        return [{"stage_run_id": sid, "key": k, "value": value, "value_kind": kind, "step": 0,
                 "ts": now}
                for sid, values in self.metrics.items() for k, v in values.items()
                if (sid, k) not in logged for value, kind in (metric_columns(v),)]

    def clear(self) -> None:
        """Forget what was queued (once its transaction committed)."""
        self.inserts, self.params, self.finishes = [], [], []
        self.metrics, self.artifacts = {}, []

    def commit(self, store: Store) -> None:
        """Write everything queued in one transaction (nothing if the batch is empty)."""
        if self:
            with store.write() as conn:
                self.write(conn)
            self.clear()


def last_failures(store_url: str, names: list[str]) -> dict[str, str]:
    """Stage instance -> why its last stage run failed (``failed in run 1a2b3c4d: ...``), for
    the ``names`` whose last run failed. A SQLite store that does not exist yet has none; a
    store that cannot be read says nothing (status is best effort here)."""
    from assay.errors import AssayError
    from assay.store import SqliteStore, open_store, sqlite_path

    found: dict[str, str] = {}
    try:
        store = (SqliteStore.open(store_url, read_only=True) if sqlite_path(store_url)
                 else open_store(store_url))
        if store is None:
            return found
        with store, store.read() as conn:
            for name in names:
                row = conn.execute(sql.LAST_STAGE_RUN, {"stage": name}).fetchone()
                if row is None or row[0] != "failed":
                    continue
                reason = str((row[3] or {}).get("reason") or f"exited with code {row[1]}")
                found[name] = f"failed in run {str(row[2])[:8]}: {reason}"
    except (AssayError, OSError):
        return found
    return found


def start_stage_run(store: Store, **row: Any) -> None:
    """Record a new stage run at once (see :meth:`StageRunBatch.start` for the fields)."""
    batch = StageRunBatch()
    batch.start(**row)
    batch.commit(store)


def finish_stage_run(store: Store, stage_run_id: str, **values: Any) -> None:
    """Close a stage run at once (see :meth:`StageRunBatch.finish` for the fields)."""
    batch = StageRunBatch()
    batch.finish(stage_run_id, **values)
    batch.commit(store)


class MetricsFileError(ValueError):
    """A declared metrics file that is not a JSON/YAML mapping."""


def load_metrics_file(path: Path, *, name: str | None = None) -> dict[str, float]:
    """Numeric leaves of a JSON/YAML metrics file, flattened with dots (NaN and ±Inf too).

    Raises:
        MetricsFileError: the file cannot be read, is not valid JSON or YAML, does not hold
            a mapping, or holds an integer a float64 cannot hold exactly (the message says
            which, for the stage's failure reason).
    """
    from assay.pipeline._params import flatten

    shown = name or path.name
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise MetricsFileError(f"metrics file '{shown}' cannot be read: {exc}") from None
    data: Any
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as json_error:
        from assay.config import parse_yaml
        from assay.errors import ConfigError

        try:
            data, _ = parse_yaml(text, shown)
        except ConfigError as yaml_error:
            why = json_error if shown.endswith(".json") else yaml_error
            raise MetricsFileError(
                f"metrics file '{shown}' is not valid JSON or YAML ({why})"
            ) from None
    if not isinstance(data, dict):
        got = "empty" if data is None else f"a {type(data).__name__}"
        raise MetricsFileError(
            f"metrics file '{shown}' must hold a mapping of metrics (it is {got})"
        )
    metrics: dict[str, float] = {}
    for key, value in flatten(data).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            problem = key_problem(key)
            if problem is not None:
                raise MetricsFileError(f"metrics file '{shown}': metric name {key[:60]!r} {problem}")
            try:
                metrics[key] = to_metric(value)  # NaN and ±Inf (JSON NaN, YAML .nan) are kept
            except ValueError as exc:
                raise MetricsFileError(f"metrics file '{shown}': metric '{key}' {exc}") from None
    return metrics


def read_metrics_file(path: Path) -> dict[str, float]:
    """Like :func:`load_metrics_file`, but ``{}`` for a missing or malformed file."""
    try:
        return load_metrics_file(path)
    except MetricsFileError:
        return {}
