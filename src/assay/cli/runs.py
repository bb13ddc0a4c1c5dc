"""``assay runs``: list, show, compare tracked runs, their environment and a metric's history.

Kept cheap to start: these commands read through :func:`assay.tracking.open_reader` (plain
``sqlite3`` for a local store) and load neither SQLAlchemy nor the full assay.yaml schema.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from assay._console import escape
from assay.cli import _context as ctx

if TYPE_CHECKING:
    from assay.tracking import RunRow

runs_app = typer.Typer(help="Tracked runs: list, show, compare, environment, metric history.",
                       no_args_is_help=True)

MISSING = "(missing)"


def _source() -> str:
    """The project's store URL without validating all of assay.yaml (pydantic costs ~0.3 s)
    when :func:`assay._layout.known_store_url` can tell it, else from the loaded project."""
    from assay._layout import find_root, known_store_url

    root = find_root(ctx.GLOBALS.project_dir)
    return known_store_url(root) or ctx.project().store_url


def _when(ts: float | None) -> str:
    return "-" if ts is None else dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _secs(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.2f}s"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _commit(row: RunRow) -> str:
    if not row.git_commit:
        return "-"
    return row.git_commit[:12] + (" (dirty)" if row.git_dirty else "")


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

    rows = list_runs(
        _source(), stage=stage, params=parse_pairs(param, "--param"),
        metric_filters=(filters := [MetricFilter.parse(m) for m in metric]),
        tags=parse_pairs(tag, "--tag"), limit=limit, include_cached=include_cached,
    )
    if json_out:
        ctx.print_json([r.to_json() for r in rows])
        return
    if not rows:
        typer.echo("No runs match.")
        return
    keys = _shown_metrics({k for r in rows for k in r.metrics}, [f.key for f in filters])
    _print_columns(
        ["id", "run", "stage", "status", "started", *keys],
        [[r.id[:8], r.run_id[:8], r.stage, r.status, _when(r.started_at),
          *[_fmt(r.metrics[k]) if k in r.metrics else "-" for k in keys]] for r in rows],
        right=len(keys),
    )


#: The columns ``runs list`` shows first when a run logged them (six fit in a CI log line).
HEADLINE_METRICS = ("roc_auc", "accuracy", "f1", "log_loss", "rmse", "r2", "mae")


def _shown_metrics(logged: set[str], filtered: list[str]) -> list[str]:
    """Six metric columns: the filtered ones, then the headline metrics, then by name."""
    ordered = [*filtered, *[k for k in HEADLINE_METRICS if k in logged], *sorted(logged)]
    return [k for k in dict.fromkeys(ordered) if k in logged][:6]


def _print_columns(header: list[str], rows: list[list[str]], *, right: int) -> None:
    """Aligned plain-text columns (the last ``right`` ones right-aligned); a bold header on a
    terminal. Plain text rather than a rich table: ``runs list`` is meant to start fast."""
    import os
    import sys

    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    split = len(header) - right

    def line(cells: list[str]) -> str:
        return "  ".join([c.ljust(w) for c, w in zip(cells[:split], widths[:split], strict=True)]
                         + [c.rjust(w) for c, w in zip(cells[split:], widths[split:], strict=True)]
                         ).rstrip()

    head = line(header)
    bold = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    typer.echo(f"\x1b[1m{head}\x1b[0m" if bold else head)
    for row in rows:
        typer.echo(line(row))


def _code(code: int | None) -> str:
    return "-" if code is None else str(code)


def _print_row(console: Any, r: RunRow) -> None:
    def out(text: str) -> None:
        console.print(text, soft_wrap=True)  # long ids and paths: never wrap mid-field

    name = f" '{escape(r.run_name)}'" if r.run_name else ""
    env = f"{r.env_hash[:12]} (assay runs env {r.id[:8]})" if r.env_hash else "-"
    out(f"[bold]{escape(r.stage)}[/] {r.id}")
    out(f"  status: {r.status}{' (cached)' if r.cached else ''}  exit code: {_code(r.exit_code)}"
        f"  attempt: {r.attempt}")
    out(f"  started: {_when(r.started_at)}  ended: {_when(r.ended_at)}  "
        f"duration: {_secs(r.duration)}")
    out(f"  run: {r.run_id} ({r.run_kind}{name}, trigger {r.trigger}, "
        f"profile {escape(r.profile or '-')})")
    out(f"    status: {r.run_status}  exit code: {_code(r.run_exit_code)}  started: "
        f"{_when(r.run_started_at)}  duration: {_secs(r.run_duration)}")
    out(f"    commit: {_commit(r)}  user: {escape(r.user)}  environment: {env}")
    if r.cache_key or r.log_path:
        out(f"  cache key: {(r.cache_key or '-')[:16]}  log: {escape(r.log_path or '-')}")
    for title, values in (("params", r.params), ("metrics", r.metrics), ("tags", r.tags)):
        if values:
            out(f"  {title}:")
            for key in sorted(values):
                out(f"    {escape(key)}: {escape(_fmt(values[key]))}")
    if r.artifacts:
        out("  artifacts:")
        for a in r.artifacts:
            out(f"    {escape(a['path'])} ({a['kind']}, {a['size']} bytes, {a['hash'][:12]})")


@runs_app.command("show")
def show(
    run: str = typer.Argument(..., help="A stage-run or run id (a prefix of 4+ characters)."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Show a run: status, exit codes, timings, git commit, environment, params, metrics.

    Also: trigger, profile, user, cache key, log file, tags and artifacts.

    Example: assay runs show 1a2b3c4d
    """
    from assay.tracking import get_runs, open_reader, resolve

    with open_reader(_source()) as db:
        rows = get_runs(db, resolve(db, run))
    if json_out:
        ctx.print_json([r.to_json() for r in rows])
        return
    out = ctx.console()
    for r in rows:
        _print_row(out, r)


@runs_app.command("env")
def env(
    run: str = typer.Argument(..., help="A stage-run or run id (a prefix of 4+ characters)."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """The environment a run recorded: Python, platform and installed packages.

    Example: assay runs env 1a2b3c4d --json
    """
    from assay.tracking import get_runs, open_reader, resolve, run_environment

    with open_reader(_source()) as db:
        rows = get_runs(db, resolve(db, run)[:1])
    row = rows[0]
    data = run_environment(row, ctx.project().cache_dir)
    if json_out:
        ctx.print_json({"run_id": row.run_id, "env_hash": row.env_hash, "environment": data})
        return
    packages: dict[str, str] = data.get("packages", {})
    typer.echo(f"run {row.run_id}  environment {row.env_hash}")
    typer.echo(f"python {data.get('python', '?')} ({data.get('implementation', '?')}) on "
               f"{data.get('platform', '?')}")
    typer.echo(f"{len(packages)} packages:")
    for name, version in packages.items():
        typer.echo(f"  {name}=={version}")


@runs_app.command("compare")
def compare(
    runs: list[str] = typer.Argument(..., help="Two or more stage-run or run ids."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Params and metrics side by side; rows that differ are highlighted.

    A key a run never logged shows as (missing); a value logged as None shows as None.

    Example: assay runs compare 1a2b3c4d 5e6f7a8b
    """
    from assay.errors import UsageError
    from assay.tracking import compare_runs, get_runs, open_reader, resolve

    with open_reader(_source()) as db:
        ids = [i for ref in runs for i in resolve(db, ref)]
        if len(ids) < 2:
            raise UsageError("Give at least two runs to compare (a run id expands to its stages)")
        result = compare_runs(get_runs(db, ids))
    if json_out:
        ctx.print_json(result)
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    table.add_column("")
    for r in result["runs"]:
        table.add_column(f"{escape(r['stage'])}\n{r['id'][:8]}", justify="right")
    for section in ("params", "metrics"):
        table.add_row(f"[bold]{section}[/]", *["" for _ in result["runs"]])
        for row in result[section]:
            style = "yellow" if row["differs"] else "dim"
            cells = [MISSING if gone else escape(_fmt(v))
                     for v, gone in zip(row["values"], row["missing"], strict=True)]
            table.add_row(f"[{style}]{escape(row['key'])}[/]", *[f"[{style}]{c}[/]" for c in cells])
    ctx.console().print(table)


def _output(raw: Path, option: str) -> Path:
    """An output file named on the command line: under the working directory, not a folder."""
    from assay._paths import resolve_inside
    from assay.errors import UsageError

    path = resolve_inside(Path.cwd(), raw, what=f"{option} file")
    if path.is_dir():
        raise UsageError(f"{option} {raw} is a directory; give a file name", path=str(raw))
    return path


@runs_app.command("metric")
def metric(
    run: str = typer.Argument(..., help="A stage-run id (or a run with one stage)."),
    key: str = typer.Argument(..., help="The metric key."),
    csv: Path | None = typer.Option(None, "--csv", help="Write step,value,timestamp as CSV."),
    plot: Path | None = typer.Option(None, "--plot", help="Write a plot: .png or .html."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """A metric's history over steps; export it as CSV or plot it to PNG/HTML.

    With --csv or --plot it prints one line per file written instead of the history.

    Example: assay runs metric 1a2b3c4d loss --csv loss.csv --plot loss.png
    """
    from assay.errors import UsageError
    from assay.tracking import metric_history, open_reader, resolve

    if plot is not None and plot.suffix.lower() not in (".png", ".html", ".htm"):
        raise UsageError(f"--plot must end in .png or .html, got {plot.name!r}")
    csv_path = None if csv is None else _output(csv, "--csv")
    plot_path = None if plot is None else _output(plot, "--plot")
    with open_reader(_source()) as db:
        ids = resolve(db, run)
        if len(ids) != 1:
            raise UsageError(f"Run {run!r} has {len(ids)} stage runs; give one stage-run id "
                             "(see: assay runs show)")
        history = metric_history(db, ids[0], key)
    written = []
    if csv_path is not None:
        from assay._atomic import write_text_atomic

        write_text_atomic(csv_path, "step,value,timestamp\n" + "".join(
            f"{s},{v!r},{t!r}\n" for s, v, t in history))
        written.append(csv)
    if plot_path is not None:
        from assay.tracking._plot import plot_history

        plot_history(history, key, plot_path)
        written.append(plot)
    if json_out:
        ctx.print_json({"run": ids[0], "key": key,
                        "history": [{"step": s, "value": v, "ts": t} for s, v, t in history]})
        return
    if written:
        first, last = history[0][0], history[-1][0]
        steps = f"step {first}" if first == last else f"steps {first}-{last}"
        for path in written:
            typer.echo(f"Wrote {len(history)} values of '{key}' ({steps}) from run "
                       f"{ids[0][:8]} to {path}")
        return
    for s, v, _ in history:
        typer.echo(f"{s}\t{_fmt(v)}")


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")
