"""``assay config``: inspect and validate assay.yaml."""

from __future__ import annotations

import typer

from assay.cli import _context as ctx

config_app = typer.Typer(help="Inspect and validate assay.yaml.", no_args_is_help=True)


@config_app.command("schema")
def schema() -> None:
    """Print the JSON Schema of assay.yaml (point your editor's YAML plugin at it).

    Example: assay config schema > .assay/assay.schema.json
    """
    from assay.config import json_schema

    typer.echo(json_schema())


@config_app.command("check")
def check(json_out: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Validate assay.yaml, params files and contracts with every check `assay run` makes
    before it runs anything (for the plain run and each profile), and print a summary; exits 2
    with file:line on errors.

    Example: assay config check
    """
    project = ctx.project()
    cfg = project.config
    from assay.pipeline import check_pipeline

    check_pipeline(project)
    if cfg.contracts:
        from assay.contracts import check_contracts

        check_contracts(project.root, cfg)
    summary = {
        "project": cfg.project or project.root.name,
        "root": str(project.root),
        "store": project.store_url.split("@")[-1],
        "remotes": sorted(cfg.remotes),
        "stages": sorted(cfg.stages),
        "contracts": sorted(cfg.contracts),
        "profiles": sorted(cfg.profiles),
    }
    if json_out:
        ctx.print_json(summary)
        return
    for key, value in summary.items():
        shown = ", ".join(value) if isinstance(value, list) else value
        typer.echo(f"{key:>9}: {shown or '-'}")
    typer.echo("assay.yaml is valid")


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
