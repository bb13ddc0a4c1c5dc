"""Running the pipeline: decide per stage (up to date, restore from cache, or run), schedule jobs
on an executor, cache outs, update ``assay.lock`` after each success, record everything.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay._atomic import write_text_atomic
from assay.errors import ConcurrencyError
from assay.pipeline._aliases import ALIAS_PARAM_PREFIX
from assay.pipeline._dag import Dag, Stage, build_dag
from assay.pipeline._executor import Executor, Job, JobResult, LocalExecutor
from assay.pipeline._fastpath import FRESH_FILE, fresh_inputs, stat_signature
from assay.pipeline._hashes import StatCache
from assay.pipeline._lock import LockEntry, read_lock, write_lock
from assay.pipeline._records import (
    detect_trigger,
    finish_run,
    finish_stage_run,
    new_id,
    read_metrics_file,
    start_run,
    start_stage_run,
    store_environment,
)
from assay.pipeline._status import StageState, pipeline_status, stage_state
from assay.pipeline._view import QuietReporter, Reporter

if TYPE_CHECKING:
    from assay.config import Project
    from assay.objects import LocalCache
    from assay.store import Store

EXIT_INTERRUPTED = 130
LOCK_FLUSH_SECONDS = 0.5
FINAL_OK = ("succeeded", "up-to-date", "restored")


@dataclass
class StageOutcome:
    """How one stage instance ended in a run."""

    stage: str
    status: str  # succeeded | failed | up-to-date | restored | skipped | interrupted | cancelled
    seconds: float = 0.0
    reason: str = ""
    stage_run_id: str | None = None
    exit_code: int | None = None
    attempts: int = 0
    key: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"stage": self.stage, "status": self.status, "seconds": round(self.seconds, 3),
                "reason": self.reason, "stage_run_id": self.stage_run_id,
                "exit_code": self.exit_code, "attempts": self.attempts, "key": self.key}


@dataclass
class RunResult:
    """What ``run_pipeline`` did."""

    run_id: str | None
    status: str  # succeeded | failed | interrupted | up-to-date | dry-run
    exit_code: int
    outcomes: list[StageOutcome] = field(default_factory=list)
    plan: list[StageState] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "status": self.status, "exit_code": self.exit_code,
                "stages": [o.to_json() for o in self.outcomes],
                "plan": [s.to_json() for s in self.plan]}


def pipeline_dir(project: Project) -> Path:
    return project.state_dir / "pipeline"


def stat_cache(project: Project) -> StatCache:
    return StatCache(project.root, project.state_dir / "state.db")


@contextlib.contextmanager
def run_lock(project: Project, *, wait: bool, reporter: Reporter) -> Iterator[None]:
    """One ``assay run`` at a time per project: wait for the holder, or refuse with ``wait=False``."""
    from filelock import FileLock, Timeout

    project.state_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(project.state_dir / "run.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if not wait:
            raise ConcurrencyError(
                "Another assay run is in progress in this project (.assay/run.lock); "
                "wait for it, or run again without --no-wait to queue behind it",
                lock=str(project.state_dir / "run.lock"),
            ) from None
        reporter.message("Waiting for another assay run in this project to finish...")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_cache_path(project: Project, key: str) -> Path:
    return pipeline_dir(project) / "keys" / f"{key}.json"


def _has_object(cache: LocalCache, oid: str) -> bool:
    if not cache.exists(oid):
        return False
    if oid.endswith(".dir"):
        return all(cache.exists(e.oid) for e in cache.manifest(oid))
    return True


def _pull(project: Project, cache: LocalCache, oids: list[str]) -> bool:
    """Fetch ``oids`` from the default remote when one is configured (False if impossible)."""
    if not project.config.default_remote:
        return False
    from assay.errors import ObjectError
    from assay.objects import remote_for

    try:
        remote_for(project, None).pull(cache, oids)
    except (ObjectError, OSError):
        return False
    return all(_has_object(cache, oid) for oid in oids)


class _Runner:
    def __init__(self, project: Project, dag: Dag, names: list[str], *, force: bool,
                 keep_going: bool, reporter: Reporter, executor: Executor, store: Store,
                 run_id: str, update_lock: bool = True) -> None:
        from assay.objects import LocalCache

        self.project = project
        self.dag = dag
        self.names = names
        self.force = force
        self.keep_going = keep_going
        self.reporter = reporter
        self.executor = executor
        self.store = store
        self.run_id = run_id
        self.update_lock = update_lock
        self.cache = LocalCache(project.cache_dir)
        self.hashes = stat_cache(project)
        self.lock = read_lock(project.root)
        self.outcomes: dict[str, StageOutcome] = {}
        self.running: dict[str, tuple[str, StageState, int, float]] = {}
        self.started: dict[str, float] = {}
        self._lock_dirty = False
        self._lock_written = 0.0
        self._params_path: Path | None = None

    # -- deciding -----------------------------------------------------------------------

    def _restorable(self, stage: Stage, key: str) -> dict[str, str] | None:
        candidates: list[dict[str, str]] = []
        entry = self.lock.get(stage.name)
        if entry is not None and entry.key == key:
            candidates.append(entry.outs)
        path = _run_cache_path(self.project, key)
        with contextlib.suppress(OSError, ValueError):
            candidates.append(dict(json.loads(path.read_text())["outs"]))
        for outs in candidates:
            if set(outs) != set(stage.all_outs):
                continue
            missing = [oid for oid in outs.values() if not _has_object(self.cache, oid)]
            if not missing or _pull(self.project, self.cache, missing):
                return outs
        return None

    def _restore(self, stage: Stage, outs: dict[str, str]) -> None:
        link_types: list[str] = list(self.project.config.cache.type)
        for out, oid in outs.items():
            self.cache.checkout(oid, self.project.root / out, link_types)

    def _start(self, name: str) -> None:
        stage = self.dag.stages[name]
        state = stage_state(stage, self.lock.get(name), self.hashes)
        t0 = time.monotonic()
        if not self.force and not state.stale:
            self._record_cached(stage, state, "up-to-date", "up to date", t0)
            return
        if not self.force:
            outs = self._restorable(stage, state.key)
            if outs is not None:
                self._restore(stage, outs)
                self._write_entry(stage, state, outs)
                self._record_cached(stage, state, "restored", "restored from cache", t0)
                return
        self._submit(stage, state, attempt=1)

    def _record_cached(self, stage: Stage, state: StageState, status: str, reason: str,
                       t0: float) -> None:
        stage_run_id = new_id()
        start_stage_run(self.store, stage_run_id=stage_run_id, run_id=self.run_id,
                        stage=stage.name, group=stage.group, status="cached",
                        cache_key=state.key, params=stage.params, ended=True,
                        details={"reason": reason})
        seconds = time.monotonic() - t0
        self.outcomes[stage.name] = StageOutcome(stage.name, status, seconds, reason,
                                                 stage_run_id, 0, 0, state.key)
        self.reporter.stage_finished(stage.name, status, seconds)

    # -- running ------------------------------------------------------------------------

    def _env(self, stage: Stage, stage_run_id: str) -> dict[str, str]:
        env = dict(os.environ)
        if self.dag.profile is not None:
            env.update(self.project.config.profiles[self.dag.profile].env)
        env.update(stage.env)
        env.update({
            "ASSAY_PROJECT": str(self.project.root),
            "ASSAY_STORE_URL": self.project.store_url,
            "ASSAY_RUN_ID": self.run_id,
            "ASSAY_STAGE_RUN_ID": stage_run_id,
            "ASSAY_STAGE": stage.name,
            "ASSAY_PROFILE": self.dag.profile or "",
            "ASSAY_PARAMS_FILE": str(self._params_file()),
        })
        return env

    def _params_file(self) -> Path:
        """params.yaml with the profile's overrides applied, as JSON (which YAML also reads)."""
        if self._params_path is None:
            from assay.pipeline._params import ParamsFiles

            data = ParamsFiles(self.project.root, self.dag.params_overrides).data()
            path = pipeline_dir(self.project) / f"params-{self.dag.profile or 'default'}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(path, json.dumps(data, indent=1, sort_keys=True, default=str),
                              durable=False)
            self._params_path = path
        return self._params_path

    def _kind_context(self, stage: Stage, stage_run_id: str) -> Path:
        upstream: dict[str, list[str]] = {}
        config = self.project.config.stages.get(stage.config_name)
        for need in config.needs if config is not None else []:
            insts = self.dag.groups.get(need, [need])
            upstream[need] = [o for i in insts if i in self.dag.stages
                              for o in self.dag.stages[i].all_outs]
        for need in stage.needs:
            if need in self.dag.stages:
                upstream.setdefault(need, self.dag.stages[need].all_outs)
        from assay.pipeline._params import ParamsFiles

        body = {
            "kind": stage.kind,
            "options": stage.options,
            "root": str(self.project.root),
            "stage": stage.name,
            "group": stage.group,
            "matrix": stage.matrix,
            "params": ParamsFiles(self.project.root, self.dag.params_overrides).data(),
            "profile": self.dag.profile,
            "run_id": self.run_id,
            "stage_run_id": stage_run_id,
            "store_url": self.project.store_url,
            "upstream_outs": upstream,
            "report_dir": str(self.project.state_dir / "reports" / self.run_id / stage.slug),
        }
        path = pipeline_dir(self.project) / "contexts" / f"{stage_run_id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(body, default=str), durable=False)
        return path

    def _submit(self, stage: Stage, state: StageState, *, attempt: int) -> None:
        stage_run_id = new_id()
        log_path = self.project.logs_dir / self.run_id / f"{stage.slug}.log"
        for out in stage.all_outs:  # a stale out must never pass for a fresh one
            target = self.project.root / out
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)
        start_stage_run(self.store, stage_run_id=stage_run_id, run_id=self.run_id,
                        stage=stage.name, group=stage.group, status="running",
                        cache_key=state.key, attempt=attempt,
                        log_path=str(log_path.relative_to(self.project.root)),
                        params=stage.params)
        env = self._env(stage, stage_run_id)
        command: str | list[str]
        if stage.kind is not None:
            env["ASSAY_STAGE_CONTEXT"] = str(self._kind_context(stage, stage_run_id))
            command = [sys.executable, "-m", "assay.pipeline.kind_exec"]
        else:
            command = stage.cmd or ""
        self.running[stage.name] = (stage_run_id, state, attempt, time.monotonic())
        self.reporter.stage_started(stage.name, attempt)
        self.executor.submit(Job(stage=stage.name, command=command, env=env,
                                 cwd=self.project.root, log_path=log_path,
                                 timeout=stage.timeout, resources=stage.resources,
                                 attempt=attempt))

    def _finished(self, result: JobResult) -> bool:
        """Handle a finished job; False when the run must stop (fail-fast)."""
        name = result.job.stage
        stage = self.dag.stages[name]
        stage_run_id, state, attempt, t0 = self.running.pop(name)
        seconds = time.monotonic() - t0
        code = result.exit_code
        reason = ""
        if result.timed_out:
            reason = f"timed out after {stage.timeout:g}s"
        elif result.error:
            reason = result.error
        elif code != 0:
            reason = f"exited with code {code}" + (" (command not found)" if code == 127 else "")
        missing = [o for o in stage.all_outs if not (self.project.root / o).exists()]
        if not reason and missing:
            reason = f"declared out '{missing[0]}' was not written (or was deleted)"
        if reason:
            finish_stage_run(self.store, stage_run_id, status="failed", exit_code=code,
                             details={"reason": reason})
            if attempt <= stage.retries:
                self.reporter.stage_finished(name, "failed", seconds, reason + "; retrying")
                self._submit(stage, state, attempt=attempt + 1)
                return True
            self.outcomes[name] = StageOutcome(name, "failed", seconds, reason, stage_run_id,
                                               code, attempt, state.key)
            self.reporter.stage_finished(name, "failed", seconds,
                                         f"{reason}; log: {result.job.log_path}")
            return self.keep_going
        outs: dict[str, str] = {}
        artifacts: list[tuple[str, str, int, str]] = []
        for out in stage.all_outs:
            path = self.project.root / out
            stored = self.cache.add_dir(path) if path.is_dir() else self.cache.add_file(path)
            outs[out] = stored.oid
            artifacts.append((out, stored.oid, stored.size,
                              "metrics" if out in stage.metrics else "out"))
        metrics: dict[str, float] = {}
        for metrics_file in stage.metrics:
            metrics.update(read_metrics_file(self.project.root / metrics_file))
        if self.update_lock:
            self._write_entry(stage, state, outs)
            run_cache = _run_cache_path(self.project, state.key)
            run_cache.parent.mkdir(parents=True, exist_ok=True)
            # an index entry only saves work; losing it in a crash costs a rerun, not data
            write_text_atomic(run_cache, json.dumps({"outs": outs}, sort_keys=True),
                              durable=False)
        finish_stage_run(self.store, stage_run_id, status="succeeded", exit_code=0,
                         metrics=metrics, artifacts=artifacts)
        self.outcomes[name] = StageOutcome(name, "succeeded", seconds, "", stage_run_id, 0,
                                           attempt, state.key)
        self.reporter.stage_finished(name, "succeeded", seconds)
        return True

    def _write_entry(self, stage: Stage, state: StageState, outs: dict[str, str]) -> None:
        from assay.pipeline._cache_key import definition_hash

        definition = stage.definition()
        out_hashes = {o: h for o in stage.all_outs if (h := self.hashes.hash_path(o)) is not None}
        self.lock[stage.name] = LockEntry(
            key=state.key, definition=definition_hash(definition), cmd=stage.cmd,
            deps=state.dep_hashes, params=stage.params, outs=outs, out_hashes=out_hashes,
            definition_body=json.loads(json.dumps(definition, default=str)),
        )
        self._lock_dirty = True
        self.flush_lock(force=False)

    def flush_lock(self, *, force: bool = True) -> None:
        """Write ``assay.lock`` (atomically) if it changed; throttled unless ``force``.

        Every write is a complete, valid lock; throttling only delays recording stages that
        finished in the last half second, and the run always ends with a forced flush.
        """
        now = time.monotonic()
        if self._lock_dirty and (force or now - self._lock_written >= LOCK_FLUSH_SECONDS):
            write_lock(self.project.root, self.lock)
            self._lock_dirty = False
            self._lock_written = now

    # -- the loop -----------------------------------------------------------------------

    def run(self) -> bool:
        """Run every selected stage; False if it stopped early (fail-fast)."""
        pending = list(self.names)
        selected = set(self.names)
        keep_scheduling = True
        while pending or self.running:
            if keep_scheduling:
                for name in list(pending):
                    if len(self.running) >= self.executor.slots:
                        break
                    needs = [n for n in self.dag.stages[name].needs if n in selected]
                    if any(n not in self.outcomes for n in needs):
                        continue
                    pending.remove(name)
                    bad = [n for n in needs if self.outcomes[n].status not in FINAL_OK]
                    if bad:
                        self.outcomes[name] = StageOutcome(
                            name, "skipped", 0.0, f"upstream '{bad[0]}' did not succeed")
                        self.reporter.stage_finished(name, "skipped", 0.0,
                                                     self.outcomes[name].reason)
                        continue
                    self._start(name)
            if not self.running:
                if not keep_scheduling or not pending:
                    break
                continue
            for result in self.executor.wait(0.2):
                if not self._finished(result) and keep_scheduling:
                    keep_scheduling = False
                    for job in self.executor.cancel():
                        self._interrupted(job.stage, "cancelled", "cancelled after a failure")
            if not keep_scheduling and not self.running:
                break
        for name in pending:
            if name not in self.outcomes:
                self.outcomes[name] = StageOutcome(name, "skipped", 0.0, "not started")
        self.hashes.save()
        return keep_scheduling

    def _interrupted(self, name: str, status: str, reason: str) -> None:
        stage_run_id, state, attempt, t0 = self.running.pop(name)
        finish_stage_run(self.store, stage_run_id, status=status, exit_code=None,
                         details={"reason": reason})
        self.outcomes[name] = StageOutcome(name, status, time.monotonic() - t0, reason,
                                           stage_run_id, None, attempt, state.key)
        self.reporter.stage_finished(name, status, time.monotonic() - t0, reason)

    def interrupt(self) -> None:
        for job in self.executor.cancel():
            if job.stage in self.running:
                self._interrupted(job.stage, "interrupted", "interrupted")
        for name in list(self.running):
            self._interrupted(name, "interrupted", "interrupted")


def default_jobs(project: Project) -> int:
    return project.config.executor.jobs or os.cpu_count() or 1


def plan_pipeline(project: Project, *, targets: list[str] | None = None,
                  profile: str | None = None) -> tuple[Dag, list[StageState]]:
    """The DAG and each selected stage's state (for ``assay status`` and ``--dry-run``)."""
    dag = build_dag(project, profile=profile)
    names = dag.select(list(targets or []))
    hashes = stat_cache(project)
    states = pipeline_status(dag, names, read_lock(project.root), hashes)
    hashes.save()
    return dag, states


def run_pipeline(
    project: Project,
    *,
    targets: list[str] | None = None,
    profile: str | None = None,
    force: bool = False,
    jobs: int | None = None,
    dry_run: bool = False,
    keep_going: bool = False,
    trigger: str | None = None,
    wait: bool = True,
    reporter: Reporter | None = None,
    executor: Executor | None = None,
    only: bool = False,
    update_lock: bool = True,
) -> RunResult:
    """Run the pipeline (or ``targets`` and their upstream) and record it.

    Args:
        project: the loaded project.
        targets: stage, matrix group or instance names (default: every stage).
        profile: a profile from ``profiles:`` (its stages and param overrides).
        force: run even stages that are up to date.
        jobs: parallel jobs (default: ``executor.jobs`` or the number of cores).
        dry_run: only say what would run.
        keep_going: run what does not depend on a failure instead of stopping at the first.
        trigger: manual, ci, schedule, data or drift (default: ci under CI, else manual).
        wait: wait for another run in the project to finish (False: refuse).
        reporter: where progress goes (default: nowhere).
        executor: where jobs run (default: a local process pool of ``jobs`` slots).
        only: run exactly ``targets`` without their upstream.
        update_lock: write ``assay.lock`` and the run cache (False for reproducibility checks).

    Returns:
        What happened; ``exit_code`` is 0, 1 (a stage failed) or 130 (interrupted).

    Raises:
        PipelineError: the DAG is invalid (nothing ran).
        ConcurrencyError: another run holds the project lock and ``wait`` is False.
    """
    reporter = reporter or QuietReporter()
    dag = build_dag(project, profile=profile)
    names = list(targets or []) if only else dag.select(list(targets or []))
    if only:
        names = [n for t in names for n in dag.groups.get(t, [t])]
        dag.select(names)  # validates the names
    if dry_run:
        hashes = stat_cache(project)
        states = pipeline_status(dag, names, read_lock(project.root), hashes)
        return RunResult(None, "dry-run", 0, plan=states)
    with run_lock(project, wait=wait, reporter=reporter):
        return _run_locked(project, dag, names, force=force, jobs=jobs, keep_going=keep_going,
                           trigger=trigger, reporter=reporter, executor=executor,
                           whole=not targets, update_lock=update_lock)


def _run_locked(project: Project, dag: Dag, names: list[str], *, force: bool, jobs: int | None,
                keep_going: bool, trigger: str | None, reporter: Reporter,
                executor: Executor | None, whole: bool, update_lock: bool) -> RunResult:
    from assay.objects import LocalCache
    from assay.store import open_store

    store = open_store(project.store_url)
    run_id = new_id()
    env_hash = store_environment(LocalCache(project.cache_dir))
    start_run(store, run_id=run_id, kind="pipeline", trigger=detect_trigger(trigger),
              profile=dag.profile, root=project.root, env_hash=env_hash,
              details={"stages": names, "force": force})
    own_executor = executor is None
    if executor is None:
        executor = LocalExecutor(jobs or default_jobs(project), on_output=reporter.stage_output)
    runner = _Runner(project, dag, names, force=force, keep_going=keep_going, reporter=reporter,
                     executor=executor, store=store, run_id=run_id, update_lock=update_lock)
    status = "failed"
    exit_code = 1
    # SQLite checkpoints when its last connection closes; one idle connection held for the run
    # keeps each short write transaction cheap
    keepalive = store.engine.connect() if store.is_sqlite else None
    try:
        with _sigterm_as_interrupt():
            try:
                runner.run()
            except KeyboardInterrupt:
                runner.interrupt()
                status, exit_code = "interrupted", EXIT_INTERRUPTED
                reporter.message("Interrupted: stages were stopped; no partial outs were cached")
        if status != "interrupted":
            failed = [o for o in runner.outcomes.values() if o.status not in FINAL_OK]
            status, exit_code = ("failed", 1) if failed else ("succeeded", 0)
    finally:
        if own_executor:
            executor.close()
        runner.flush_lock()
        runner.hashes.save()
        if keepalive is not None:
            keepalive.close()
        outcomes = [runner.outcomes[n] for n in names if n in runner.outcomes]
        finish_run(store, run_id, status=status, exit_code=exit_code,
                   details={"stages": {o.stage: o.status for o in outcomes}})
        store.close()
    if status == "succeeded" and whole and update_lock:
        _write_fresh_marker(project, dag)
    return RunResult(run_id, status, exit_code, outcomes)


# -- the no-op fast path ----------------------------------------------------------------------


def _write_fresh_marker(project: Project, dag: Dag) -> None:
    """Remember that everything was fresh, for ``assay run``'s no-op fast path."""
    paths = [p for s in dag.stages.values() for p in (*s.deps, *s.all_outs)]
    files = list(dict.fromkeys(["params.yaml", *project.config.params]))
    body = {
        "profile": dag.profile,
        "inputs": fresh_inputs(project.root, files),
        "params_files": files,
        "paths": sorted(set(paths)),
        "stats": stat_signature(project.root, paths),
        "stages": list(dag.stages),
        "store_url": project.store_url,
        "aliases": {
            key[len(ALIAS_PARAM_PREFIX) :]: value
            for stage in dag.stages.values()
            for key, value in stage.params.items()
            if key.startswith(ALIAS_PARAM_PREFIX)
        },
    }
    path = pipeline_dir(project) / FRESH_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    markers: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        markers = json.loads(path.read_text())
    markers[dag.profile or ""] = body
    write_text_atomic(path, json.dumps(markers), durable=False)
