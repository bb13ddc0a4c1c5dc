"""``assay run``, ``assay status``, ``assay dag``: run the pipeline, explain staleness, draw it."""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer.core import TyperCommand

from assay._console import PlainLines, escape, is_terminal
from assay.cli import _context as ctx
from assay.cli._front import RUN, STATUS, orphans_line, print_noop, up_to_date_line

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
    single: bool = typer.Option(False, *RUN.flags("single"), help=RUN.help("single")),
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
      assay run -s evaluate --force  # rerun evaluate alone (not train, not prepare)
      assay run --profile ci         # the CI profile's stages with its param overrides
      assay run --check-repro train  # rerun train and compare outs and metrics
    """
    from assay.pipeline import TRIGGERS, PlainReporter, QuietReporter, run_pipeline

    if trigger is not None and trigger not in TRIGGERS:
        raise typer.BadParameter(f"must be one of {', '.join(TRIGGERS)}", param_hint="--trigger")
    if single and not stages:
        raise typer.BadParameter("name the stages to run alone, e.g. assay run -s evaluate",
                                 param_hint="--single")
    project = ctx.project()
    if check_repro is not None:
        _check_repro(check_repro, tolerance, profile, json_out)
        return
    if dry_run:
        result = run_pipeline(project, targets=stages or [], profile=profile, dry_run=True,
                              only=single)
        if json_out:
            ctx.print_json(result.to_json())
            return
        out = _out()
        marks = {None: "[dim]up to date[/]", "run": "[yellow]would run[/]",
                 "restore": "[cyan]would restore from cache[/]"}
        for state in result.plan:
            why = [*([state.failed] if state.failed else []), *state.reasons]
            out.print(f"{escape(state.stage)}: {marks[state.action]}"
                      f"{escape(': ' + '; '.join(why)) if why else ''}")
        runs = sum(s.action == "run" for s in result.plan)
        restores = sum(s.action == "restore" for s in result.plan)
        out.print(f"{runs} of {len(result.plan)} stages would run, {restores} would be restored "
                  "from the cache")
        return
    reporter: object
    if json_out:
        reporter = QuietReporter()
    elif ctx.is_interactive():
        from assay.pipeline import LiveReporter, build_dag

        dag = build_dag(project, profile=profile)
        reporter = LiveReporter([n for t in stages for n in dag.groups.get(t, [t])] if single
                                else dag.select(stages or []))
    else:
        reporter = PlainReporter()
    try:
        result = run_pipeline(
            project, targets=stages or [], profile=profile, force=force, jobs=jobs,
            keep_going=keep_going, trigger=trigger, wait=not no_wait, only=single,
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
    profile: str | None = typer.Option(None, *STATUS.flags("profile"), help=STATUS.help("profile")),
    json_out: bool = typer.Option(False, *STATUS.flags("json_out"), help=STATUS.help("json_out")),
) -> None:
    """Show stale stages and exactly why (which dep, param, command or out changed).

    Example: assay status
    """
    from assay.pipeline import orphan_outs, plan_pipeline

    project = ctx.project()
    graph, states = plan_pipeline(project, targets=stages or [], profile=profile)
    orphans = orphan_outs(project, graph) if graph.profile is None else []
    if json_out:
        ctx.print_json({"stale": [s.stage for s in states if s.stale],
                        "must_run": [s.stage for s in states if s.action == "run"],
                        "restorable": [s.stage for s in states if s.action == "restore"],
                        "stages": [s.to_json() for s in states],
                        "orphan_outs": [o.to_json() for o in orphans]})
        return
    out = _out()
    _print_states(out, states)
    if orphans:
        out.print(escape(orphans_line(len(orphans), orphans[0].path)))


def _print_states(out: Any, states: list[Any]) -> None:
    """Each stale stage, what a run does with it (restore it from the cache, or run it),
    whether its last run failed, and why it is stale."""
    stale = [s for s in states if s.stale]
    if not stale:
        out.print(up_to_date_line(len(states)))
        return
    for state in stale:
        action = "restorable from cache" if state.action == "restore" else "must run"
        if state.failed:
            out.print(f"[red]{escape(state.stage)}[/]: stale, {escape(state.failed)}; {action}")
        else:
            out.print(f"[yellow]{escape(state.stage)}[/]: stale ({action})")
        for reason in state.reasons:
            out.print(f"  - {escape(reason)}")
    runs = sum(s.action == "run" for s in stale)
    out.print(f"{len(stale)} of {len(states)} stages are stale: {runs} must run, "
              f"{len(stale) - runs} can be restored from the cache; run: assay run")


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
