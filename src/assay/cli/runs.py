"""``assay runs``: list, show, compare tracked runs and export a metric's history."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import typer

from assay.cli import _context as ctx

runs_app = typer.Typer(help="Tracked runs: list, show, compare, metric history.",
                       no_args_is_help=True)


def _store() -> Any:
    """The project's store without validating all of assay.yaml (pydantic costs ~0.3 s).

    Same precedence as ``Project.store_url``: ``ASSAY_STORE_URL``, ``store:`` in assay.yaml,
    then SQLite in ``.assay/``.
    """
    import os

    url = os.environ.get("ASSAY_STORE_URL", "").strip()
    if not url:
        from assay.pipeline._fastpath import project_root

        root = project_root(ctx.GLOBALS.project_dir)
        if root is None:
            return ctx.store()  # the full loader explains what is wrong
        import yaml

        try:
            data = yaml.safe_load((root / "assay.yaml").read_text()) or {}
        except (OSError, yaml.YAMLError):
            ctx.project()  # the full loader reports the file, line and key
            raise
        configured = data.get("store") if isinstance(data, dict) else None
        url = configured if isinstance(configured, str) and configured else (
            f"sqlite:///{root / '.assay' / 'assay.db'}")
    from assay.store import open_store

    return open_store(url)


def _wide() -> Any:
    """The console, or for pipes and CI logs a wide one (tables of runs are wide)."""
    import sys

    from rich.console import Console

    out = ctx.console()
    return out if out.is_terminal else Console(file=sys.stdout, width=200, highlight=False)


def _when(ts: float | None) -> str:
    return "-" if ts is None else dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _esc(text: str) -> str:
    return text.replace("[", "\\[")


@runs_app.command("list")
def list_cmd(
    stage: str | None = typer.Option(None, "--stage", help="Only this stage (or matrix group)."),
    param: list[str] = typer.Option([], "--param", help="KEY=VALUE (repeatable)."),
    metric: list[str] = typer.Option([], "--metric", help="e.g. 'roc_auc>0.8' (repeatable)."),
    tag: list[str] = typer.Option([], "--tag", help="KEY=VALUE (repeatable)."),
    limit: int = typer.Option(20, "--limit", min=1, help="At most this many runs."),
    include_cached: bool = typer.Option(False, "--cached", help="Include stage runs served from cache."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List tracked stage runs, newest first.

    Examples:
      assay runs list --stage train --metric 'roc_auc>0.8'
      assay runs list --param model=rf --json
    """
    from assay.tracking import MetricFilter, list_runs, parse_pairs

    with _store() as store:
        rows = list_runs(
            store, stage=stage, params=parse_pairs(param, "--param"),
            metric_filters=[MetricFilter.parse(m) for m in metric],
            tags=parse_pairs(tag, "--tag"), limit=limit, include_cached=include_cached,
        )
    if json_out:
        ctx.print_json([r.to_json() for r in rows])
        return
    from rich.table import Table

    keys = sorted({k for r in rows for k in r.metrics})[:6]
    table = Table(box=None, header_style="bold")
    for col in ("id", "run", "stage", "status", "started", *keys):
        table.add_column(col, justify="right" if col in keys else "left")
    for r in rows:
        table.add_row(r.id[:8], r.run_id[:8], _esc(r.stage), r.status, _when(r.started_at),
                      *[_fmt(r.metrics[k]) if k in r.metrics else "-" for k in keys])
    if not rows:
        ctx.console().print("No runs match.")
        return
    _wide().print(table)


@runs_app.command("show")
def show(
    run: str = typer.Argument(..., help="A stage-run or run id (a prefix of 4+ characters)."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Show a run: status, params, latest metrics, tags and artifacts.

    Example: assay runs show 1a2b3c4d
    """
    from assay.tracking import get_runs, resolve

    with _store() as store:
        rows = get_runs(store, resolve(store, run))
    if json_out:
        ctx.print_json([r.to_json() for r in rows])
        return
    out = ctx.console()
    for r in rows:
        duration = "-" if r.ended_at is None else f"{r.ended_at - r.started_at:.2f}s"
        out.print(f"[bold]{_esc(r.stage)}[/] {r.id}  (run {r.run_id}, {r.run_kind}, "
                  f"trigger {r.trigger})")
        out.print(f"  status: {r.status}{' (cached)' if r.cached else ''}  started: "
                  f"{_when(r.started_at)}  duration: {duration}  commit: {r.git_commit or '-'}")
        for title, values in (("params", r.params), ("metrics", r.metrics), ("tags", r.tags)):
            if values:
                out.print(f"  {title}:")
                for key in sorted(values):
                    out.print(f"    {_esc(key)}: {_esc(_fmt(values[key]))}")
        if r.artifacts:
            out.print("  artifacts:")
            for a in r.artifacts:
                out.print(f"    {_esc(a['path'])} ({a['kind']}, {a['size']} bytes, {a['hash'][:12]})")


@runs_app.command("compare")
def compare(
    runs: list[str] = typer.Argument(..., help="Two or more stage-run or run ids."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Params and metrics side by side; rows that differ are highlighted.

    Example: assay runs compare 1a2b3c4d 5e6f7a8b
    """
    from assay.errors import UsageError
    from assay.tracking import compare_runs, get_runs, resolve

    with _store() as store:
        ids = [i for ref in runs for i in resolve(store, ref)]
        if len(ids) < 2:
            raise UsageError("Give at least two runs to compare (a run id expands to its stages)")
        result = compare_runs(get_runs(store, ids))
    if json_out:
        ctx.print_json(result)
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    table.add_column("")
    for r in result["runs"]:
        table.add_column(f"{_esc(r['stage'])}\n{r['id'][:8]}", justify="right")
    for section in ("params", "metrics"):
        table.add_row(f"[bold]{section}[/]", *["" for _ in result["runs"]])
        for row in result[section]:
            style = "yellow" if row["differs"] else "dim"
            cells = ["-" if v is None else _esc(_fmt(v)) for v in row["values"]]
            table.add_row(f"[{style}]{_esc(row['key'])}[/]", *[f"[{style}]{c}[/]" for c in cells])
    _wide().print(table)


@runs_app.command("metric")
def metric(
    run: str = typer.Argument(..., help="A stage-run id (or a run with one stage)."),
    key: str = typer.Argument(..., help="The metric key."),
    csv: Path | None = typer.Option(None, "--csv", help="Write step,value,timestamp as CSV."),
    plot: Path | None = typer.Option(None, "--plot", help="Write a plot: .png or .html."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """A metric's history over steps; export as CSV or plot it to PNG/HTML.

    Example: assay runs metric 1a2b3c4d loss --csv loss.csv --plot loss.png
    """
    from assay.errors import UsageError
    from assay.tracking import metric_history, resolve

    with _store() as store:
        ids = resolve(store, run)
        if len(ids) != 1:
            raise UsageError(f"Run {run!r} has {len(ids)} stage runs; give one stage-run id "
                             "(see: assay runs show)")
        history = metric_history(store, ids[0], key)
    if plot is not None and plot.suffix.lower() not in (".png", ".html", ".htm"):
        raise UsageError(f"--plot must end in .png or .html, got {plot.name!r}")
    if csv is not None:
        from assay._atomic import write_text_atomic

        write_text_atomic(csv, "step,value,timestamp\n" + "".join(
            f"{s},{v!r},{t!r}\n" for s, v, t in history))
    if plot is not None:
        from assay.tracking._plot import plot_history

        plot_history(history, key, plot)
    if json_out:
        ctx.print_json({"run": ids[0], "key": key,
                        "history": [{"step": s, "value": v, "ts": t} for s, v, t in history]})
        return
    for s, v, _ in history:
        typer.echo(f"{s}\t{_fmt(v)}")


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")
