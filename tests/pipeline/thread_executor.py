"""An executor that is not the local pool: each job runs ``subprocess.run`` on a worker thread.

It only implements the :class:`assay.pipeline.Executor` protocol, to prove the runner needs
nothing else (a Ray executor plugs in the same way), and it records the jobs it was given.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from assay.pipeline import Job, JobResult


class ThreadExecutor:
    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.jobs: list[Job] = []
        self._pool = ThreadPoolExecutor(slots)
        self._results: queue.Queue[JobResult] = queue.Queue()
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()
        self._cancelled: set[str] = set()

    def _run(self, job: Job) -> None:
        started = time.time()
        job.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = job.command if isinstance(job.command, list) else ["/bin/bash", "-c",
                                                                     job.command]
        with open(job.log_path, "ab") as log:
            proc = subprocess.Popen(command, cwd=job.cwd, env=job.env, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            with self._lock:
                self._procs[job.stage] = proc
            try:
                code = proc.wait(timeout=job.timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                code, timed_out = proc.wait(), True
        with self._lock:
            self._procs.pop(job.stage, None)
            if job.stage in self._cancelled:
                return
        self._results.put(JobResult(job, code, started, time.time(), timed_out=timed_out))

    def submit(self, job: Job) -> None:
        self.jobs.append(job)
        self._pool.submit(self._run, job)

    def wait(self, timeout: float) -> list[JobResult]:
        done: list[JobResult] = []
        with contextlib.suppress(queue.Empty):
            done.append(self._results.get(timeout=timeout))
            while True:
                done.append(self._results.get_nowait())
        return done

    def cancel(self) -> list[Job]:
        with self._lock:
            running = dict(self._procs)
            self._cancelled.update(running)
        for proc in running.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        return [j for j in self.jobs if j.stage in running]

    def prewarm(self, job: Job) -> None:
        pass  # nothing to get ready: each job is a fresh subprocess

    def close(self) -> None:
        self.cancel()
        self._pool.shutdown(wait=True)
