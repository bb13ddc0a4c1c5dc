"""Running the pipeline: one run at a time per project, recorded in the store, scheduled by
:class:`~assay.pipeline._scheduler.Scheduler` on an executor; ``plan_pipeline`` for status.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assay._exits import exit_code
from assay.errors import AssayError, LocalDiskError, StageFailed, StoreError
from assay.pipeline._dag import Dag, build_dag
from assay.pipeline._executor import Executor, LocalExecutor
from assay.pipeline._fastpath import write_fresh_marker
from assay.pipeline._lock import read_lock
from assay.pipeline._records import detect_trigger, finish_run, new_id, start_run
from assay.pipeline._run_lock import run_lock
from assay.pipeline._scheduler import FINAL_OK, Scheduler, StageOutcome, stat_cache
from assay.pipeline._status import StageState, pipeline_status
from assay.pipeline._view import QuietReporter, Reporter

if TYPE_CHECKING:
    from assay.config import Project
    from assay.store import Store

__all__ = ["RunResult", "StageOutcome", "default_jobs", "plan_pipeline", "run_pipeline",
           "stat_cache"]


def run_failure(status: str, outcomes: list[StageOutcome]) -> BaseException | None:
    """What ended a run with ``status`` badly: :class:`StageFailed` naming each failed stage
    and why, ``KeyboardInterrupt`` for an interrupted run; None for a run that went well."""
    if status == "interrupted":
        return KeyboardInterrupt()
    if status != "failed":
        return None
    failed = [o for o in outcomes if o.status == "failed"]
    if not failed:
        return StageFailed("the run failed before its stages could finish")
    return StageFailed("\n".join(f"stage '{o.stage}' failed: {o.reason}" for o in failed),
                       stage=failed[0].stage)


@dataclass
class RunResult:
    """What ``run_pipeline`` did."""

    run_id: str | None
    status: str  # succeeded | failed | interrupted | up-to-date | dry-run
    """``up-to-date``: every selected stage was up to date, so nothing ran and no run was
    recorded (``run_id`` is None)."""
    outcomes: list[StageOutcome] = field(default_factory=list)
    plan: list[StageState] = field(default_factory=list)

    def failure(self) -> BaseException | None:
        """What ended this run badly (see :func:`run_failure`), or None."""
        return run_failure(self.status, self.outcomes)

    @property
    def exit_code(self) -> int:
        """0, 1 (a stage failed) or 130 (interrupted): :func:`assay._exits.exit_code`."""
        return exit_code(self.failure())

    def raise_for_status(self) -> None:
        """Raise :meth:`failure`, if any (the CLI reports it and exits with its code)."""
        failure = self.failure()
        if failure is not None:
            raise failure

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "status": self.status, "exit_code": self.exit_code,
                "stages": [o.to_json() for o in self.outcomes],
                "plan": [s.to_json() for s in self.plan]}


class _Interrupts:
    """Ctrl-C and SIGTERM become KeyboardInterrupt, except inside :meth:`critical` sections
    (a group commit, handling a finished job), where they wait for the section's end."""

    def __init__(self) -> None:
        self.depth = 0
        self.pending = False
        self.active = False

    def _handler(self, signum: int, frame: Any) -> None:
        if self.depth:
            self.pending = True
            return
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # signals only reach the main thread
            return
        previous = {sig: signal.signal(sig, self._handler)
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        self.active = True
        try:
            yield
        finally:
            self.active = False
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
        if not self.depth and self.pending and self.active:
            self.pending = False
            raise KeyboardInterrupt


_RECORDING_FAULTS = (AssayError, OSError)
"""What recording a run's end may raise on a full disk (a store error: the store translates
its driver's errors; the stat cache and run-cache index swallow theirs)."""


def _record_end(store: Store, runner: Scheduler, run_id: str, names: list[str], *,
                status: str, code: int, identity: dict[str, Any],
                caused: dict[str, Any] | None = None
                ) -> tuple[Exception | None, Exception | None]:
    """The final group commit, then the run's end, each attempted even if the other fails (a
    full disk). Returns what failed: (the commit, the end). A commit that failed makes the run
    ``failed`` (its stage runs not recorded as ended are closed as failed with it); a run whose
    end failed stays ``running`` until the next run's sweep of dead runners marks it."""
    lost: Exception | None = None
    try:
        runner.commit(force=True)
    except _RECORDING_FAULTS as exc:
        lost = exc
    try:
        runner.close()
    except _RECORDING_FAULTS as exc:
        lost = lost or exc
    if lost is not None and status == "succeeded":
        status, code = "failed", exit_code(lost)
    outcomes = [runner.outcomes[n] for n in names if n in runner.outcomes]
    try:
        finish_run(store, run_id, status=status, exit_code=code,
                   details={"stages": {o.stage: o.status for o in outcomes},
                            "runner": identity, **(caused or {})})
    except _RECORDING_FAULTS as exc:
        return lost, exc
    return lost, None


def _classified(exc: Exception, store_url: str, *, doing: str = "running the pipeline"
                ) -> Exception:
    """``exc``, or the :class:`LocalDiskError` it stands for (a full disk under the cache, the
    workspace or the SQLite store)."""
    from assay.objects import local_fault
    from assay.store import sqlite_path

    if isinstance(exc, LocalDiskError):
        return exc
    is_store = isinstance(exc, StoreError)
    path = sqlite_path(store_url) if is_store else None
    fault = local_fault(exc, path=path, doing=doing)
    return fault if fault is not None else exc


def _add_note(exc: Exception, note: str) -> None:
    """Append the sentence ``note`` to the one-line message the CLI prints for ``exc``."""
    text = _first_line(exc)
    text = f"{text}{'' if text.endswith('.') else '.'} {note}"
    if isinstance(exc, AssayError):
        exc.message = text
    exc.args = (text,)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def default_jobs(project: Project) -> int:
    return project.config.executor.jobs or os.cpu_count() or 1


def plan_pipeline(project: Project, *, targets: list[str] | None = None,
                  profile: str | None = None) -> tuple[Dag, list[StageState]]:
    """The DAG and each selected stage's state (for ``assay status`` and ``--dry-run``).

    When every stage is up to date it remembers so, as a no-op ``assay run`` does
    (:func:`write_fresh_marker`): the next ``assay status`` or ``assay run`` of the unchanged
    pipeline is answered from that marker."""
    dag = build_dag(project, profile=profile)
    states = _plan(project, dag, dag.select(list(targets or [])))
    if not targets and not any(s.stale for s in states):
        write_fresh_marker(project, dag)
    return dag, states


def _plan(project: Project, dag: Dag, names: list[str]) -> list[StageState]:
    """Each stage's state, and for the stale ones what a run would do: restore it (its outs
    for its key are in the local cache and nothing upstream must run) or run it; and whether
    its last run failed."""
    from dataclasses import replace

    from assay.objects import LocalCache
    from assay.pipeline._cache_key import compute_cache_key
    from assay.pipeline._records import last_failures
    from assay.pipeline._run_cache import RunCacheIndex, restorable

    hashes = stat_cache(project)
    lock = read_lock(project.root, dag.profile)
    try:
        states = pipeline_status(dag, names, lock, hashes)
    finally:
        hashes.save()
    stale = [s.stage for s in states if s.stale]
    if not stale:
        return states
    cache, index = LocalCache(project.cache_dir), RunCacheIndex(project)
    failures = last_failures(project.store_url, stale)
    planned: dict[str, StageState] = {}
    restored: dict[str, str | None] = {}  # out -> its hash once a restorable upstream is back
    try:
        for state in states:
            if state.stale:
                stage = dag.stages[state.stage]
                entry = lock.get(state.stage)
                must_run = any(planned[n].action == "run" for n in stage.needs if n in planned)
                key = state.key
                deps = {d: restored.get(d, h) for d, h in state.dep_hashes.items()}
                if deps != state.dep_hashes:  # the key it has once its upstream is restored
                    key = compute_cache_key(state.definition, deps, stage.params)
                can_restore = not must_run and restorable(
                    project, cache, stage, key, entry, index, check=False) is not None
                if can_restore and entry is not None and entry.key == key:
                    restored.update(entry.out_hashes)
                failed = failures.get(state.stage)
                reasons = [r for r in state.reasons if not (failed and r == "never run")]
                state = replace(state, restorable=can_restore, failed=failed, reasons=reasons)
            planned[state.stage] = state
    finally:
        index.close()
    return [planned[n] for n in names]


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
    cause: dict[str, Any] | None = None,
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
        cause: what started the run (a trigger's firing), kept in the run's details.

    Returns:
        What happened (:meth:`RunResult.raise_for_status` raises a failed or interrupted
        run's error); nothing is recorded when every stage is up to date.

    Raises:
        PipelineError: the DAG is invalid (nothing ran).
        ConcurrencyError: another run holds the project lock and ``wait`` is False.
        LocalDiskError: a disk under the cache, the workspace or the SQLite store is full or
            not writable (the run and its stage runs end as failed, or, if even that cannot
            be written, the next run marks them interrupted).
    """
    reporter = reporter or QuietReporter()
    if dry_run:
        dag, names = _selected(project, profile=profile, targets=targets, only=only)
        return RunResult(None, "dry-run", plan=_plan(project, dag, names))
    run_id = new_id()
    environ = dict(os.environ)  # the jobs' (planning may import libraries that change it)
    own_executor = executor is None
    local: LocalExecutor | None = None
    if executor is None:
        executor = local = _local_executor(project, jobs=jobs, reporter=reporter,
                                           profile=profile, run_id=run_id, environ=environ)
    try:
        dag, names = _selected(project, profile=profile, targets=targets, only=only)
        with run_lock(project.state_dir, wait=wait, reporter=reporter) as held:
            if local is not None:
                local.watchdog.hold_fds = (held.fd,)
            return _run_locked(project, dag, names, run_id=run_id, environ=environ,
                               force=force,
                               keep_going=keep_going, trigger=trigger, reporter=reporter,
                               executor=executor, own_executor=own_executor,
                               whole=not targets, update_lock=update_lock, cause=cause)
    finally:
        if own_executor:
            executor.close()


def _selected(project: Project, *, profile: str | None, targets: list[str] | None,
              only: bool) -> tuple[Dag, list[str]]:
    """The run's DAG and the stage instances it runs."""
    dag = build_dag(project, profile=profile)
    names = list(targets or []) if only else dag.select(list(targets or []))
    if only:
        names = [n for t in names for n in dag.groups.get(t, [t])]
        dag.select(names)  # validates the names
    return dag, names


def _local_executor(project: Project, *, jobs: int | None, reporter: Reporter,
                    profile: str | None, run_id: str, environ: dict[str, str]
                    ) -> LocalExecutor:
    """The local process pool of a run, created before the DAG is planned: the warm worker of
    the first built-in stage starts at once, so its interpreter start and imports overlap the
    planning (which loads every kind and checks contracts). The run lock the watchdog holds
    is given to it once taken."""
    from assay.pipeline._jobs import first_warm_job
    from assay.pipeline._watchdog import Watchdog

    executor = LocalExecutor(jobs or default_jobs(project), on_output=reporter.stage_output,
                             watchdog=Watchdog())
    job = first_warm_job(project.root, project.settings(), profile=profile, run_id=run_id,
                         environ=environ)
    if job is not None:
        executor.prewarm(job)
    return executor


def _run_locked(project: Project, dag: Dag, names: list[str], *, run_id: str,
                environ: dict[str, str], force: bool,
                keep_going: bool, trigger: str | None, reporter: Reporter,
                executor: Executor, own_executor: bool, whole: bool, update_lock: bool,
                cause: dict[str, Any] | None = None) -> RunResult:
    from assay.objects import LocalCache

    if not force:
        noop = _noop(project, dag, names)
        if noop is not None:
            if whole and update_lock:
                write_fresh_marker(project, dag)
            return noop
    # Held until the run's records are written: gc waits, so nothing this run writes into the
    # cache (stage outs, artifacts its stages log) is ever seen unreferenced.
    with LocalCache(project.cache_dir).writing():
        return _run_writing(project, dag, names, run_id=run_id, environ=environ, force=force,
                            keep_going=keep_going, trigger=trigger, reporter=reporter,
                            executor=executor, own_executor=own_executor, whole=whole,
                            update_lock=update_lock, cause=cause)


def _noop(project: Project, dag: Dag, names: list[str]) -> RunResult | None:
    """The result of a run in which every stage of ``names`` is up to date (nothing to restore
    or run, so nothing is recorded), or None as soon as one stage is stale."""
    from assay.pipeline._status import stage_state

    hashes = stat_cache(project)
    lock = read_lock(project.root, dag.profile)
    outcomes = []
    try:
        for name in names:
            state = stage_state(dag.stages[name], lock.get(name), hashes)
            if state.stale:
                return None
            outcomes.append(StageOutcome(name, "up-to-date", 0.0, "up to date", key=state.key))
    finally:
        hashes.save()
    return RunResult(None, "up-to-date", outcomes)


def _put_back_full_outs(project: Project, dag: Dag, names: list[str], reporter: Reporter
                        ) -> bool:
    """After a profile run (which records into its own lock): the outs ``assay.lock`` records
    back in the workspace, from the cache, so a light CI run never leaves its outs in place of
    the full run's. True if the workspace changed (it then no longer holds the profile's outs,
    so the profile is not "up to date" for the no-op shortcut: its next run restores them)."""
    from assay._layout import lock_file
    from assay.objects import LocalCache
    from assay.pipeline._run_cache import put_back

    hashes = stat_cache(project)
    try:
        done, missing = put_back(project, LocalCache(project.cache_dir), names,
                                 read_lock(project.root), hashes.hash_path)
    except (AssayError, OSError) as exc:
        reporter.message(f"The outs of {lock_file(None)} could not be put back after the "
                         f"'{dag.profile}' run ({_first_line(exc)}); run: assay run")
        return True
    finally:
        hashes.save()
    if missing:
        reporter.message(
            f"{len(missing)} out(s) of {lock_file(None)} are not in the cache, so the "
            f"'{dag.profile}' run's are left in their place (first: {missing[0]}); "
            "run: assay run")
    return bool(done)


def _run_writing(project: Project, dag: Dag, names: list[str], *, run_id: str,
                 environ: dict[str, str], force: bool,
                 keep_going: bool, trigger: str | None, reporter: Reporter, executor: Executor,
                 own_executor: bool, whole: bool, update_lock: bool,
                 cause: dict[str, Any] | None = None) -> RunResult:
    from assay.objects import LocalCache
    from assay.pipeline._liveness import interrupt_orphaned_runs, runner_identity
    from assay.pipeline._records import store_environment
    from assay.store import open_store

    identity = runner_identity()
    caused = {} if cause is None else {"cause": cause}
    try:  # nothing is recorded yet: a fault here (a full disk) leaves no run behind
        store = open_store(project.store_url)
        try:
            for dead in interrupt_orphaned_runs(store):
                reporter.message(f"An earlier run was recorded as interrupted: its runner (pid "
                                 f"{dead['pid']}) died without recording its end")
            env_hash = store_environment(LocalCache(project.cache_dir))
            start_run(store, run_id=run_id, kind="pipeline", trigger=detect_trigger(trigger),
                      profile=dag.profile, root=project.root, env_hash=env_hash,
                      details={"stages": names, "force": force, "runner": identity, **caused})
        except BaseException:
            store.close()
            raise
    except _RECORDING_FAULTS as exc:
        classified = _classified(exc, project.store_url, doing="starting the run")
        if classified is exc:
            raise
        raise classified from exc
    interrupts = _Interrupts()
    status = "failed"
    code = exit_code(StageFailed("the run failed"))
    fault: Exception | None = None
    lost: Exception | None = None
    unended: Exception | None = None
    try:
        with interrupts.installed(), store.writer() as transaction:
            runner = Scheduler(project, dag, names, force=force, keep_going=keep_going,
                               reporter=reporter, executor=executor, store=store,
                               run_id=run_id, update_lock=update_lock,
                               guard=interrupts.critical, transaction=transaction,
                               environ=environ)
            try:
                try:
                    runner.run()
                except KeyboardInterrupt:
                    with interrupts.critical():
                        runner.interrupt()
                    status, code = "interrupted", exit_code(KeyboardInterrupt())
                    reporter.message(
                        "Interrupted: stages were stopped; no partial outs were cached")
                except Exception as exc:  # any fault of the run: end it, record it, re-raise
                    fault = _classified(exc, project.store_url)
                    code = exit_code(fault)
                    with interrupts.critical():
                        runner.abort(f"the run stopped: {_first_line(fault)}")
                if status != "interrupted" and fault is None:
                    failed = [o for o in runner.outcomes.values() if o.status not in FINAL_OK]
                    status = "failed" if failed else "succeeded"
                    code = exit_code(run_failure(status, list(runner.outcomes.values())))
            finally:
                interrupts.depth += 1  # a second Ctrl-C must not cut the final records short
                try:
                    if own_executor:  # its jobs end before the run's end is recorded
                        executor.close()
                    lost, unended = _record_end(store, runner, run_id, names, status=status,
                                                code=code, identity=identity,
                                                caused=caused)
                finally:
                    interrupts.depth -= 1
                    interrupts.pending = False
    finally:
        store.close()
    if fault is None and lost is not None:
        fault = _classified(lost, project.store_url, doing=f"recording run {run_id[:8]}")
    if unended is not None:
        ending = _classified(unended, project.store_url,
                             doing=f"recording the end of run {run_id[:8]}")
        why = "" if isinstance(ending, LocalDiskError) else f" ({_first_line(ending)})"
        if fault is None:
            fault, why = ending, ""
        _add_note(fault, f"Run {run_id[:8]} could not record its end{why}; the next `assay run` "
                         "marks it interrupted")
    put_back = False
    if fault is None and dag.profile is not None and update_lock:
        put_back = _put_back_full_outs(project, dag, names, reporter)
    if fault is not None:
        raise fault
    if status == "succeeded" and whole and update_lock and not put_back:
        write_fresh_marker(project, dag)
    outcomes = [runner.outcomes[n] for n in names if n in runner.outcomes]
    return RunResult(run_id, status, outcomes)
