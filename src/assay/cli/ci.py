"""``assay ci``: generate the project's CI pipelines, build the PR report, post it."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from assay._console import escape
from assay.cli import _context as ctx

CI_HELP = """CI integration: pipelines that keep light checks apart from training, and PR reports.

Examples: assay ci init github; assay ci report --markdown reports/ci-report.md; \
assay ci comment --file reports/ci-report.md
"""

ci_app = typer.Typer(help=CI_HELP, no_args_is_help=True)


@ci_app.command("init")
def init(
    system: str = typer.Argument(..., metavar="github|gitlab|semaphore",
                                 help="The CI system to write a configuration for."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing CI files."),
) -> None:
    """Write a CI configuration derived from assay.yaml: light checks on every push and pull
    request, the full run on main, a schedule or by hand, and an approved promotion.

    Example: assay ci init github
    """
    from assay.ci import SYSTEMS, init_ci
    from assay.errors import UsageError

    if system not in SYSTEMS:
        raise UsageError(f"Unknown CI system {system!r}; use one of: {', '.join(SYSTEMS)}")
    written = init_ci(ctx.project(), system, force=force)
    out = ctx.console()
    for path in written.paths:
        out.print(f"wrote {escape(path)}")
    for note in written.notes:
        out.print(f"note: {escape(note)}", soft_wrap=True)


@ci_app.command("report")
def report(
    markdown: Path | None = typer.Option(None, "--markdown",
                                         help="Write the report to this file (default: stdout)."),
    base: str | None = typer.Option(None, "--base", help="Git ref to compare with (default: "
                                    "the PR's target branch from the CI, else origin/HEAD)."),
) -> None:
    """Build the pull-request report: data changes against the base branch, contract results,
    metrics against the base branch and the champion, gate verdicts, plots as files.

    Example: assay ci report --markdown reports/ci-report.md
    """
    from assay._paths import resolve_inside
    from assay.ci import write_report

    project = ctx.project()
    target = None
    if markdown is not None:
        target = resolve_inside(project.root, markdown if markdown.is_absolute()
                                else Path.cwd() / markdown, what="--markdown")
    text = write_report(project, base=base, markdown=target)
    if target is None:
        sys.stdout.write(text)
    else:
        ctx.console().print(f"wrote {escape(str(markdown))}")


@ci_app.command("comment")
def comment(
    file: Path = typer.Option(Path("reports/ci-report.md"), "--file",
                              help="The Markdown body to post (from assay ci report)."),
    provider: str | None = typer.Option(None, "--provider", metavar="github|gitlab",
                                        help="Default: gitlab inside GitLab CI, else github."),
    pr: int | None = typer.Option(None, "--pr", min=1,
                                  help="PR or MR number (default: from the CI's environment)."),
) -> None:
    """Post the report as one comment on the pull or merge request, updated in place on later
    pushes (token from GITHUB_TOKEN, or GITLAB_TOKEN / CI_JOB_TOKEN).

    Example: assay ci comment --provider github --file reports/ci-report.md
    """
    from assay.ci import post_comment, target_for
    from assay.errors import UsageError

    try:
        body = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{file} does not exist; run: assay ci report --markdown {file}",
                         path=str(file)) from None
    target = target_for(provider, pr)
    posted = post_comment(body, target)
    where = f" {posted.url}" if posted.url else ""
    ctx.console().print(escape(f"{posted.action} comment {posted.id} on {posted.provider} "
                               f"#{posted.number}{where}"))


def register(app: typer.Typer) -> None:
    app.add_typer(ci_app, name="ci")
