"""``assay report delivery``: DORA's four keys and the ML keys, from the metadata store.

Printing only: the figures are computed in :mod:`assay.delivery`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from assay._console import escape
from assay.cli import _context as ctx

REPORT_HELP = """Reports over the project's recorded history.

Examples:

  assay report delivery

  assay report delivery --since 90d --compare-to 180d..90d
"""

report_app = typer.Typer(help=REPORT_HELP, no_args_is_help=True)


@report_app.command("delivery", help="""Measure delivery: DORA's four keys and the ML keys.

Deployment frequency, lead time for changes (from the commit, and from the
data version, to production), change failure rate and time to restore, each
with DORA's performance band (elite, high, medium, low); model age in
production, retraining cadence, drift alert to retrained model in
production, gate pass rate, promotions approved by a person and time waiting
for approval. Computed from the metadata store (read only) over a window
(default: the last 30 days), with a trend per ISO week. Definitions:
docs/delivery.md.

DATE is an ISO date or date-time (UTC unless it says otherwise) or a
duration back from now (30d, 12h, 2w).

Examples:

  assay report delivery

  assay report delivery --since 2026-10-01 --until 2026-11-01

  assay report delivery --deployment churn-prod --compare-to 60d..30d

  assay report delivery --json

  assay report delivery --html delivery.html
""")
def delivery(
    since: str | None = typer.Option(None, "--since", metavar="DATE",
                                     help="Start of the window (default: 30 days before --until)."),
    until: str | None = typer.Option(None, "--until", metavar="DATE",
                                     help="End of the window (default: now)."),
    model: str | None = typer.Option(None, "--model", metavar="NAME",
                                     help="Only this model's deployments and versions."),
    deployment: str | None = typer.Option(None, "--deployment", metavar="NAME",
                                          help="Only this deployment."),
    compare_to: str | None = typer.Option(
        None, "--compare-to", metavar="SINCE..UNTIL",
        help="A second window, shown side by side with the change."),
    fix_window: str = typer.Option(
        "1h", "--fix-window", metavar="DURATION",
        help="A completed rollout whose alias is rolled back, or that another rollout "
             "replaces, within this time counts as a failed change."),
    json_out: bool = typer.Option(False, "--json", help="Print every figure as JSON."),
    html_file: Path | None = typer.Option(None, "--html", metavar="FILE",
                                          help="Also write an HTML report with plots."),
) -> None:
    import time

    from assay.delivery import delivery_report, make_window, parse_range
    from assay.errors import DeliveryError

    moment = time.time()
    window = make_window(since, until, now=moment)
    other = None if compare_to is None else parse_range(compare_to, now=moment)
    try:
        from assay.config._team import parse_duration

        fix = parse_duration(fix_window)
    except ValueError as exc:
        raise DeliveryError(f"--fix-window: {exc}", value=fix_window) from None
    project = ctx.project()
    report = delivery_report(ctx.store(), project.config, window=window, compare=other,
                             model=model, deployment=deployment, root=project.root,
                             fix_window=fix)
    if html_file is not None:
        from assay._atomic import write_text_atomic
        from assay.delivery import render_html

        title = f"Delivery report: {project.config.project or project.root.name}"
        write_text_atomic(html_file, render_html(report, title=title))
    if json_out:
        ctx.print_json(report.to_dict())
    else:
        _print(report)
    if html_file is not None:
        ctx.err_console().print(f"wrote {escape(str(html_file))}", soft_wrap=True)


def _print(report: object) -> None:
    from assay.delivery import DeliveryReport, figure_rows, week_rows

    assert isinstance(report, DeliveryReport)
    out = ctx.console()
    scope = report.scope
    what = "".join([f" model {scope.model}" if scope.model else "",
                    f" deployment {scope.deployment}" if scope.deployment else ""])
    out.print(f"Delivery{escape(what)}, {report.current.window.label} "
              f"({report.current.window.days:.1f} days; bands: DORA, see docs/delivery.md)",
              soft_wrap=True)
    headers, rows = figure_rows(report)
    table = ctx.table(*headers)
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    out.print(table)
    headers, rows = week_rows(report)
    if rows:
        out.print("Trend per ISO week")
        weekly = ctx.table(*headers)
        for row in rows:
            weekly.add_row(*(escape(cell) for cell in row))
        out.print(weekly)


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
