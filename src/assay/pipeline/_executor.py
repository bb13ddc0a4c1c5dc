"""Executors run stage jobs. The runner only speaks this small interface, so a distributed
executor (Ray) can replace the local process pool without touching the runner.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

KILL_GRACE_SECONDS = 3.0


@dataclass(frozen=True)
class Job:
    """One attempt at running one stage instance."""

    stage: str
    command: str | list[str]  # a shell string, or argv
    env: dict[str, str]
    cwd: Path
    log_path: Path
    timeout: float | None = None
    resources: dict[str, Any] = field(default_factory=dict)
    attempt: int = 1


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
    """Runs jobs concurrently. Every method is called from the runner's thread."""

    slots: int

    def submit(self, job: Job) -> None:
        """Start ``job`` (the runner never submits more than ``slots`` at once)."""
        ...

    def wait(self, timeout: float) -> list[JobResult]:
        """Block up to ``timeout`` seconds; return the jobs that ended since the last call."""
        ...

    def cancel(self) -> list[Job]:
        """Terminate every running job and its children; return what was cancelled."""
        ...

    def close(self) -> None:
        """Release resources."""
        ...


@dataclass
class _Running:
    job: Job
    proc: subprocess.Popen[bytes]
    started: float
    log: IO[bytes]
    reader: threading.Thread
    timed_out: bool = False


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the job's process group, SIGKILL it if it is still there after a grace period."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + KILL_GRACE_SECONDS
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


class LocalExecutor:
    """A pool of local subprocesses, each in its own process group (so kills reach children)."""

    def __init__(self, slots: int, *, on_output: OutputSink | None = None) -> None:
        self.slots = max(1, slots)
        self.on_output = on_output
        self._running: dict[int, _Running] = {}
        self._lines: queue.Queue[tuple[str, str]] = queue.Queue()
        self._done: list[JobResult] = []

    def submit(self, job: Job) -> None:
        job.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(job.log_path, "ab")  # noqa: SIM115 - closed when the job ends
        started = time.time()
        shell = isinstance(job.command, str)
        try:
            proc = subprocess.Popen(
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
        reader = threading.Thread(target=self._pump, args=(job.stage, proc, log), daemon=True)
        reader.start()
        self._running[proc.pid] = _Running(job, proc, started, log, reader)

    def _pump(self, stage: str, proc: subprocess.Popen[bytes], log: IO[bytes]) -> None:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            log.write(raw)
            log.flush()
            self._lines.put((stage, raw.decode(errors="replace").rstrip("\n")))

    def _drain_output(self) -> None:
        while True:
            try:
                stage, line = self._lines.get_nowait()
            except queue.Empty:
                return
            if self.on_output is not None:
                self.on_output(stage, line)

    def _finish(self, pid: int, code: int) -> None:
        entry = self._running.pop(pid)
        entry.reader.join(timeout=5)
        entry.log.close()
        self._done.append(
            JobResult(entry.job, code, entry.started, time.time(), timed_out=entry.timed_out)
        )

    def wait(self, timeout: float) -> list[JobResult]:
        deadline = time.monotonic() + timeout
        while True:
            now = time.time()
            for pid, entry in list(self._running.items()):
                code = entry.proc.poll()
                if code is None and entry.job.timeout is not None and (
                    now - entry.started > entry.job.timeout
                ):
                    entry.timed_out = True
                    entry.log.write(
                        f"\nassay: timed out after {entry.job.timeout:g}s; killed\n".encode()
                    )
                    _kill_group(entry.proc)
                    code = entry.proc.returncode if entry.proc.returncode is not None else -9
                if code is not None:
                    self._finish(pid, code)
            self._drain_output()
            if self._done or not self._running or time.monotonic() >= deadline:
                done, self._done = self._done, []
                return done
            time.sleep(0.002)

    def cancel(self) -> list[Job]:
        cancelled = []
        for pid, entry in list(self._running.items()):
            _kill_group(entry.proc)
            self._finish(pid, entry.proc.returncode if entry.proc.returncode is not None else -15)
            cancelled.append(entry.job)
        self._drain_output()
        self._done = []
        return cancelled

    @property
    def running(self) -> int:
        return len(self._running)

    def close(self) -> None:
        self.cancel()
