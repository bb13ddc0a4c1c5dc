"""``assay init``: scaffold a project, or write a bundled example."""

from __future__ import annotations

from pathlib import Path

import typer


def init(
    directory: Path = typer.Argument(Path("."), help="Where to create the project."),
    example: str | None = typer.Option(
        None, "--example", help="Write a bundled example project instead (e.g. churn)."
    ),
) -> None:
    """Create a project: assay.yaml, .assay/ (cache, store) and .gitignore entries.

    Examples:

      assay init                       # in the current folder

      assay init --example churn demo  # the bundled churn example in ./demo
    """
    from assay.project import init_project

    result = init_project(directory, example=example)
    what = f"example '{example}'" if example else "project"
    typer.echo(f"Initialised {what} in {result.root}")
    if not result.in_git:
        typer.echo("Not a git repository: assay.yaml, assay.lock and pointer files are meant to be "
                   "committed (stage outs and data are git-ignored); run: git init")
    if example:
        typer.echo("Next: python generate.py && assay data add data/churn.parquet data/reference.parquet")


def register(app: typer.Typer) -> None:
    app.command("init")(init)
