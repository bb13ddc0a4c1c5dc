"""Stage processes die with their runner, even when the runner is SIGKILLed.

Each job runs in its own session (so a kill reaches every process of it), which also means
nothing kills it when the runner dies. The runner therefore starts one small watchdog process
per run (this file, run as ``python -I -S _watchdog.py``: standard library only, a few ms) and
tells it, through a pipe only the runner holds, the process group of every job it starts
(``+PGID``) and reaps (``-PGID``). When the pipe closes without the runner having reaped a job
(the runner died), the watchdog SIGTERMs the groups still listed, SIGKILLs what is left after a
grace period, and exits. It also holds the run lock of the project (an inherited descriptor
of ``.assay/run.lock``), so the next ``assay run`` only starts once the orphans are gone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

GRACE_SECONDS = 3.0


class Watchdog:
    """The runner's side: starts the watchdog on first use and keeps it informed."""

    def __init__(self, *, hold_fds: tuple[int, ...] = ()) -> None:
        self.hold_fds = hold_fds
        self._proc: subprocess.Popen[bytes] | None = None
        self._failed = False

    def start(self) -> None:
        """Start the watchdog process (once; before the first job, so none escapes it)."""
        if self._proc is not None or self._failed:
            return
        _reap_detached()
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", str(Path(__file__)), str(GRACE_SECONDS)],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, pass_fds=self.hold_fds,
                start_new_session=True,  # Ctrl-C on the terminal is the runner's to handle
            )
        except OSError:
            self._failed = True  # jobs still run; they just lose this safety net

    def _send(self, text: str) -> None:
        self.start()
        if self._proc is None:
            return
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(text.encode())
            self._proc.stdin.flush()
        except OSError:
            self._failed = True
            self._proc = None

    def watch(self, pgid: int) -> None:
        """Kill group ``pgid`` if the runner dies before :meth:`release`."""
        self._send(f"+{pgid}\n")

    def release(self, pgid: int) -> None:
        """Group ``pgid`` was reaped (or killed) by the runner itself."""
        self._send(f"-{pgid}\n")

    def close(self) -> None:
        """Let the watchdog go: it kills whatever is still listed (normally nothing) and exits
        on its own; the runner does not wait for that."""
        if self._proc is None:
            return
        proc, self._proc = self._proc, None
        with contextlib.suppress(OSError):
            assert proc.stdin is not None
            proc.stdin.close()
        if proc.poll() is None:
            _DETACHED.append(proc)  # reaped by a later watchdog of this process, if any


_DETACHED: list[subprocess.Popen[bytes]] = []


def _reap_detached() -> None:
    _DETACHED[:] = [p for p in _DETACHED if p.poll() is None]


def _group_exists(pgid: int) -> bool:
    """True while a process of group ``pgid`` runs (zombies do not count: orphans are reaped
    by init, or by nobody in some containers)."""
    if os.path.isdir("/proc/self"):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    fields = handle.read().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
                return True
        return False
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_all(groups: set[int], grace: float) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pgid in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, sig)
        deadline = time.monotonic() + (grace if sig == signal.SIGTERM else 1.0)
        while any(_group_exists(g) for g in groups) and time.monotonic() < deadline:
            time.sleep(0.02)
        groups = {g for g in groups if _group_exists(g)}
        if not groups:
            return


def main(argv: list[str]) -> int:
    """Read ``+PGID`` / ``-PGID`` lines from stdin until EOF, then kill what is left."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    grace = float(argv[1]) if len(argv) > 1 else GRACE_SECONDS
    groups: set[int] = set()
    pending = b""
    while True:
        try:
            chunk = os.read(0, 4096)
        except InterruptedError:
            continue
        except OSError:
            break
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line[:1] == b"+":
                groups.add(int(line[1:]))
            elif line[:1] == b"-":
                groups.discard(int(line[1:]))
    if groups:
        _kill_all(groups, grace)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
