"""``assay run``, ``assay status``, ``assay dag``: run the pipeline, explain staleness, draw it."""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer.core import TyperCommand

from assay._console import PlainLines, escape, is_terminal
from assay.cli import _context as ctx
from assay.cli._front import RUN, print_noop

# Not a terminal (CI logs, pipes): help is laid out this wide.
NON_TTY_HELP_WIDTH = 160


def _out(*, stderr: bool = False) -> Any:
    """Where lines go: the shared rich console on a terminal, plain unwrapped text elsewhere."""
    stream = sys.stderr if stderr else sys.stdout
    if is_terminal(stream):
        return ctx.err_console() if stderr else ctx.console()
    return PlainLines(stream)


class _WideHelpCommand(TyperCommand):
    """Help laid out wide when stdout is not a terminal, so examples are not wrapped."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        if is_terminal(sys.stdout):
            super().format_help(ctx, formatter)
            return
        from typer import rich_utils

        previous = rich_utils.MAX_WIDTH
        rich_utils.MAX_WIDTH = max(previous or 0, NON_TTY_HELP_WIDTH)
        try:
            super().format_help(ctx, formatter)
        finally:
            rich_utils.MAX_WIDTH = previous


def run(
    stages: list[str] = typer.Argument(None, help="Stages (or matrix groups) to run, with their upstream."),
    profile: str | None = typer.Option(None, *RUN.flags("profile"), help=RUN.help("profile")),
    force: bool = typer.Option(False, *RUN.flags("force"), help=RUN.help("force")),
    jobs: int | None = typer.Option(None, *RUN.flags("jobs"), min=1, help=RUN.help("jobs")),
    dry_run: bool = typer.Option(False, *RUN.flags("dry_run"), help=RUN.help("dry_run")),
    keep_going: bool = typer.Option(False, *RUN.flags("keep_going"), help=RUN.help("keep_going")),
    check_repro: str | None = typer.Option(None, *RUN.flags("check_repro"), metavar="STAGE", help=RUN.help("check_repro")),
    tolerance: float = typer.Option(0.0, *RUN.flags("tolerance"), min=0.0, help=RUN.help("tolerance")),
    trigger: str | None = typer.Option(None, *RUN.flags("trigger"), help=RUN.help("trigger")),
    no_wait: bool = typer.Option(False, *RUN.flags("no_wait"), help=RUN.help("no_wait")),
    json_out: bool = typer.Option(False, *RUN.flags("json_out"), help=RUN.help("json_out")),
) -> None:
    """Run the pipeline: up-to-date stages are skipped, cached ones restored, the rest run.

    Examples:
      assay run                      # the whole pipeline
      assay run train -j 4           # train (every matrix job) and what it needs
      assay run --profile ci         # the CI profile's stages with its param overrides
      assay run --check-repro train  # rerun train and compare outs and metrics
    """
    from assay.pipeline import TRIGGERS, PlainReporter, QuietReporter, run_pipeline

    if trigger is not None and trigger not in TRIGGERS:
        raise typer.BadParameter(f"must be one of {', '.join(TRIGGERS)}", param_hint="--trigger")
    project = ctx.project()
    if check_repro is not None:
        _check_repro(check_repro, tolerance, profile, json_out)
        return
    if dry_run:
        result = run_pipeline(project, targets=stages or [], profile=profile, dry_run=True)
        if json_out:
            ctx.print_json(result.to_json())
            return
        out = _out()
        stale = [s for s in result.plan if s.stale]
        for state in result.plan:
            mark = "[yellow]would run[/]" if state.stale else "[dim]up to date[/]"
            why = f": {'; '.join(state.reasons)}" if state.reasons else ""
            out.print(f"{escape(state.stage)}: {mark}{escape(why)}")
        out.print(f"{len(stale)} of {len(result.plan)} stages would run (cached outs may be restored instead)")
        return
    reporter: object
    if json_out:
        reporter = QuietReporter()
    elif ctx.is_interactive():
        from assay.pipeline import LiveReporter, build_dag

        dag = build_dag(project, profile=profile)
        reporter = LiveReporter(dag.select(stages or []))
    else:
        reporter = PlainReporter()
    try:
        result = run_pipeline(
            project, targets=stages or [], profile=profile, force=force, jobs=jobs,
            keep_going=keep_going, trigger=trigger, wait=not no_wait,
            reporter=reporter,  # type: ignore[arg-type]
        )
    finally:
        reporter.close()  # type: ignore[attr-defined]
    if json_out:
        ctx.print_json(result.to_json())
    elif result.run_id is None:  # every stage up to date: nothing ran, nothing was recorded
        print_noop(len(result.outcomes))
    else:
        counts: dict[str, int] = {}
        for outcome in result.outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        _out(stderr=True).print(f"run {result.run_id[:8]}: {result.status} ({summary})")
    result.raise_for_status()


def _check_repro(stage: str, tolerance: float, profile: str | None, json_out: bool) -> None:
    from assay.evaluation import EvaluationComparer
    from assay.models import PackageComparer
    from assay.pipeline import PlainReporter, QuietReporter, check_reproducibility

    reporter = QuietReporter() if json_out else PlainReporter(show_output=False)
    reports = check_reproducibility(ctx.project(), stage, tolerance=tolerance, profile=profile,
                                    reporter=reporter,
                                    comparers=[PackageComparer(), EvaluationComparer()])
    if json_out:
        ctx.print_json({"reproducible": all(r.reproducible for r in reports),
                        "stages": [r.to_json() for r in reports]})
    else:
        out = ctx.console()
        for report in reports:
            for line in report.lines():
                out.print(escape(line), highlight=False)
    if not all(r.reproducible for r in reports):
        from assay.errors import NotReproducible

        shown = [r.stage for r in reports if not r.reproducible]
        raise NotReproducible(f"not reproducible from the same inputs: {', '.join(shown)} "
                              "(the differences are listed above)", stages=shown)


def status(
    stages: list[str] = typer.Argument(None, help="Limit to these stages and their upstream."),
    profile: str | None = typer.Option(None, "--profile", "-p", help="A profile from assay.yaml."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Show stale stages and exactly why (which dep, param, command or out changed).

    Example: assay status
    """
    from assay.pipeline import plan_pipeline

    _, states = plan_pipeline(ctx.project(), targets=stages or [], profile=profile)
    if json_out:
        ctx.print_json({"stale": [s.stage for s in states if s.stale],
                        "stages": [s.to_json() for s in states]})
        return
    out = _out()
    stale = [s for s in states if s.stale]
    if not stale:
        out.print(f"Pipeline is up to date ({len(states)} stages).")
        return
    for state in stale:
        out.print(f"[yellow]{escape(state.stage)}[/]: stale")
        for reason in state.reasons:
            out.print(f"  - {escape(reason)}")
    out.print(f"{len(stale)} of {len(states)} stages are stale; run: assay run")


def dag(
    fmt: str = typer.Option("tree", "--format", help="tree, mermaid or dot."),
    profile: str | None = typer.Option(None, "--profile", "-p", help="A profile from assay.yaml."),
) -> None:
    """Draw the pipeline: a terminal tree, or Mermaid / Graphviz dot text.

    Examples:
      assay dag
      assay dag --format mermaid >> README.md
    """
    from assay.pipeline import build_dag

    if fmt not in ("tree", "mermaid", "dot"):
        raise typer.BadParameter("must be tree, mermaid or dot", param_hint="--format")
    graph = build_dag(ctx.project(), profile=profile, check_missing_deps=False)
    ids = {name: f"s{i}" for i, name in enumerate(graph.stages)}
    if fmt == "mermaid":
        lines = ["flowchart LR"]
        lines += [f'  {ids[n]}["{n}"]' for n in graph.stages]
        lines += [f"  {ids[need]} --> {ids[n]}" for n, s in graph.stages.items() for need in s.needs]
        typer.echo("\n".join(lines))
        return
    if fmt == "dot":
        lines = ["digraph pipeline {", "  rankdir=LR;"]
        lines += [f'  "{n}";' for n in graph.stages]
        lines += [f'  "{need}" -> "{n}";' for n, s in graph.stages.items() for need in s.needs]
        lines.append("}")
        typer.echo("\n".join(lines))
        return
    from rich.tree import Tree

    tree = Tree(f"[bold]{escape(ctx.project().config.project or 'pipeline')}[/]")
    children: dict[str, list[str]] = {n: [] for n in graph.stages}
    for name, stage in graph.stages.items():
        for need in stage.needs:
            children[need].append(name)

    def add(node: Tree, name: str, seen: tuple[str, ...]) -> None:
        stage = graph.stages[name]
        what = (stage.kind and f"kind: {stage.kind}") or (stage.cmd or "")
        branch = node.add(f"{escape(name)} [dim]{escape(what[:60])}[/]")
        for child in children[name]:
            if child not in seen:
                add(branch, child, (*seen, child))

    for name, stage in graph.stages.items():
        if not stage.needs:
            add(tree, name, (name,))
    ctx.console().print(tree)


def register(app: typer.Typer) -> None:
    app.command("run", cls=_WideHelpCommand)(run)
    app.command("status", cls=_WideHelpCommand)(status)
    app.command("dag", cls=_WideHelpCommand)(dag)
