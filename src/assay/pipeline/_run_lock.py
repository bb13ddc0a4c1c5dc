"""One ``assay run`` at a time per project: an exclusive ``flock`` on ``.assay/run.lock``.

The lock belongs to the open file, so the kernel releases it when its last holder exits, even
after a SIGKILL. The runner's watchdog inherits the descriptor: a killed runner's lock is only
released once the watchdog has killed the runner's stage processes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from assay.errors import ConcurrencyError

LOCK_NAME = "run.lock"


class _Messages(Protocol):
    def message(self, text: str) -> None: ...


@dataclass(frozen=True)
class HeldLock:
    """The held run lock: ``fd`` may be passed to helper processes that must hold it too."""

    path: Path
    fd: int


@contextlib.contextmanager
def file_lock(path: Path, *, busy: Callable[[], BaseException | None]) -> Iterator[int]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing); yields its descriptor.
    When another process holds it, ``busy()`` returns the error to raise, or None to wait for
    the holder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            error = busy()
            if error is not None:
                raise error from None
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield fd
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)  # also for a watchdog still holding the descriptor
    finally:
        os.close(fd)


@contextlib.contextmanager
def run_lock(state_dir: Path, *, wait: bool, reporter: _Messages) -> Iterator[HeldLock]:
    """Hold the project's run lock: wait for the holder, or refuse with ``wait=False``.

    Raises:
        ConcurrencyError: another run holds the lock and ``wait`` is False.
    """
    path = state_dir / LOCK_NAME

    def busy() -> BaseException | None:
        if not wait:
            return ConcurrencyError(
                "Another assay run is in progress in this project (.assay/run.lock); "
                "wait for it, or run again without --no-wait to queue behind it",
                lock=str(path))
        reporter.message("Waiting for another assay run in this project to finish...")
        return None

    with file_lock(path, busy=busy) as fd:
        yield HeldLock(path, fd)
