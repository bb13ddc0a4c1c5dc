"""Runs whose runner died: each pipeline run records who runs it (pid, host, boot, process start
time), and the next run marks the ``running`` runs of runners that are gone as ``interrupted``.

A SIGKILLed ``assay run`` cannot record its own end; without this its run and stage runs would
say ``running`` forever. A run of another host is never judged (we cannot see its processes).
"""

from __future__ import annotations

import os
import socket
import time
from typing import TYPE_CHECKING, Any

from assay.store import statements as sql

if TYPE_CHECKING:
    from assay.store import Store

INTERRUPTED_REASON = "its runner (pid {pid} on {host}) died before recording the end"


def _boot_id() -> str | None:
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def _start_ticks(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot, Linux); None if unknown or gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] in ("Z", "X"):  # a zombie has finished running
        return None
    return int(fields[19])


def runner_identity() -> dict[str, Any]:
    """This process, as recorded in ``runs.details["runner"]``."""
    pid = os.getpid()
    return {"pid": pid, "host": socket.gethostname(), "boot": _boot_id(),
            "start": _start_ticks(pid)}


def is_gone(identity: Any) -> bool:
    """True only when the process ``identity`` describes has certainly ended."""
    if not isinstance(identity, dict) or identity.get("host") != socket.gethostname():
        return False
    pid = identity.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    boot = _boot_id()
    if boot is not None and identity.get("boot") not in (None, boot):
        return True  # the machine rebooted since
    if os.path.isdir("/proc/self"):
        started = _start_ticks(pid)
        return started is None or (identity.get("start") not in (None, started))
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def interrupt_orphaned_runs(store: Store) -> list[dict[str, Any]]:
    """Mark ``running`` pipeline runs (and their running stage runs) of dead runners as
    ``interrupted``; returns the runner identities of the runs it marked."""
    with store.read() as conn:
        running = [(str(run_id), dict(details or {}))
                   for run_id, details in conn.execute(sql.RUNNING_PIPELINE_RUNS)]
    dead = [(run_id, details) for run_id, details in running if is_gone(details.get("runner"))]
    if not dead:
        return []
    now = time.time()
    marked = []
    with store.write() as conn:
        for run_id, details in dead:
            reason = INTERRUPTED_REASON.format(**details["runner"])
            done = conn.execute(sql.INTERRUPT_RUN, {"id": run_id, "ended_at": now,
                                                    "details": {**details, "reason": reason}})
            if not done.rowcount:
                continue  # someone else marked it meanwhile
            conn.execute(sql.END_RUNNING_STAGE_RUNS, {"run_id": run_id, "status": "interrupted",
                                                      "ended_at": now,
                                                      "details": {"reason": reason}})
            store.record_event("run.interrupted", run_id, {"reason": reason}, conn=conn)
            marked.append(details["runner"])
    return marked
