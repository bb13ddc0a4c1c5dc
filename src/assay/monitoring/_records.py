"""A monitor's windows in the metadata store: one row per window, and a ``monitor.window``
event with its verdict, written in one transaction."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from assay.store import statements as sql

if TYPE_CHECKING:
    from assay.monitoring._window import WindowResult
    from assay.store import Store


def record_window(store: Store, window: WindowResult, *, actor: str) -> WindowResult:
    """Store ``window`` and its event; returns it with its ``id`` and ``created_at``."""
    now = time.time()
    with store.write() as conn:
        window_id = int(conn.execute(sql.INSERT_MONITOR_WINDOW, {
            "monitor": window.monitor, "deployment": window.deployment, "model": window.model,
            "versions": window.versions, "window_start": window.start,
            "window_end": window.end, "rows": window.rows, "verdict": window.verdict,
            "columns": {"alpha": window.alpha, "correction": window.correction,
                        "quality": window.quality, "estimate": window.estimate,
                        "data_quality": window.data_quality, "contract": window.contract,
                        "quality_checks": window.quality_checks,
                        "quality_alarm": window.quality_alarm,
                        "columns": [c.to_dict() for c in window.columns]},
            "reference": window.reference,
            "reference_hash": window.reference_hash, "actor": actor, "created_at": now,
        }).scalar())
        store.record_event("monitor.window", window.monitor, {
            "window_id": window_id, "deployment": window.deployment, "model": window.model,
            "versions": window.versions, "rows": window.rows, "verdict": window.verdict,
            "drifted": window.drifted, "quality": window.quality, "estimate": window.estimate,
            "data_quality": window.data_quality,
            "failed_checks": [c["check"] for c in window.failed_checks],
            "quality_alarm": window.quality_alarm,
        }, actor=actor, conn=conn, ts=now)
    return replace(window, id=window_id, created_at=now)


def windows(store: Store, monitor: str, *, limit: int = 50) -> list[WindowResult]:
    """The monitor's stored windows, oldest first (the newest ``limit``)."""
    from assay.monitoring._window import ColumnResult, WindowResult

    with store.read() as conn:
        rows = conn.execute(sql.MONITOR_WINDOWS, {"monitor": monitor, "limit": limit}).fetchall()
    out = []
    for (window_id, name, deployment, model, versions, start, end, count, verdict, columns,
         reference, reference_hash, _actor, created_at) in reversed(rows):
        decided: dict[str, Any] = dict(columns or {})
        cols: list[dict[str, Any]] = list(decided.get("columns") or [])
        out.append(WindowResult(
            monitor=name, deployment=deployment, model=model, versions=list(versions or []),
            start=start, end=end, rows=int(count), verdict=verdict,
            columns=[ColumnResult(**c) for c in cols], reference=reference,
            reference_hash=reference_hash, alpha=float(decided.get("alpha", 0.05)),
            correction=str(decided.get("correction", "bh")), quality=decided.get("quality"),
            estimate=decided.get("estimate"), data_quality=decided.get("data_quality"),
            contract=decided.get("contract"),
            quality_checks=list(decided.get("quality_checks") or []),
            quality_alarm=decided.get("quality_alarm"), id=int(window_id),
            created_at=float(created_at)))
    return out
