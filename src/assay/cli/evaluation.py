"""``assay eval``: render evaluation reports (terminal, JSON, Markdown, HTML, JUnit XML)."""

from __future__ import annotations

from pathlib import Path

import typer

from assay.cli import _context as ctx

eval_app = typer.Typer(help="Render and check model evaluations.", no_args_is_help=True)


@eval_app.command("report")
def report(
    evaluation_json: str = typer.Argument(
        ..., help="An evaluation.json written by kind: evaluate."
    ),
    markdown: str | None = typer.Option(
        None, "--markdown", help="Write a PR-comment Markdown file."
    ),
    html: str | None = typer.Option(None, "--html", help="Write an HTML report with plots."),
    junit: str | None = typer.Option(None, "--junit", help="Write JUnit XML (a case per gate)."),
    json_out: bool = typer.Option(False, "--json", help="Print the evaluation as JSON."),
    check: bool = typer.Option(False, "--check", help="Exit 1 when no candidate passed."),
) -> None:
    """Show an evaluation; optionally write it as Markdown, HTML or JUnit XML.

    Example: assay eval report reports/evaluate/evaluation.json --markdown comment.md --check
    """
    from assay._atomic import write_text_atomic
    from assay._paths import resolve_inside
    from assay.evaluation import read_evaluation, render_table, to_html, to_junit, to_markdown

    here = Path.cwd()
    data, curves = read_evaluation(resolve_inside(here, evaluation_json, what="evaluation file"))
    for target, fmt in ((markdown, "markdown"), (html, "html"), (junit, "junit")):
        if not target:
            continue
        path = resolve_inside(here, target, what="output file")
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "markdown":
            text = to_markdown(data)
        elif fmt == "html":
            text = to_html(data, curves)
        else:
            text = to_junit(data)
        write_text_atomic(path, text)
    if json_out:
        ctx.print_json(data)
    else:
        render_table(data, ctx.console())
    if check and not data["passed"]:
        from assay.errors import GateFailed

        raise GateFailed(f"no candidate passed every gate ({evaluation_json})")


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")
