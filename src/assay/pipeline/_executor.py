"""Executors run stage jobs. The runner only speaks this small interface, so a distributed
executor (Ray) can replace the local process pool without touching the runner.
"""

from __future__ import annotations

import contextlib
import math
import os
import selectors
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from assay.pipeline._warm_worker import DISABLE_ENV, PER_JOB_ENV, WarmWorker
from assay.pipeline._watchdog import Watchdog

KILL_GRACE_SECONDS = 3.0
# Without pidfds (not Linux >= 5.3) a job's exit is noticed by polling at this interval.
POLL_SECONDS = 0.01
_READ_SIZE = 65536


@dataclass(frozen=True)
class Job:
    """One attempt at running one stage instance.

    ``resources`` is the stage's ``resources:`` (``cpus``, ``memory``, ``gpus``) for the
    executor to honour: the local pool accounts ``cpus`` in slots; a cluster executor passes
    all three to its scheduler.
    """

    stage: str
    command: str | list[str]  # a shell string, or argv
    env: dict[str, str]
    cwd: Path
    log_path: Path
    timeout: float | None = None
    resources: dict[str, Any] = field(default_factory=dict)
    attempt: int = 1
    # Non-empty only for a ``python -m MODULE`` job that may run in a warm worker (a built-in
    # kind; see :mod:`._warm_worker`): the modules it needs, imported before it is forked...
    warm: tuple[str, ...] = ()
    # ...and those the worker imports while idle (what the run's other built-in stages need)
    prewarm: tuple[str, ...] = ()


@dataclass(frozen=True)
class JobResult:
    """How a job ended."""

    job: Job
    exit_code: int
    started_at: float
    ended_at: float
    timed_out: bool = False
    error: str | None = None  # could not start (e.g. command not found)


OutputSink = Callable[[str, str], None]  # (stage, line)


class Executor(Protocol):
    """Runs jobs concurrently. Every method is called from the runner's thread.

    ``slots`` is the capacity in CPUs: the runner starts a job only while the ``cpus`` of the
    running jobs plus this one (each rounded up, at least 1; see :func:`slots_needed`) fit.
    """

    slots: int

    def submit(self, job: Job) -> None:
        """Start ``job`` (the runner never submits more than ``slots`` worth at once)."""
        ...

    def wait(self, timeout: float) -> list[JobResult]:
        """Block up to ``timeout`` seconds; return the jobs that ended since the last call."""
        ...

    def cancel(self) -> list[Job]:
        """Terminate every running job and its children; return what was cancelled."""
        ...

    def prewarm(self, job: Job) -> None:
        """Get ready to run jobs like ``job`` soon (the local pool starts the warm worker its
        built-in stages will fork from, so its imports overlap the stages still running);
        doing nothing is fine, and an executor without this method is never asked."""
        ...

    def close(self) -> None:
        """Release resources."""
        ...


def _warm_module(job: Job) -> str | None:
    """The module ``job`` runs (``python -m MODULE``) when it may run in a warm worker."""
    if not job.warm or not isinstance(job.command, list):
        return None
    if job.env.get(DISABLE_ENV) or not hasattr(socket, "SOCK_SEQPACKET"):
        return None
    return job.command[2] if len(job.command) >= 3 and job.command[1] == "-m" else None


WorkerKey = tuple[tuple[str, str], ...]


def _worker_key(job: Job) -> WorkerKey:
    """The jobs with one key share a warm worker: one worker per environment (a stage's own
    env, say OMP_NUM_THREADS, may matter when its libraries are imported) and cwd."""
    return (("", str(job.cwd)), *sorted((k, v) for k, v in job.env.items()
                                        if k not in PER_JOB_ENV))


def _start_worker(job: Job) -> WarmWorker:
    """A warm worker for jobs like ``job``: it imports what ``job`` needs first, then what the
    jobs like it need (``prewarm``)."""
    modules = list(dict.fromkeys([*job.warm, *job.prewarm]))
    return WarmWorker(modules, env=job.env, cwd=str(job.cwd))


# warm workers started before their run's executor existed (see start_early_worker)
_EARLY: dict[WorkerKey, WarmWorker] = {}


def start_early_worker(job: Job) -> None:
    """Start the warm worker for jobs like ``job`` before the run's :class:`LocalExecutor`
    exists: the command line starts it as soon as it knows that a run will run stages, so
    the worker's start and imports overlap the CLI's own. The next :class:`LocalExecutor` of
    this process takes it over when its jobs have that environment (the run id aside), and
    ends it otherwise. Nothing happens when ``job`` would not run warm, or the worker cannot
    be started (the run then starts its own)."""
    if _warm_module(job) is None:
        return
    key = _worker_key(job)
    if key in _EARLY:
        return
    with contextlib.suppress(OSError):
        _EARLY[key] = _start_worker(job)


def slots_needed(resources: dict[str, Any], capacity: int) -> int:
    """Slots a job with ``resources`` takes: its cpus rounded up, at least 1, at most all."""
    try:
        cpus = float(resources.get("cpus") or 1)
    except (TypeError, ValueError):
        cpus = 1.0
    return max(1, min(capacity, math.ceil(cpus)))


class _Process(Protocol):
    """What the executor uses of a job's process: a :class:`subprocess.Popen`, or a job forked
    by the warm worker (:class:`~assay.pipeline._warm_worker.WarmProcess`)."""

    pid: int
    returncode: int | None
    stdout: Any

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


@dataclass
class _Running:
    job: Job
    proc: _Process
    started: float
    log: Any  # an unbuffered binary file
    pipe: int | None  # read end of the job's stdout+stderr (None once at EOF)
    pidfd: int | None
    deadline: float | None
    partial: bytes = b""
    timed_out: bool = False
    warm: bool = False  # its exit is reported by the warm worker (no pidfd, no polling)


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _pidfd(pid: int) -> int | None:
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        return int(opener(pid))
    except OSError:
        return None


class LocalExecutor:
    """A pool of local subprocesses, each in its own process group (so kills reach children).

    One selector in the runner's thread reads every job's output and notices every exit (via
    pidfds on Linux), so there are no reader threads and no sleep-polling. A watchdog process
    kills the jobs' process groups if the runner itself dies.

    Resources: ``cpus`` takes that many of the ``slots`` (``-j``); ``memory`` and ``gpus`` are
    not enforced locally (the job gets the whole machine).
    """

    def __init__(self, slots: int, *, on_output: OutputSink | None = None,
                 watchdog: Watchdog | None = None) -> None:
        self.slots = max(1, slots)
        self.on_output = on_output
        self.watchdog = watchdog if watchdog is not None else Watchdog()
        self._running: dict[int, _Running] = {}
        self._done: list[JobResult] = []
        self._selector = selectors.DefaultSelector()
        self._log_dirs: set[Path] = set()
        self._deadlines = 0  # running jobs with a timeout
        self._warm: dict[WorkerKey, WarmWorker] = {}
        self._warm_of: dict[int, WarmWorker] = {}  # pid of a running warm job -> its worker
        self._warm_off = False  # disabled, or failed once: built-in stages run cold
        self._early = dict(_EARLY)  # see start_early_worker: this run's, from now on
        _EARLY.clear()
        self._closed = False

    # -- starting ---------------------------------------------------------------------------

    def submit(self, job: Job) -> None:
        self.watchdog.start()
        if job.log_path.parent not in self._log_dirs:
            job.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_dirs.add(job.log_path.parent)
        log = open(job.log_path, "ab", buffering=0)  # noqa: SIM115 - closed when the job ends
        started = time.time()
        shell = isinstance(job.command, str)
        proc: _Process | None = self._start_warm(job)
        try:
            proc = proc or subprocess.Popen(
                job.command,
                shell=shell,
                cwd=job.cwd,
                env=job.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                executable="/bin/bash" if shell else None,
            )
        except OSError as exc:
            log.write(f"assay: cannot start: {exc}\n".encode())
            log.close()
            self._done.append(
                JobResult(job, 127, started, time.time(), error=f"cannot start: {exc.strerror}")
            )
            return
        self.watchdog.watch(proc.pid)
        assert proc.stdout is not None
        pipe = proc.stdout.fileno()
        os.set_blocking(pipe, False)
        warm = not isinstance(proc, subprocess.Popen)
        entry = _Running(job, proc, started, log, pipe, None if warm else _pidfd(proc.pid),
                         time.monotonic() + job.timeout if job.timeout is not None else None,
                         warm=warm)
        self._running[proc.pid] = entry
        self._deadlines += entry.deadline is not None
        self._selector.register(pipe, selectors.EVENT_READ, (proc.pid, "out"))
        if entry.pidfd is not None:
            self._selector.register(entry.pidfd, selectors.EVENT_READ, (proc.pid, "exit"))

    def _start_warm(self, job: Job) -> _Process | None:
        """Start ``job`` in the warm worker (started on the first such job); None to run it
        cold: not a warm job, the worker is disabled, or it cannot be used (then never again
        in this run)."""
        module = self._warm_module(job)
        if module is None:
            return None
        try:
            worker = self._worker_for(job)
            proc = worker.start(module, list(job.command[3:]), env=job.env, cwd=str(job.cwd),
                                imports=job.warm)
        except OSError:
            self._warm_off = True
            return None
        self._warm_of[proc.pid] = worker
        return proc

    def _warm_module(self, job: Job) -> str | None:
        """The module a job that may run in a warm worker runs (``python -m MODULE``)."""
        if self._warm_off:
            return None
        module = _warm_module(job)
        if module is None and job.warm:
            self._warm_off = True
        return module

    def _worker_for(self, job: Job) -> WarmWorker:
        """The warm worker for ``job``'s environment: running, started early for this run, or
        started now.

        Raises:
            OSError: it cannot be started.
        """
        key = _worker_key(job)
        worker = self._warm.get(key)
        if worker is None:
            worker = self._early.pop(key, None) or _start_worker(job)
            self._warm[key] = worker
            self._selector.register(worker, selectors.EVENT_READ, (0, "warm"))
        for unused in self._early.values():  # started for another environment: not needed
            unused.close()
        self._early.clear()
        return worker

    def prewarm(self, job: Job) -> None:
        if self._warm_module(job) is None:
            return
        try:
            self._worker_for(job)
        except OSError:
            self._warm_off = True

    def _warm_exits(self, worker: WarmWorker) -> None:
        worker.pump()
        for entry in [e for e in self._running.values() if e.warm]:
            if self._warm_of.get(entry.proc.pid) is worker:
                self._reap(entry)
        if not worker.alive:  # its jobs' ends are noticed by polling from now on
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(worker)
            for entry in self._running.values():
                if self._warm_of.get(entry.proc.pid) is worker:
                    entry.warm = False

    # -- output -----------------------------------------------------------------------------

    def _emit(self, entry: _Running, data: bytes, *, final: bool = False) -> None:
        if data:
            entry.log.write(data)
        if self.on_output is None:
            return
        text = entry.partial + data
        *lines, entry.partial = text.split(b"\n")
        if final and entry.partial:
            lines.append(entry.partial)
            entry.partial = b""
        for raw in lines:
            self.on_output(entry.job.stage, raw.decode(errors="replace").rstrip("\r"))

    def _read(self, entry: _Running, *, limit: int = 64) -> None:
        """Read what the job's pipe holds now (at most ``limit`` chunks); close it at EOF."""
        for _ in range(limit):
            if entry.pipe is None:
                return
            try:
                data = os.read(entry.pipe, _READ_SIZE)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._selector.unregister(entry.pipe)
                assert entry.proc.stdout is not None
                entry.proc.stdout.close()
                entry.pipe = None
                return
            self._emit(entry, data)

    # -- ending -----------------------------------------------------------------------------

    def _finish(self, pid: int, code: int) -> None:
        entry = self._running.pop(pid)
        self._warm_of.pop(pid, None)
        self._deadlines -= entry.deadline is not None
        # the job is gone; what is still in the pipe is its last output (a background
        # grandchild may hold the pipe open: it is not waited for)
        self._read(entry)
        if entry.pipe is not None:
            self._selector.unregister(entry.pipe)
            assert entry.proc.stdout is not None
            entry.proc.stdout.close()
            entry.pipe = None
        if entry.pidfd is not None:
            self._selector.unregister(entry.pidfd)
            os.close(entry.pidfd)
        self._emit(entry, b"", final=True)
        self.watchdog.release(pid)
        entry.log.close()
        self._done.append(
            JobResult(entry.job, code, entry.started, time.time(), timed_out=entry.timed_out)
        )

    def _reap(self, entry: _Running) -> None:
        code = entry.proc.poll()
        if code is not None:
            self._finish(entry.proc.pid, code)

    def _kill_timed_out(self, now: float) -> None:
        if self._deadlines == 0:
            return
        late = [e for e in self._running.values() if e.deadline is not None and now >= e.deadline]
        for entry in late:
            entry.timed_out = True
            entry.log.write(f"\nassay: timed out after {entry.job.timeout:g}s; killed\n".encode())
        self._kill([e.proc for e in late])
        for entry in late:
            self._finish(entry.proc.pid, entry.proc.returncode
                         if entry.proc.returncode is not None else -9)

    def _kill(self, procs: list[_Process]) -> None:
        """SIGTERM the groups, SIGKILL what is left after the grace period, reap the leaders."""
        for proc in procs:
            _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + KILL_GRACE_SECONDS
        while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
            time.sleep(0.02)
        for proc in procs:
            _signal_group(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)

    def wait(self, timeout: float) -> list[JobResult]:
        deadline = time.monotonic() + timeout
        while not self._done and self._running:
            now = time.monotonic()
            self._kill_timed_out(now)
            if self._done:
                break
            wake = deadline if not self._deadlines else min(
                [deadline, *(e.deadline for e in self._running.values() if e.deadline is not None)])
            pause = max(0.0, wake - now)
            if any(e.pidfd is None and not e.warm for e in self._running.values()):
                pause = min(pause, POLL_SECONDS)
            for key, _ in self._selector.select(pause):
                pid, what = key.data
                if what == "warm":
                    self._warm_exits(key.fileobj)  # type: ignore[arg-type]
                    continue
                entry = self._running.get(pid)
                if entry is None:
                    continue
                if what == "out":
                    self._read(entry)
                else:
                    self._reap(entry)
            for entry in [e for e in self._running.values() if e.pidfd is None and not e.warm]:
                self._reap(entry)
            if time.monotonic() >= deadline:
                break
        done, self._done = self._done, []
        return done

    def cancel(self) -> list[Job]:
        entries = list(self._running.values())
        self._kill([e.proc for e in entries])
        for entry in entries:
            code = entry.proc.returncode
            self._finish(entry.proc.pid, code if code is not None else -15)
        self._done = []
        return [e.job for e in entries]

    @property
    def running(self) -> int:
        return len(self._running)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.cancel()
        for worker in self._warm.values():
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(worker)
            worker.close()
        self._warm.clear()
        for worker in self._early.values():
            worker.close()
        self._early.clear()
        self.watchdog.close()
        self._selector.close()
