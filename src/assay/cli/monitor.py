"""``assay monitor``: one window of a deployment monitor, and the windows stored so far.

Printing only: the windows are computed and stored by :mod:`assay.monitoring`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from assay._console import escape
from assay.cli import _context as ctx

if TYPE_CHECKING:
    from assay.monitoring import WindowResult

MONITOR_HELP = """Compare a window of a deployment's live traffic with its reference.

assay monitor NAME reads the newest window of the prediction log of the
monitor's deployment (monitoring: {NAME: {deployment: ...}} in assay.yaml),
decides drift for every input column and the prediction with the drift engine
of the data contracts (corrected for testing many columns), stores the window,
and prints each column's statistic, value, p-value and status. Exits 1 when
the verdict is drift or a schema mismatch (a column missing or of another
type), when the window fails its contract's data quality checks, or when
its accuracy is shown below the monitor's min_accuracy, 0 otherwise (also
on insufficient data), 2 on usage or configuration errors.

Data quality: when the reference dataset has a contract (contracts: in
assay.yaml with data: that dataset), or the monitor names one (contract:
NAME), its row checks on the window's input columns (types, nulls, ranges,
allowed values, regex, lengths) run over the window, and the failed checks are
printed with their failing rows. contract: false checks none.

After storing the window, a drifted window's finding is sent to the alert
channels its routes name (alerts: in assay.yaml; see assay alerts list), at
most once per cooldown; a channel that is down or refuses never changes the
exit code (its failure is printed and recorded). --no-alerts sends none.

assay monitor history NAME lists the windows stored so far, with a sparkline
of each column's p-value over them; with --html FILE, a page with each
column's drift over the windows beside its distribution in the newest one.

Examples:

  assay monitor churn-drift

  assay monitor churn-drift --window-rows 5000 --json

  assay monitor churn-drift --since 1h --html drift.html

  assay monitor churn-drift --no-alerts

  assay monitor history churn-drift

  assay monitor history churn-drift --html history.html
"""

_SPARKS = "▁▂▃▄▅▆▇█"


def _when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _since_seconds(text: str) -> float:
    """``1h``, ``30m``, ``7d`` or an ISO time (UTC unless it says) -> seconds before now."""
    from datetime import datetime, timezone

    from assay.config._team import parse_duration
    from assay.errors import UsageError

    try:
        return parse_duration(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--since {text!r} is neither a duration (30m, 1h, 7d) nor an ISO "
                         "time (2026-12-06T03:00)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, time.time() - when.timestamp())


def _print_window(window: WindowResult) -> None:
    out = ctx.console()
    versions = ", ".join(window.versions) or "-"
    out.print(f"monitor {escape(window.monitor)}: deployment {escape(window.deployment)} "
              f"({escape(window.model)} v{escape(versions)}), {window.rows:,} rows "
              f"{_when(window.start)} .. {_when(window.end)}", soft_wrap=True)
    out.print(f"reference: {escape(window.reference)}", soft_wrap=True)
    table = ctx.table("column", "statistic", "value", "p-value", "values", "status", "note")
    styles = {"drift": "red", "schema_mismatch": "yellow", "insufficient_data": "dim"}
    for col in window.columns:
        style = styles.get(col.status)
        status = f"[{style}]{col.status}[/{style}]" if style else col.status
        name = col.column if col.role == "input" or col.column == "prediction" else (
            f"{col.column} (prediction)")
        table.add_row(escape(name), col.statistic or "-", _number(col.value),
                      _number(col.p_value), f"{col.values:,}", status, escape(col.reason or ""))
    out.print(table)
    if window.quality is not None:
        q = window.quality
        out.print(f"live {q['metric']}: {q['value']:.4g} on {q['labels']:,} labelled requests "
                  "(feedback)")
    if window.estimate is not None:
        e = window.estimate
        out.print(f"estimated {e['metric']} without labels: {e['value']:.3f} ({e['coverage']:.0%} "
                  f"interval {e['low']:.3f}-{e['high']:.3f}, {e['rows']:,} rows; assumes "
                  "calibrated probabilities)")
    if window.quality_alarm is not None:
        a = window.quality_alarm
        style = "red" if a["alarm"] else "green"
        word = "below" if a["alarm"] else "not shown below"
        out.print(f"quality: [{style}]{a['source']} {a['metric']} {a['value']:.3f} {word} the "
                  f"bound {a['bound']:g}[/{style}] (one-sided p={a['p_value']:.3g}, "
                  f"{a['n']:,} {'labels' if a['source'] == 'realised' else 'rows'})")
    if window.data_quality is not None:
        _print_checks(window)
    drifted = window.drifted
    tail = f": {', '.join(drifted)}" if drifted else ""
    out.print(f"verdict: [bold]{window.verdict}[/bold]{escape(tail)} (alpha "
              f"{window.alpha:g}, {window.correction} across {len(window.columns)} columns)"
              + (f"; window #{window.id} stored" if window.id is not None else ""))


def _print_checks(window: WindowResult) -> None:
    out = ctx.console()
    failed = window.failed_checks
    style = "red" if window.data_quality == "fail" else "green"
    out.print(f"data quality: [{style}]{window.data_quality}[/{style}] (contract "
              f"{escape(window.contract or '-')}: {len(window.quality_checks)} checks, "
              f"{len(failed)} failed)", soft_wrap=True)
    if not failed:
        return
    table = ctx.table("check", "severity", "failed rows", "rows", "message")
    for check in failed:
        rows = check["failed_rows"]
        table.add_row(escape(check["check"]), check["severity"],
                      "-" if rows is None else f"{rows:,}", f"{check['rows']:,}",
                      escape(check["message"]))
    out.print(table)


def _sparkline(values: list[float | None]) -> str:
    """One character per window: the p-value's height (low = a low p-value, ``·`` none)."""
    out = []
    for value in values:
        if value is None:
            out.append("·")
        else:
            out.append(_SPARKS[min(len(_SPARKS) - 1, int(max(0.0, value) * len(_SPARKS)))])
    return "".join(out)


def _history(name: str, json_out: bool, limit: int, html: Path | None) -> None:
    from assay.monitoring import monitor_config, windows

    monitor_config(ctx.project(), name)
    found = windows(ctx.store(), name, limit=limit)
    if html is not None:
        from assay.monitoring import write_history_html

        write_history_html(name, found, html)
    if json_out:
        ctx.print_json({"monitor": name, "windows": [w.to_dict() for w in found]})
        return
    out = ctx.console()
    if not found:
        out.print(f"monitor {escape(name)}: no windows yet; run: assay monitor {escape(name)}")
        return
    table = ctx.table("#", "computed", "rows", "versions", "verdict", "drifted")
    for w in found:
        table.add_row(str(w.id), _when(w.created_at), f"{w.rows:,}", ", ".join(w.versions),
                      w.verdict, escape(", ".join(w.drifted)))
    out.print(table)
    names: list[str] = []
    for w in found:
        names.extend(c.column for c in w.columns if c.column not in names)
    lines = ctx.table("column", "p-value over windows (oldest first)", "last status")
    for column in names:
        seen = [next((c for c in w.columns if c.column == column), None) for w in found]
        last = next((c.status for c in reversed(seen) if c is not None), "-")
        lines.add_row(escape(column), _sparkline([c.p_value if c else None for c in seen]),
                      last)
    out.print(lines)
    if html is not None:
        out.print(f"report: {escape(str(html))}")


def monitor(
    name: str = typer.Argument(..., metavar="NAME|history", help="The monitor (a key of "
                               "monitoring: in assay.yaml), or 'history'."),
    history_of: str | None = typer.Argument(None, metavar="NAME",
                                            help="With 'history': the monitor."),
    window_rows: int | None = typer.Option(None, "--window-rows", min=1,
                                           help="The newest N rows (instead of the "
                                           "monitor's window)."),
    since: str | None = typer.Option(None, "--since", help="The rows since a duration ago "
                                     "(30m, 1h, 7d) or an ISO time."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    html: Path | None = typer.Option(None, "--html", help="Also write an HTML report with "
                                     "each column's distribution (history: and its drift "
                                     "over the windows)."),
    limit: int = typer.Option(50, "--limit", min=1, help="history: the newest N windows."),
    no_alerts: bool = typer.Option(False, "--no-alerts", help="Send no alert for this window."),
) -> None:
    from assay.errors import UsageError

    if name == "history":
        if history_of is None:
            raise UsageError("assay monitor history needs the monitor's name: "
                             "assay monitor history NAME")
        _history(history_of, json_out, limit, html)
        return
    if history_of is not None:
        raise UsageError(f"unexpected argument {history_of!r}; to list windows run: "
                         f"assay monitor history {name}")
    if window_rows is not None and since is not None:
        raise UsageError("give one of --window-rows or --since")
    from assay._identity import current_user
    from assay.monitoring import run_monitor

    project = ctx.project()
    seconds = _since_seconds(since) if since is not None else None
    actor = current_user(project.root)
    store = ctx.store()
    window = run_monitor(project, store, name, actor=actor, rows=window_rows, seconds=seconds)
    deliveries = []
    if not no_alerts:
        from assay.alerts import send_alerts

        deliveries = send_alerts(project, store, window, actor=actor)
    if html is not None:
        from assay.monitoring import write_html

        write_html(window, html)
    if json_out:
        routed = not no_alerts and bool(project.config.alerts.routes)
        alerts = {"alerts": [d.to_dict() for d in deliveries]} if routed else {}
        ctx.print_json({**window.to_dict(), **alerts})
    else:
        _print_window(window)
        if html is not None:
            ctx.console().print(f"report: {escape(str(html))}")
    if deliveries and not json_out:
        from assay.cli.alerts import print_deliveries

        print_deliveries(deliveries)
    if window.verdict in ("drift", "schema_mismatch") or window.data_quality == "fail" or \
            (window.quality_alarm or {}).get("alarm"):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("monitor", help=MONITOR_HELP)(monitor)

