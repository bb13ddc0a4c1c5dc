"""``assay models``: the registry face: versions, aliases, promotion, approvals, lineage, cards.

Printing only: every rule is enforced by :mod:`assay.registry`.
"""

from __future__ import annotations

import time
from typing import Any

import typer

from assay._console import escape
from assay.cli import _context as ctx

models_app = typer.Typer(
    help="The model registry: versions, aliases, promotion with approvals, lineage, cards.",
    no_args_is_help=True,
)

_JSON = typer.Option(False, "--json", help="Print JSON.")


def _when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M", time.gmtime(ts))


def _actor() -> str:
    from assay._identity import current_user

    return current_user()


@models_app.command("list")
def list_cmd(json_out: bool = _JSON) -> None:
    """List registered models with their latest version and aliases."""
    from assay.registry import list_models

    found = list_models(ctx.store())
    if json_out:
        ctx.print_json([m.to_dict() for m in found])
        return
    if not found:
        ctx.console().print("No registered models yet (a kind: register stage creates them).")
        return
    table = ctx.table("model", "latest", "versions", "aliases")
    for model in found:
        aliases = ", ".join(f"{a}=v{v}" for a, v in model.aliases.items()) or "-"
        table.add_row(escape(model.name), f"v{model.latest_version}", str(model.versions),
                      escape(aliases))
    ctx.console().print(table)


def _metric_summary(evaluation: dict[str, Any]) -> str:
    primary = evaluation.get("primary_metric") or {}
    metric, dataset = primary.get("name") or primary.get("metric"), primary.get("dataset")
    slice_name = primary.get("slice") or "all"
    value = (((evaluation.get("metrics") or {}).get(dataset) or {}).get(slice_name) or {}).get(
        metric
    )
    return f"{metric}={value:.4f} on {dataset}" if isinstance(value, float) else "-"


@models_app.command("show")
def show(
    ref: str = typer.Argument(..., help="NAME, NAME:VERSION or NAME@ALIAS."),
    json_out: bool = _JSON,
) -> None:
    """Show one version: hash, author, gates, metrics, aliases and approvals."""
    from assay.registry import alias_history, approvals_for, get_version

    store, project = ctx.store(), ctx.project()
    version = get_version(store, ref)
    decisions = approvals_for(store, project.config, version.ref)
    moves = [m for m in alias_history(store, version.name) if m.version == version.version]
    if json_out:
        ctx.print_json(
            {
                **version.to_dict(),
                "approvals": [a.to_dict() for a in decisions],
                "alias_history": [m.to_dict() for m in moves],
            }
        )
        return
    out = ctx.console()
    aliases = escape(", ".join(version.aliases) or "-")
    out.print(f"[bold]{escape(version.ref)}[/bold]  aliases: {aliases}")
    out.print(f"  package   {version.model_hash}")
    out.print(f"  author    {escape(version.author)}   registered {_when(version.created_at)} UTC")
    out.print(f"  gates     {'passed' if version.gates_passed else 'NOT passed'}")
    out.print(f"  metric    {escape(_metric_summary(version.evaluation))}")
    out.print(f"  run       {version.run_id or '-'}")
    for decision in decisions:
        state = " (expired)" if decision.expired else ""
        comment = f": {decision.comment}" if decision.comment else ""
        out.print(escape(
            f"  {decision.done} for {decision.target} by {decision.actor} "
            f"({', '.join(decision.roles)}) {_when(decision.created_at)}{state}{comment}"
        ))
    for move in moves:
        out.print(escape(f"  {move.action} -> @{move.alias} by {move.actor} {_when(move.ts)}"))


@models_app.command("versions")
def versions_cmd(
    name: str = typer.Argument(..., help="A registered model name."), json_out: bool = _JSON
) -> None:
    """List every version of a model, oldest first."""
    from assay.registry import versions

    found = versions(ctx.store(), name)
    if json_out:
        ctx.print_json([v.to_dict() for v in found])
        return
    table = ctx.table("version", "aliases", "gates", "metric", "author", "registered")
    for v in found:
        table.add_row(
            f"v{v.version}", escape(", ".join(v.aliases) or "-"),
            "passed" if v.gates_passed else "failed",
            escape(_metric_summary(v.evaluation)), escape(v.author), _when(v.created_at),
        )
    ctx.console().print(table)


@models_app.command("lineage")
def lineage_cmd(
    ref: str = typer.Argument(..., help="NAME:VERSION (or NAME@ALIAS)."),
    fmt: str = typer.Option("tree", "--format", help="tree or mermaid."),
    json_out: bool = _JSON,
) -> None:
    """Trace a version: dataset versions -> run -> stage runs -> model -> aliases, deployments."""
    from assay.errors import UsageError
    from assay.registry import lineage, lineage_mermaid

    if fmt not in ("tree", "mermaid"):
        raise UsageError(f"--format must be tree or mermaid, not {fmt!r}")
    graph = lineage(ctx.store(), ref)
    if json_out:
        ctx.print_json(graph)
        return
    if fmt == "mermaid":
        typer.echo(lineage_mermaid(graph), nl=False)
        return
    ctx.console().print(_lineage_tree(graph))


def _lineage_tree(graph: dict[str, Any]) -> Any:
    """The lineage in its order: dataset versions -> run -> stage runs -> model -> aliases."""
    from rich.tree import Tree

    from assay.registry import dataset_label

    model = graph["model"]
    ref = f"{model['name']}:{model['version']}"
    tree = Tree(f"[bold]lineage of {escape(ref)}[/bold]")
    data = tree.add("dataset versions")
    for ds in graph["datasets"]:
        where = f"read by {ds['stage']}" if ds.get("stage") else f"{ds.get('role') or 'input'}"
        recorded = "" if ds.get("version") is not None else ", not a recorded version"
        data.add(escape(
            f"{dataset_label(ds)}  {str(ds.get('oid') or '')[:12]}  ({where}{recorded})"
        ))
    if not graph["datasets"]:
        data.add("none recorded")
    run = graph.get("run") or {}
    run_text = f"run {graph.get('run_id') or 'not recorded'}"
    if run:
        run_text += f" ({run.get('status')}, by {run.get('actor')}"
        run_text += f", commit {str(run.get('git_commit'))[:12]})" if run.get("git_commit") else ")"
    run_branch = tree.add(escape(run_text))
    cause = run.get("cause") if run else None
    if cause:
        run_branch.add(escape(f"retrained by trigger {cause.get('trigger')} (firing "
                              f"#{cause.get('firing')}, {cause.get('at')}): "
                              f"{cause.get('summary') or cause.get('cause')}"))
    run_node = run_branch.add("stage runs")
    for st in graph["stage_runs"]:
        run_node.add(escape(f"{st['stage']}: {st['status']}{' (cached)' if st['cached'] else ''}"))
    code = graph["code"]
    model_node = tree.add(
        escape(f"model {ref}  package {model['model_hash'][:16]}  from stage "
               f"{model.get('stage') or '-'}")
    )
    model_node.add(escape(f"code {code.get('git_commit') or '-'}  env {code.get('env_hash') or '-'}"))
    evaluation = graph.get("evaluation")
    if evaluation:
        verdict = "passed" if evaluation.get("passed") else "failed"
        model_node.add(
            escape(f"evaluation {evaluation.get('stage')}: {evaluation.get('candidate')} {verdict}")
        )
    held = ", ".join(f"@{a}" for a in graph["aliases"]) or "none"
    aliases = tree.add(escape(f"aliases: {held}"))
    for move in graph["history"]:
        aliases.add(escape(f"{move['action']} @{move['alias']} by {move['actor']} "
                           f"{_when(move['ts'])}"))
    deployments = tree.add("deployments" if graph["deployments"] else "deployments: none")
    for dep in graph["deployments"]:
        deployments.add(escape(f"{dep['target']}: {dep['state']} ({dep['traffic']:.0%} traffic)"))
    return tree


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


@models_app.command("diff")
def diff_cmd(
    a: str = typer.Argument(..., help="NAME:A"),
    b: str = typer.Argument(..., help="NAME:B"),
    json_out: bool = _JSON,
    show_all: bool = typer.Option(
        False, "--all", help="Every slice's metrics and unchanged keys too."
    ),
) -> None:
    """Compare two versions: params, metrics, data versions, environment.

    By default: changed params, data and environment, and changed metrics of the whole
    dataset (slice ``all``); ``--all`` shows everything.
    """

    from assay.registry import diff

    result = diff(ctx.store(), a, b)
    if json_out:
        ctx.print_json(result)
        return
    table = ctx.table("section", "key", result["a"], result["b"], "delta")
    shown = 0
    for section in ("params", "data", "environment", "metrics"):
        for row in result[section]:
            if not (row["changed"] or show_all):
                continue
            if section == "metrics" and not show_all and "/all/" not in row["key"]:
                continue
            shown += 1
            delta = row.get("delta")
            table.add_row(
                section, escape(row["key"]), escape(_short(row["a"])), escape(_short(row["b"])),
                "" if delta is None else f"{delta:+.4g}",
            )
    if shown:
        ctx.console().print(table)
    else:
        ctx.console().print(escape(f"{result['a']} and {result['b']} do not differ"))


@models_app.command("card")
def card_cmd(
    ref: str = typer.Argument(..., help="NAME:VERSION (or NAME@ALIAS)."),
    html: str | None = typer.Option(None, "--html", help="Also write the card as HTML here."),
    markdown: str | None = typer.Option(None, "--markdown", help="Write the Markdown here."),
) -> None:
    """Print a version's model card (Markdown); optionally write it as HTML."""
    from pathlib import Path

    from assay._atomic import write_text_atomic
    from assay._paths import resolve_inside
    from assay.registry import model_card

    card = model_card(ctx.store(), ctx.project().config, ref)
    for target, text in ((html, card.to_html), (markdown, card.to_markdown)):
        if target:
            path = resolve_inside(Path.cwd(), target, what="card file")
            path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(path, text())
    if not markdown:
        typer.echo(card.to_markdown())


@models_app.command("register")
def register_cmd(
    package: str = typer.Argument(..., help="A model package directory (with model.json)."),
    name: str = typer.Option(..., "--name", help="The registered model name."),
    evaluation: str | None = typer.Option(
        None, "--evaluation", help="The evaluation.json the package was a candidate of."
    ),
    alias: str | None = typer.Option(
        None, "--alias", help="Set this alias too, if its promotion policy allows it now."
    ),
    allow_pickle: bool = typer.Option(
        False, "--allow-pickle",
        help="Accept a pickled (pyfunc) package: loading it later runs its code.",
    ),
    json_out: bool = _JSON,
) -> None:
    """Register a package by hand (pipelines use a kind: register stage).

    The package is checked as load checks it (files against model.json, format by content,
    skops types on the trust list, pickle only with --allow-pickle) before anything is recorded.
    """
    from pathlib import Path

    from assay._paths import resolve_inside
    from assay.evaluation import read_evaluation
    from assay.registry import register

    project = ctx.project()
    here = Path.cwd()
    report = None
    if evaluation:
        report, _ = read_evaluation(resolve_inside(here, evaluation, what="evaluation file"))
    result = register(
        ctx.store(),
        name=name,
        cache_dir=project.cache_dir,
        package_dir=resolve_inside(here, package, what="package"),
        evaluation=report,
        author=_actor(),
        alias=alias,
        config=project.config,
        allow_pickle=allow_pickle,
    )
    if json_out:
        ctx.print_json(
            {"version": result.version.to_dict(), "created": result.created,
             "alias": result.alias, "note": result.note}
        )
        return
    verb = "registered" if result.created else "already registered as"
    alias_text = f" with alias {result.alias}" if result.alias else ""
    ctx.console().print(escape(f"{verb} {result.version.ref}{alias_text}"))
    if result.note:
        target = ctx.err_console() if alias else ctx.console()
        target.print(f"note: {escape(result.note)}", soft_wrap=True)


def _print_move(move: Any, json_out: bool, verb: str) -> None:
    if json_out:
        ctx.print_json(move.to_dict())
        return
    was = f" (was v{move.previous_version})" if move.previous_version is not None else ""
    ctx.console().print(escape(f"{verb} {move.name}@{move.alias} -> v{move.version}{was}"))


@models_app.command("promote")
def promote_cmd(
    ref: str = typer.Argument(..., help="NAME:VERSION"),
    to: str = typer.Option(..., "--to", help="The target alias (staging, production, ...)."),
    json_out: bool = _JSON,
) -> None:
    """Move an alias to a version if the promotion policy allows it; else say what is missing."""
    from assay.registry import promote

    move = promote(ctx.store(), ctx.project().config, ref, to=to, actor=_actor())
    _print_move(move, json_out, "promoted")


def _decide(ref: str, target: str, comment: str | None, json_out: bool, verb: str) -> None:
    from assay.registry import approve, reject

    decide = approve if verb == "approve" else reject
    decision = decide(
        ctx.store(), ctx.project().config, ref, target=target, actor=_actor(), comment=comment
    )
    if json_out:
        ctx.print_json(decision.to_dict())
        return
    ctx.console().print(escape(
        f"{decision.actor} ({', '.join(decision.roles)}) {decision.done} "
        f"{decision.name}:{decision.version} for {decision.target}"
    ))


@models_app.command("approve")
def approve_cmd(
    ref: str = typer.Argument(..., help="NAME:VERSION"),
    target: str = typer.Option(..., "--for", help="The alias the approval is for."),
    comment: str | None = typer.Option(None, "--comment", help="Why."),
    json_out: bool = _JSON,
) -> None:
    """Approve a version for promotion to an alias (as ASSAY_USER / git user.email)."""
    _decide(ref, target, comment, json_out, "approve")


@models_app.command("reject")
def reject_cmd(
    ref: str = typer.Argument(..., help="NAME:VERSION"),
    target: str = typer.Option(..., "--for", help="The alias the rejection is for."),
    comment: str | None = typer.Option(None, "--comment", help="Why."),
    json_out: bool = _JSON,
) -> None:
    """Reject a version for an alias: promotion is refused while the rejection stands."""
    _decide(ref, target, comment, json_out, "reject")


@models_app.command("rollback")
def rollback_cmd(
    name: str = typer.Argument(..., help="A registered model name."),
    alias: str = typer.Option(..., "--alias", help="The alias to move back."),
    json_out: bool = _JSON,
) -> None:
    """Move an alias back to the version that held it before (recorded as a rollback)."""
    from assay.registry import rollback

    move = rollback(ctx.store(), ctx.project().config, name, alias, actor=_actor())
    _print_move(move, json_out, "rolled back")


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
