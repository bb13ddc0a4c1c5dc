"""The cache's writer/collector lock: ``<cache>/gc.lock``, shared by writers, exclusive for gc.

Every write into the cache (an add, a download, a stage out) happens while its process holds the
lock *shared*, and the commands that write an object and then record a reference to it (``data
add``, ``data pull``, ``assay run``, ``log_artifact``, ``log_model``, registration) hold it until
the reference is recorded. ``assay gc`` takes it *exclusive*, so it never sees an object that is
written but not yet referenced, and never runs while a temp file is being filled. The file lives
in the cache folder itself, so projects sharing a ``cache.dir`` respect each other.

A process takes the lock once, however deeply its writes nest (a count per cache folder); a
forked child takes its own. ``flock`` locks belong to the open file, so the kernel releases them
when the holder dies, even after a SIGKILL. Shared requests are granted while gc waits (Linux has
no writer preference), so a run whose stages also write never deadlocks with a waiting gc.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from assay.errors import ConcurrencyError, ObjectError
from assay.objects._faults import local_fault

LOCK_NAME = "gc.lock"
_POLL_SECONDS = 0.05


class _Held:
    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.count = 0
        self.pid = os.getpid()


_HELD: dict[str, _Held] = {}
_GUARD = threading.Lock()


def _open(root: Path) -> int:
    try:
        root.mkdir(parents=True, exist_ok=True)
        return os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        fault = local_fault(exc, path=root, doing="opening the cache lock",
                            outcome="nothing was changed")
        if fault is not None:
            raise fault from None
        raise ObjectError(f"Cannot open the cache lock {root / LOCK_NAME}: "
                          f"{exc.strerror or exc}") from None


@contextlib.contextmanager
def writing(root: Path) -> Iterator[None]:
    """Hold the cache lock shared (waits while gc runs); re-entrant within a process."""
    key = os.fspath(root)
    with _GUARD:
        held = _HELD.get(key)
        if held is not None and held.pid != os.getpid():  # inherited through fork: not ours
            held = None
        if held is None:
            fd = _open(root)
            try:
                fcntl.flock(fd, fcntl.LOCK_SH)
            except BaseException:
                os.close(fd)
                raise
            held = _HELD[key] = _Held(fd)
        held.count += 1
    try:
        yield
    finally:
        with _GUARD:
            held.count -= 1
            if held.count == 0 and _HELD.get(key) is held:
                del _HELD[key]
                with contextlib.suppress(OSError):
                    fcntl.flock(held.fd, fcntl.LOCK_UN)
                os.close(held.fd)


def is_writing(root: Path) -> bool:
    """True if this process holds the cache lock shared."""
    held = _HELD.get(os.fspath(root))
    return held is not None and held.pid == os.getpid()


@contextlib.contextmanager
def collecting(root: Path, *, timeout: float,
               on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the cache lock exclusively (no writer is active meanwhile); ``on_wait`` is called
    once if writers make it wait.

    Raises:
        ConcurrencyError: writers held it for ``timeout`` seconds, or this very process holds
            it shared (gc inside a writing command would wait for itself).
    """
    if is_writing(root):
        raise ConcurrencyError(
            "assay gc cannot run inside a command that writes to the cache (it would wait for "
            "itself); run it on its own", lock=os.fspath(root / LOCK_NAME))
    fd = _open(root)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if on_wait is not None:
                    on_wait()
                    on_wait = None
                if time.monotonic() >= deadline:
                    raise ConcurrencyError(
                        f"Other assay commands kept writing to the cache ({root}) for "
                        f"{timeout:.0f} s (an assay run in progress?); run gc again when "
                        "they have finished", lock=os.fspath(root / LOCK_NAME)) from None
                time.sleep(_POLL_SECONDS)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
