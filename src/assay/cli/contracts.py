"""``assay validate`` and ``assay contract infer``: data contracts from the command line."""

from __future__ import annotations

from pathlib import Path

import typer

from assay.cli import _context as ctx

contract_app = typer.Typer(help="Data contracts: infer a starting contract from data.",
                           no_args_is_help=True)


def validate(
    target: str | None = typer.Argument(
        None, metavar="[DATASET|PATH]",
        help="Dataset name, data path or PATH.assay pointer (default: every registered contract)."),
    contract: str | None = typer.Option(
        None, "--contract", "-c", help="Registered contract name or contracts/NAME.yaml."),
    as_json: bool = typer.Option(False, "--json", help="Print the report(s) as JSON."),
    html: Path | None = typer.Option(None, "--html", help="Write a self-contained HTML report."),
    markdown: Path | None = typer.Option(None, "--markdown", help="Write a Markdown report."),
    junit: Path | None = typer.Option(None, "--junit", help="Write JUnit XML (one case per check)."),
    sample_rows: int = typer.Option(5, "--sample-rows", min=0, max=1000,
                                    help="Sample failing rows per failed check."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="List passing checks too."),
    streaming: bool | None = typer.Option(
        None, "--streaming/--in-memory", help="Force the Polars engine (default: by data size)."),
) -> None:
    """Validate data against its contract(s); exit 1 when an error-severity check fails."""
    from assay._paths import resolve_inside
    from assay.contracts import (
        ContractReport,
        ReportFiles,
        check,
        failure,
        print_report,
        resolve_targets,
    )
    from assay.contracts._validate import StoreOpener, Target

    project = ctx.project()
    for option, given in (("--html", html), ("--markdown", markdown), ("--junit", junit)):
        if given is not None:  # reports are written inside the project only
            resolve_inside(project.root, given if given.is_absolute() else Path.cwd() / given,
                           what=option)
    targets = resolve_targets(project.root, project.config, target, contract)
    several = len(targets) > 1

    def named(path: Path | None, name: str) -> Path | None:
        if path is None or not several:
            return path
        return path.with_name(f"{path.stem}.{name}{path.suffix}")

    def report_files(item: Target) -> ReportFiles:
        return ReportFiles(html=named(html, item.contract),
                           markdown=named(markdown, item.contract),
                           junit=named(junit, item.contract))

    def show(report: ContractReport) -> None:
        if not as_json:
            print_report(report, ctx.console(), verbose=verbose)

    import polars  # noqa: F401  # imported before the store thread starts: imports hold the GIL

    opener = StoreOpener(project.store_url)  # opens the store while Polars runs (no GIL)
    try:
        reports = check(project.root, project.config, targets, store=opener,
                        store_url=project.store_url, state_dir=project.state_dir,
                        report_files=report_files, sample_rows=sample_rows,
                        streaming=streaming, on_report=show)
    finally:
        opener.close()  # never leave the migrating thread behind (errors included)
    if as_json:
        payload = [r.to_dict() for r in reports]
        ctx.print_json(payload[0] if len(payload) == 1 else payload)
    failed = failure(reports)
    if failed is not None:
        raise failed


@contract_app.command("infer")
def infer(
    data: str = typer.Argument(..., help="Data file (Parquet, CSV, NDJSON, Arrow) or dataset name."),
    out: Path | None = typer.Option(None, "--out", "-o",
                                    help="Write the contract here (default: print it)."),
    name: str | None = typer.Option(None, "--name", help="Contract name (default: from --out or data)."),
    margin: float = typer.Option(0.1, "--margin", min=0.0, max=10.0,
                                 help="Widen numeric ranges by this fraction of their span."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing --out file."),
) -> None:
    """Profile DATA and write a starting contract (types, nulls, ranges, categories, keys)."""
    from assay._atomic import write_text_atomic
    from assay._identity import current_user
    from assay._paths import resolve_inside
    from assay.contracts import contract_yaml, infer_contract, source_for
    from assay.contracts._source import dataset_path
    from assay.errors import UsageError

    project = ctx.project()
    path, _ = dataset_path(data, project.config)
    source = source_for(path, project.root)
    contract_name = name or (out.stem if out is not None else Path(path).stem.split(".")[0])
    contract = infer_contract(source, name=contract_name, owner=current_user(), data=data)
    text = contract_yaml(contract, source=data)
    if out is None:
        typer.echo(text, nl=False)
        return
    target = resolve_inside(project.root, out.resolve() if out.is_absolute() else
                            Path.cwd().joinpath(out).resolve(), what="--out")
    if target.exists() and not force:
        raise UsageError(f"{out} exists; pass --force to overwrite it", path=str(out))
    target.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(target, text)
    typer.echo(f"wrote {out}: {len(contract['columns'])} columns; review it, then run: "
               f"assay validate {data} --contract {out}")


def register(app: typer.Typer) -> None:
    """Add ``validate`` and the ``contract`` group to the app."""
    app.command("validate")(validate)
    app.add_typer(contract_app, name="contract")
