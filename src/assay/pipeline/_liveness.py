"""Runs whose runner died: each pipeline run records who runs it (pid, host, boot, process start
time), and the next run marks the ``running`` runs of runners that are gone as ``interrupted``.

A SIGKILLed ``assay run`` cannot record its own end; without this its run and stage runs would
say ``running`` forever. A run of another host is never judged (we cannot see its processes).
"""

from __future__ import annotations

import json
import os
import socket
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.store import RunStore

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


_RUNNING_SQL = "SELECT id, details FROM runs WHERE status = 'running' AND kind = 'pipeline'"
_INTERRUPT_RUN_SQL = ("UPDATE runs SET status = 'interrupted', ended_at = :now, details = :details"
                      " WHERE id = :id AND status = 'running'")
_INTERRUPT_STAGES_SQL = ("UPDATE stage_runs SET status = 'interrupted', ended_at = :now,"
                         " details = :details WHERE run_id = :id AND status = 'running'")


def interrupt_orphaned_runs(store: RunStore) -> list[dict[str, Any]]:
    """Mark ``running`` pipeline runs (and their running stage runs) of dead runners as
    ``interrupted``; returns the runner identities of the runs it marked."""
    from assay.store import DirectStore

    direct = isinstance(store, DirectStore)
    either: Any = store  # Store and DirectStore share read/write/record_event
    with either.read() as conn:
        running = _running_direct(conn) if direct else _running_full(conn)
    dead = [(run_id, details) for run_id, details in running if is_gone(details.get("runner"))]
    if not dead:
        return []
    now = time.time()
    mark = _mark_direct if direct else _mark_full
    marked = []
    with either.write() as conn:
        for run_id, details in dead:
            reason = INTERRUPTED_REASON.format(**details["runner"])
            if not mark(conn, run_id, now, {**details, "reason": reason}, {"reason": reason}):
                continue  # someone else marked it meanwhile
            either.record_event("run.interrupted", run_id, {"reason": reason}, conn=conn)
            marked.append(details["runner"])
    return marked


def _running_full(conn: Any) -> list[tuple[str, dict[str, Any]]]:
    from sqlalchemy import select

    from assay.store.tables import runs

    rows = conn.execute(select(runs.c.id, runs.c.details).where(
        (runs.c.status == "running") & (runs.c.kind == "pipeline"))).all()
    return [(str(row.id), dict(row.details or {})) for row in rows]


def _running_direct(conn: Any) -> list[tuple[str, dict[str, Any]]]:
    return [(str(run_id), dict(json.loads(raw) or {}) if raw else {})
            for run_id, raw in conn.execute(_RUNNING_SQL).fetchall()]


def _mark_full(conn: Any, run_id: str, now: float, run_details: dict[str, Any],
               stage_details: dict[str, Any]) -> bool:
    """Mark one run and its running stage runs; False if it was no longer running."""
    from assay.store.tables import runs, stage_runs

    done = conn.execute(
        runs.update().where((runs.c.id == run_id) & (runs.c.status == "running"))
        .values(status="interrupted", ended_at=now, details=run_details))
    if not done.rowcount:
        return False
    conn.execute(
        stage_runs.update()
        .where((stage_runs.c.run_id == run_id) & (stage_runs.c.status == "running"))
        .values(status="interrupted", ended_at=now, details=stage_details))
    return True


def _mark_direct(conn: Any, run_id: str, now: float, run_details: dict[str, Any],
                 stage_details: dict[str, Any]) -> bool:
    """:func:`_mark_full` through ``sqlite3`` (JSON columns as ``json.dumps`` text)."""
    done = conn.execute(_INTERRUPT_RUN_SQL, {"now": now, "id": run_id,
                                             "details": json.dumps(run_details)})
    if not done.rowcount:
        return False
    conn.execute(_INTERRUPT_STAGES_SQL, {"now": now, "id": run_id,
                                         "details": json.dumps(stage_details)})
    return True
