"""The scheduling loop of one run: decide per stage (up to date, restore from cache, or run),
start jobs as executor slots free up, cache outs, and record results.

Bookkeeping is group-committed, so hundreds of short stages do not pay for hundreds of fsyncs
and transactions, without bending the write ordering of RELIABILITY.md:

- a stage run's row is committed before its job starts (the job's tracking calls refer to it);
- the outs of finished stages go into the cache without an fsync each; then, at most every
  ``GROUP_COMMIT_SECONDS`` (at once after a failure, and at the end), one sync makes them
  durable, one transaction records the finished stage runs with their metrics and artifacts,
  and only then is a stage reported as finished;
- ``assay.lock`` (a durable replace of the whole file) follows every ``LOCK_FLUSH_SECONDS``
  and at the end, and only ever names objects synced before.

A crash loses at most the last group: those stages were never reported and run again (a lock
that lags behind the store only means a rerun).
"""

from __future__ import annotations

import bisect
import contextlib
import json
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay._layout import ignore_in_git, ignored_path
from assay._paths import SafeTree
from assay.errors import LocalDiskError, ObjectError
from assay.pipeline._dag import Dag, Stage
from assay.pipeline._executor import Executor, Job, JobResult, slots_needed
from assay.pipeline._hashes import StatCache
from assay.pipeline._jobs import JobFactory
from assay.pipeline._lock import LockEntry, read_lock, write_lock
from assay.pipeline._records import MetricsFileError, StageRunBatch, load_metrics_file, new_id
from assay.pipeline._run_cache import RunCacheIndex, restorable, restore
from assay.pipeline._status import StageState, stage_state
from assay.pipeline._view import Reporter

if TYPE_CHECKING:
    from assay.config import Project
    from assay.store import Connection, Store

GROUP_COMMIT_SECONDS = 0.2
LOCK_FLUSH_SECONDS = 0.5
IDLE_WAIT_SECONDS = 0.2
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
class _Attempt:
    stage_run_id: str
    state: StageState
    attempt: int
    started: float
    slots: int


def stat_cache(project: Project) -> StatCache:
    return StatCache(project.root, project.state_dir / "state.db")


class Scheduler:
    """Runs ``names`` of ``dag`` on ``executor`` and records everything in ``store``.

    ``guard`` wraps the bookkeeping steps that must not be cut in half by Ctrl-C (the runner
    defers the interrupt to the end of the step); ``transaction`` opens each write transaction
    (default: ``store.write``; the runner passes one of :meth:`Store.writer`). ``environ`` is
    the environment the jobs start from (default: this process's when the first job is made).
    """

    def __init__(self, project: Project, dag: Dag, names: list[str], *, force: bool,
                 keep_going: bool, reporter: Reporter, executor: Executor, store: Store,
                 run_id: str, update_lock: bool = True,
                 guard: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext,
                 transaction: Callable[[], AbstractContextManager[Connection]] | None = None,
                 environ: dict[str, str] | None = None) -> None:
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
        self.guard = guard
        self._transaction = transaction or store.write
        self.cache = LocalCache(project.cache_dir)
        self.hashes = stat_cache(project)
        self.lock = read_lock(project.root, dag.profile)
        self.index = RunCacheIndex(project)
        self.jobs = JobFactory(project, dag, run_id, environ=environ)
        self.outcomes: dict[str, StageOutcome] = {}
        selected = set(names)
        self._order = {n: i for i, n in enumerate(names)}
        self._waiting = {n: {m for m in dag.stages[n].needs if m in selected} for n in names}
        self._dependents: dict[str, list[str]] = {}
        for name, waiting in self._waiting.items():
            for need in waiting:
                self._dependents.setdefault(need, []).append(name)
        self._pending = set(names)  # not started yet
        self._ready = sorted((self._order[n], n) for n in names if not self._waiting[n])
        self.running: dict[str, _Attempt] = {}
        self.used_slots = 0
        self._to_launch: list[Job] = []
        self._starts = StageRunBatch()  # committed before their jobs start
        self._records = StageRunBatch()  # finished and cached stage runs, group-committed
        self._after_commit: list[Callable[[], None]] = []
        self._unsynced = False
        self._lock_dirty = False
        self._lock_written = 0.0
        self._pending_since: float | None = None
        self._commit_now = False
        self.stopped = False  # a stage failed before its job started, without keep_going
        self._prewarmed: set[str] = set()  # stages the executor was told to get ready for

    # -- deciding -----------------------------------------------------------------------

    def _slots_of(self, stage: Stage) -> int:
        return slots_needed(stage.resources, self.executor.slots)

    def _start(self, name: str) -> None:
        stage = self.dag.stages[name]
        state = stage_state(stage, self.lock.get(name), self.hashes)
        t0 = time.monotonic()
        if not self.force and not state.stale:
            self._record_cached(stage, state, "up-to-date", "up to date", t0)
            return
        if not self.force:
            outs = restorable(self.project, self.cache, stage, state.key, self.lock.get(name),
                              self.index, warn=self.reporter.message)
            if outs is not None:
                try:
                    restore(self.project, self.cache, outs)
                except LocalDiskError as exc:  # the workspace disk is full or not writable
                    self._fail_unrun(stage, state, f"its cached outs could not be restored: "
                                                   f"{exc}", t0)
                    return
                self._write_entry(stage, state, outs)
                self._record_cached(stage, state, "restored", "restored from cache", t0)
                return
        self._submit(stage, state, attempt=1)

    def _queued(self) -> None:
        if self._pending_since is None:
            self._pending_since = time.monotonic()

    def _record_cached(self, stage: Stage, state: StageState, status: str, reason: str,
                       t0: float) -> None:
        stage_run_id = new_id()
        self._records.start(stage_run_id=stage_run_id, run_id=self.run_id, stage=stage.name,
                            group=stage.group, status="cached", cache_key=state.key,
                            params=stage.params, ended=True, details={"reason": reason})
        seconds = time.monotonic() - t0
        self._settle(StageOutcome(stage.name, status, seconds, reason, stage_run_id, 0, 0,
                                  state.key))
        self._report(stage.name, status, seconds)

    def _fail_unrun(self, stage: Stage, state: StageState, reason: str, t0: float) -> None:
        """Record a stage that failed before its job could start (its stage run ends at once)."""
        stage_run_id = new_id()
        self._records.start(stage_run_id=stage_run_id, run_id=self.run_id, stage=stage.name,
                            group=stage.group, status="running", cache_key=state.key,
                            params=stage.params)
        self._records.finish(stage_run_id, status="failed", exit_code=None,
                             details={"reason": reason})
        self._commit_now = True
        if not self.keep_going:
            self.stopped = True
        seconds = time.monotonic() - t0
        self._settle(StageOutcome(stage.name, "failed", seconds, reason, stage_run_id, None, 0,
                                  state.key))
        self._report(stage.name, "failed", seconds, reason)

    def _report(self, name: str, status: str, seconds: float, detail: str = "") -> None:
        """Report a finished stage once its records are committed."""
        self._queued()
        self._after_commit.append(
            lambda: self.reporter.stage_finished(name, status, seconds, detail))

    # -- running ------------------------------------------------------------------------

    def _submit(self, stage: Stage, state: StageState, *, attempt: int) -> None:
        stage_run_id = new_id()
        with SafeTree(self.project.root) as tree:  # never deletes through a symlink
            for out in stage.all_outs:  # a stale out must never pass for a fresh one
                tree.remove(tree.relative(out, what=f"out of stage '{stage.name}'"))
        job = self.jobs.job(stage, stage_run_id=stage_run_id, attempt=attempt)
        self._starts.start(stage_run_id=stage_run_id, run_id=self.run_id, stage=stage.name,
                           group=stage.group, status="running", cache_key=state.key,
                           attempt=attempt,
                           log_path=str(job.log_path.relative_to(self.project.root)),
                           params=stage.params)
        slots = self._slots_of(stage)
        self.running[stage.name] = _Attempt(stage_run_id, state, attempt, time.monotonic(), slots)
        self.used_slots += slots
        self._to_launch.append(job)

    def _prewarm_downstream(self, name: str) -> None:
        """A stage runs, so the built-in stages downstream of it will likely run too: let the
        executor get ready for them (start their warm workers) while it runs."""
        todo = list(self._dependents.get(name, ()))
        while todo:
            other = todo.pop()
            if other in self._prewarmed:
                continue
            self._prewarmed.add(other)
            todo.extend(self._dependents.get(other, ()))
            job = self.jobs.warm_job(self.dag.stages[other])
            prewarm = getattr(self.executor, "prewarm", None)  # executors older than it lack it
            if job is not None and prewarm is not None:
                prewarm(job)

    def _launch(self) -> None:
        """Commit the new stage runs, then start their jobs."""
        if not self._to_launch:
            return
        with self.guard():
            with self._transaction() as conn:
                self._starts.write(conn)
            self._starts.clear()
            jobs, self._to_launch = self._to_launch, []
        for job in jobs:
            self.reporter.stage_started(job.stage, job.attempt)
            self.executor.submit(job)
        for job in jobs:  # once they are on their way (a worker imports their needs first)
            self._prewarm_downstream(job.stage)

    def _ended(self, name: str) -> _Attempt:
        attempt = self.running.pop(name)
        self.used_slots -= attempt.slots
        return attempt

    def _failure(self, stage: Stage, result: JobResult) -> str:
        code = result.exit_code
        if result.timed_out:
            return f"timed out after {stage.timeout:g}s"
        if result.error:
            return result.error
        if code != 0:
            said = _last_error_line(result.job.log_path) if stage.kind is not None else None
            return f"exited with code {code}" + (
                " (command not found)" if code == 127 else f": {said}" if said else "")
        missing = [o for o in stage.all_outs if not (self.project.root / o).exists()]
        if missing:
            return f"declared out '{missing[0]}' was not written (or was deleted)"
        return ""

    def _finished(self, result: JobResult) -> bool:
        """Handle a finished job; False when the run must stop (fail-fast)."""
        name = result.job.stage
        stage = self.dag.stages[name]
        run = self._ended(name)
        seconds = time.monotonic() - run.started
        reason = self._failure(stage, result)
        metrics: dict[str, float] = {}
        if not reason:
            try:
                for metrics_file in stage.metrics:
                    metrics.update(load_metrics_file(self.project.root / metrics_file,
                                                     name=metrics_file))
            except MetricsFileError as exc:
                reason = str(exc)
        outs: dict[str, str] = {}
        artifacts: list[tuple[str, str, int, str]] = []
        may_retry = True
        if not reason:
            try:
                self._cache_outs(stage, outs, artifacts)
            except ObjectError as exc:  # a full disk, an out changed while stored: not the code
                reason, may_retry = f"its outs could not be stored in the cache: {exc}", False
        if reason:
            self._records.finish(run.stage_run_id, status="failed", exit_code=result.exit_code,
                                 details={"reason": reason})
            self._commit_now = True
            if may_retry and run.attempt <= stage.retries:
                self._report(name, "failed", seconds, reason + "; retrying")
                self._submit(stage, run.state, attempt=run.attempt + 1)
                return True
            self._settle(StageOutcome(name, "failed", seconds, reason, run.stage_run_id,
                                      result.exit_code, run.attempt, run.state.key))
            self._report(name, "failed", seconds, f"{reason}; log: {result.job.log_path}")
            return self.keep_going
        if self.update_lock:
            self._write_entry(stage, run.state, outs)
            self.index.put(run.state.key, outs)
        self._records.finish(run.stage_run_id, status="succeeded", exit_code=0,
                             metrics=metrics, artifacts=artifacts)
        self._settle(StageOutcome(name, "succeeded", seconds, "", run.stage_run_id, 0,
                                  run.attempt, run.state.key))
        self._report(name, "succeeded", seconds)
        return True

    def _cache_outs(self, stage: Stage, outs: dict[str, str],
                    artifacts: list[tuple[str, str, int, str]]) -> None:
        """Store the stage's outs in the cache (unsynced: the group commit syncs them).

        Raises:
            ObjectError: an out cannot be read or changed meanwhile; LocalDiskError: the cache's
                disk is full or not writable (nothing half-written is left under an object name).
        """
        for out in stage.all_outs:
            path = self.project.root / out
            self._unsynced = True
            if path.is_dir():
                stored = self.cache.add_dir(path, durable=False, state=self.hashes.state)
            else:
                stored = self.cache.add_file(path, durable=False)
                self.hashes.learn(out, stored.oid)
            outs[out] = stored.oid
            artifacts.append((out, stored.oid, stored.size,
                              "metrics" if out in stage.metrics else "out"))

    def _write_entry(self, stage: Stage, state: StageState, outs: dict[str, str]) -> None:
        # outs are restored from the cache (and pushed to a remote), never committed to git:
        # they are git-ignored when the stage first runs (or is restored), as dvc does
        with contextlib.suppress(OSError):  # a read-only .gitignore does not fail the run
            ignore_in_git(self.project.root, [ignored_path(out) for out in stage.all_outs])
        out_hashes = {o: h for o in stage.all_outs if (h := self.hashes.hash_path(o)) is not None}
        self.lock[stage.name] = LockEntry(
            key=state.key, definition=state.definition_digest, cmd=stage.cmd,
            deps=state.dep_hashes, params=stage.params, outs=outs, out_hashes=out_hashes,
            definition_body=_plain_json(state.definition),
        )
        self._lock_dirty = True
        self._queued()

    # -- recording ----------------------------------------------------------------------

    def _commit_due_in(self) -> float:
        if self._commit_now:
            return 0.0
        if self._pending_since is None:
            return IDLE_WAIT_SECONDS
        return max(0.0, self._pending_since + GROUP_COMMIT_SECONDS - time.monotonic())

    def commit(self, *, force: bool = False) -> None:
        """The group commit (when due, or ``force``): sync the new cache objects, record the
        finished stage runs, then report; ``assay.lock`` follows at most every
        ``LOCK_FLUSH_SECONDS`` (and always with ``force``), only ever naming synced objects."""
        if self._pending_since is None and not self._starts and not self._lock_dirty:
            return
        if not force and self._commit_due_in() > 0:
            return
        with self.guard():
            if self._unsynced:
                from assay.objects import sync_all

                sync_all()
                self._unsynced = False
            if self._starts or self._records:
                with self._transaction() as conn:
                    self._starts.write(conn)
                    self._records.write(conn)
                self._starts.clear()
                self._records.clear()
            self.hashes.flush()
            self.index.flush()
            callbacks, self._after_commit = self._after_commit, []
            self._pending_since = None
            self._commit_now = False
            now = time.monotonic()
            if self._lock_dirty and (force or now - self._lock_written >= LOCK_FLUSH_SECONDS):
                if self.update_lock:
                    self._write_lock()
                self._lock_dirty = False
                self._lock_written = now
        for callback in callbacks:
            callback()

    def _write_lock(self) -> None:
        try:
            write_lock(self.project.root, self.lock, self.dag.profile)
        except OSError as exc:  # the old assay.lock stays whole: it names synced objects only
            from assay._layout import lock_file
            from assay.objects import local_fault

            name = lock_file(self.dag.profile)
            fault = local_fault(exc, path=self.project.root / name, doing=f"writing {name}",
                                outcome="it still names the outs of the last complete write")
            if fault is None:
                raise
            raise fault from exc

    def close(self) -> None:
        """Release the stat cache and the run-cache index (after the final commit)."""
        self.hashes.save()
        self.index.close()

    # -- the loop -----------------------------------------------------------------------

    def _warn_about_resources(self) -> None:
        seen: set[str] = set()
        for name in self.names:
            stage = self.dag.stages[name]
            cpus = stage.resources.get("cpus") or 1
            if stage.config_name not in seen and cpus > self.executor.slots:
                seen.add(stage.config_name)
                self.reporter.message(
                    f"Stage '{stage.config_name}' asks for {cpus:g} cpus, but this run has "
                    f"{self.executor.slots} slots (-j); it runs alone on all of them")

    def _settle(self, outcome: StageOutcome) -> None:
        """Record how a stage ended; stages waiting only for it become ready."""
        self.outcomes[outcome.stage] = outcome
        for other in self._dependents.get(outcome.stage, ()):
            waiting = self._waiting[other]
            waiting.discard(outcome.stage)
            if not waiting and other in self._pending:
                bisect.insort(self._ready, (self._order[other], other))

    def _schedule(self) -> None:
        """Start ready stages (in pipeline order) while their slots fit."""
        for item in list(self._ready):
            if self.used_slots >= self.executor.slots or self.stopped:
                return
            name = item[1]
            stage = self.dag.stages[name]
            if self.used_slots + self._slots_of(stage) > self.executor.slots:
                continue  # a smaller stage may fit meanwhile
            self._ready.remove(item)
            self._pending.discard(name)
            bad = [n for n in stage.needs
                   if n in self.outcomes and self.outcomes[n].status not in FINAL_OK]
            if bad:
                reason = f"upstream '{bad[0]}' did not succeed"
                self._settle(StageOutcome(name, "skipped", 0.0, reason))
                self._report(name, "skipped", 0.0, reason)
                continue
            with self.guard():
                self._start(name)

    def run(self) -> bool:
        """Run every selected stage; False if it stopped early (fail-fast)."""
        self._warn_about_resources()
        keep_scheduling = True
        while self._pending or self.running:
            if keep_scheduling:
                self._schedule()
                if self.stopped:  # a stage failed before it could run (fail-fast)
                    keep_scheduling = False
                    for job in self.executor.cancel():
                        self._interrupted(job.stage, "cancelled", "cancelled after a failure")
            self._launch()
            self.commit()
            if not self.running:
                if not keep_scheduling or not self._ready:
                    break
                continue
            for result in self.executor.wait(self._commit_due_in()):
                with self.guard():
                    if not self._finished(result) and keep_scheduling:
                        keep_scheduling = False
                        for job in self.executor.cancel():
                            self._interrupted(job.stage, "cancelled", "cancelled after a failure")
            self.commit()
            if not keep_scheduling and not self.running:
                break
        for name in self.names:
            if name in self._pending:
                self.outcomes[name] = StageOutcome(name, "skipped", 0.0, "not started")
        self.commit(force=True)
        return keep_scheduling

    def _interrupted(self, name: str, status: str, reason: str) -> None:
        run = self._ended(name)
        seconds = time.monotonic() - run.started
        self._records.finish(run.stage_run_id, status=status, exit_code=None,
                             details={"reason": reason})
        self._settle(StageOutcome(name, status, seconds, reason, run.stage_run_id, None,
                                  run.attempt, run.state.key))
        self._report(name, status, seconds, reason)

    def abort(self, reason: str) -> None:
        """Stop every job after a fault of the run itself (a full disk, a failing store): the
        running stage runs are recorded as failed with ``reason`` by the next commit."""
        self.executor.cancel()
        self._to_launch = []
        for name in list(self.running):
            self._interrupted(name, "failed", reason)
        for name in self.names:
            if name in self._pending:
                self.outcomes[name] = StageOutcome(name, "skipped", 0.0, "not started")

    def interrupt(self) -> None:
        """Stop every running job; record them (and the not yet started ones) as interrupted."""
        for job in self.executor.cancel():
            if job.stage in self.running:
                self._interrupted(job.stage, "interrupted", "interrupted")
        self._to_launch = []
        for name in list(self.running):
            self._interrupted(name, "interrupted", "interrupted")


def _plain_json(value: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(json.dumps(value, default=str))
    return result


def _last_error_line(log: Path, *, tail: int = 16_384) -> str | None:
    """The last ``error: ...`` line a built-in kind printed (its one-line reason, with the
    report path), so the run summary says why without opening the log."""
    try:
        with open(log, "rb") as handle:
            handle.seek(max(0, handle.seek(0, 2) - tail))
            text = handle.read().decode(errors="replace")
    except OSError:
        return None
    for line in reversed(text.splitlines()):
        if line.startswith("error: "):
            return line[len("error: "):].strip()[:500] or None
    return None
