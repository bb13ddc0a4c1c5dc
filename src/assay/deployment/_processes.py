"""What this machine says about a process: is it alive, what command runs in it, who is its
parent. Read from ``/proc`` where there is one, else from ``ps``.

The managed server of a deployment (:mod:`assay.deployment._server`) is recognised by these
before it is ever signalled: a pid file may outlive its process, and the pid may have been
given to another process since.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import subprocess
from pathlib import Path

_PROC = Path("/proc")


def is_alive(pid: int) -> bool:
    """True while process ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, and someone else's
        pass
    stat = _stat(pid)
    if stat is not None:
        return stat[0] not in ("Z", "X")
    state = _ps(pid, "state")
    return state is not None and not state.startswith("Z")


def parent_of(pid: int) -> int | None:
    """The parent of process ``pid`` (None when it is gone)."""
    stat = _stat(pid)
    if stat is not None:
        return int(stat[1])
    found = _ps(pid, "ppid")
    return int(found) if found and found.isdigit() else None


def command_of(pid: int) -> list[str] | None:
    """The command line of process ``pid`` (None when it is gone or hidden)."""
    try:
        raw = (_PROC / str(pid) / "cmdline").read_bytes()
    except FileNotFoundError:
        if _PROC.is_dir():
            return None
        found = _ps(pid, "command")
        return found.split() if found else None
    except OSError:
        return None
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def port_is_free(host: str, port: int) -> bool:
    """False when something holds ``host:port`` (a server could not bind it, as uvicorn does,
    with SO_REUSEADDR); True otherwise, also when the address cannot be bound for another
    reason (the server's own start reports that)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.errno != errno.EADDRINUSE
    return True


def _stat(pid: int) -> tuple[str, str] | None:
    """(state, parent pid) from ``/proc/PID/stat``."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()  # the command name may hold spaces
    return fields[0], fields[1]


def _ps(pid: int, field: str) -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(["ps", "-o", f"{field}=", "-p", str(pid)], capture_output=True,
                              text=True, timeout=5, check=False)
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip()
    return None
