"""``assay doctor``: check the project against the antipatterns of ML delivery."""

from __future__ import annotations

import typer

from assay._console import escape
from assay.cli import _context as ctx


def doctor(
    json_out: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
) -> None:
    """Check the pipeline for ML-delivery antipatterns; exit 1 on error-severity findings.

    Example: assay doctor --json
    """
    from assay.doctor import diagnose

    report = diagnose(ctx.project())
    if json_out:
        ctx.print_json(report.to_dict())
    else:
        out = ctx.console()
        for finding in report.findings:
            style = "red" if finding.level == "error" else "yellow"
            out.print(
                f"[{style}]{finding.level:5}[/{style}] [bold]{escape(finding.rule.id)}[/bold] "
                f"{escape(finding.where)}: {escape(finding.message)}"
            )
            out.print(f"       why: {escape(finding.rule.why)}", soft_wrap=True)
            out.print(f"       fix: {escape(finding.rule.fix)}", soft_wrap=True)
        errors, warnings = len(report.errors), len(report.warnings)
        if not report.findings:
            out.print(f"[green]healthy[/green]: {report.rules_checked} rules, no findings")
        else:
            out.print(f"{errors} error(s), {warnings} warning(s) from {report.rules_checked} rules")
    if not report.is_healthy:
        from assay.errors import ProjectUnhealthy

        n = len(report.errors)
        raise ProjectUnhealthy(f"assay doctor found {n} error-level finding{'' if n == 1 else 's'}"
                               " (listed above)", errors=n)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
