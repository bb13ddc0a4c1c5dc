"""The report's figures as rows of short text (the terminal table and the HTML page share them):
one row per figure, its value, its band, and with a comparison window the other value and the
change."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from assay.delivery._bands import (
    failure_rate_band,
    frequency_band,
    lead_time_band,
    restore_band,
)
from assay.delivery._figures import Figures, median, p90

if TYPE_CHECKING:
    from assay.delivery._report import DeliveryReport

NO_DATA = "no data"


def duration(seconds: float | None) -> str:
    """``45s``, ``12 min``, ``3.5 h`` or ``2.1 d`` (``no data`` for None)."""
    if seconds is None:
        return NO_DATA
    sign = "-" if seconds < 0 else ""
    s = abs(seconds)
    if s < 120:
        return f"{sign}{s:.0f}s"
    if s < 2 * 3600:
        return f"{sign}{s / 60:.0f} min"
    if s < 48 * 3600:
        return f"{sign}{s / 3600:.1f} h"
    return f"{sign}{s / 86400:.1f} d"


def percent(share: float | None) -> str:
    return NO_DATA if share is None else f"{100 * share:.0f}%"


def _spread(values: list[float]) -> str:
    if not values:
        return NO_DATA
    return f"median {duration(median(values))}, p90 {duration(p90(values))} (n={len(values)})"


@dataclass(frozen=True)
class _Row:
    name: str
    text: Callable[[Figures], str]
    value: Callable[[Figures], float | None]
    band: Callable[[Figures], str | None]
    unit: str  # "duration", "percent" or "rate": how a change is written


def _frequency(f: Figures) -> str:
    return f"{f.deployments} ({f.per_day:.2f}/day, {7 * f.per_day:.2f}/week)"


def _failure(f: Figures) -> str:
    if not f.finished:
        return NO_DATA + (f" ({f.in_progress} in progress)" if f.in_progress else "")
    return (f"{percent(f.failure_rate)} ({f.failed} of {f.finished} finished"
            + (f", {f.in_progress} in progress" if f.in_progress else "") + ")")


def _restore(f: Figures) -> str:
    if not f.incidents:
        return NO_DATA
    text = _spread(f.restores) if f.restores else "none restored"
    return text + (f", {f.unrestored} open" if f.unrestored else "")


def _ratio_text(part: int, whole: int) -> str:
    return NO_DATA if not whole else f"{100 * part / whole:.0f}% ({part} of {whole})"


def _age(f: Figures) -> str:
    if not f.serving:
        return NO_DATA
    return "; ".join(f"{s['deployment']} v{s['version']}: {duration(s['age_seconds'])}"
                     for s in f.serving)


def _cadence(f: Figures) -> str:
    if not f.retrain_gaps:
        return NO_DATA + (f" ({f.registering_runs} run)" if f.registering_runs else "")
    return f"median {duration(median(f.retrain_gaps))} between {f.registering_runs} runs"


_ROWS = (
    _Row("deployment frequency", _frequency, lambda f: f.per_day,
         lambda f: frequency_band(f.per_day) if f.deployments else None, "rate"),
    _Row("lead time (commit)", lambda f: _spread(f.lead), lambda f: median(f.lead),
         lambda f: lead_time_band(median(f.lead)), "duration"),
    _Row("lead time (data)", lambda f: _spread(f.data_lead), lambda f: median(f.data_lead),
         lambda f: None, "duration"),
    _Row("change failure rate", _failure, lambda f: f.failure_rate,
         lambda f: failure_rate_band(f.failure_rate), "percent"),
    _Row("time to restore", _restore, lambda f: median(f.restores),
         lambda f: restore_band(median(f.restores)), "duration"),
    _Row("model age in production", _age,
         lambda f: max((s["age_seconds"] for s in f.serving), default=None), lambda f: None,
         "duration"),
    _Row("retraining cadence", _cadence, lambda f: median(f.retrain_gaps), lambda f: None,
         "duration"),
    _Row("drift alert to production", lambda f: _spread(f.drift_to_production),
         lambda f: median(f.drift_to_production), lambda f: None, "duration"),
    _Row("gate pass rate", lambda f: _ratio_text(f.evaluations_passed, f.evaluations),
         lambda f: f.evaluations_passed / f.evaluations if f.evaluations else None,
         lambda f: None, "percent"),
    _Row("promotions approved by a person",
         lambda f: _ratio_text(f.approved_promotions, f.promotions),
         lambda f: f.approved_promotions / f.promotions if f.promotions else None,
         lambda f: None, "percent"),
    _Row("time waiting for approval", lambda f: _spread(f.approval_waits),
         lambda f: median(f.approval_waits), lambda f: None, "duration"),
)


def _change(row: _Row, now: float | None, then: float | None) -> str:
    if now is None or then is None:
        return "-"
    delta = now - then
    if row.unit == "duration":
        return ("+" if delta >= 0 else "") + duration(delta)
    if row.unit == "percent":
        return f"{100 * delta:+.0f} pts"
    return f"{delta:+.2f}/day"


def figure_rows(report: DeliveryReport) -> tuple[list[str], list[list[str]]]:
    """``(headers, rows)``: figure, value, band (and the comparison window's value and band,
    and the change from it)."""
    now, then = report.current, report.compare
    if then is None:
        headers = ["figure", now.window.label, "band"]
    else:
        headers = ["figure", now.window.label, "band", then.window.label, "band", "change"]
    rows = []
    for row in _ROWS:
        cells = [row.name, row.text(now), row.band(now) or "-"]
        if then is not None:
            cells += [row.text(then), row.band(then) or "-",
                      _change(row, row.value(now), row.value(then))]
        rows.append(cells)
    return headers, rows


def week_rows(report: DeliveryReport) -> tuple[list[str], list[list[str]]]:
    """``(headers, rows)`` of the ISO-week trend."""
    headers = ["week", "deployments", "failed", "failure rate", "lead time (median)",
               "restore (median)", "gate pass rate"]
    rows = [[w.week, str(w.figures.deployments), f"{w.figures.failed}/{w.figures.finished}",
             percent(w.figures.failure_rate), duration(median(w.figures.lead)),
             duration(median(w.figures.restores)),
             _ratio_text(w.figures.evaluations_passed, w.figures.evaluations)]
            for w in report.weeks]
    return headers, rows
