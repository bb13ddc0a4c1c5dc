"""The Typer app: assembled from the command-group modules, run with one error boundary.

:func:`run` is the CLI's one boundary: whatever ends a command becomes its exit code through
:func:`assay._exits.report` (0 ok, 1 a check, gate or stage failed, 2 usage or config error,
3 internal error, 130 interrupted).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import typer

from assay.cli import _context as ctx

HELP = """assay: CI/CD for machine learning.

Version data, validate it against contracts, train candidates in a cached pipeline, \
gate them on evaluation, and promote the winner through a registry with approvals.

Examples: assay init --example churn churn; assay run; assay status; assay doctor
"""


def _root_callback(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
    project_dir: Path | None = typer.Option(
        None, "-C", "--project", help="Run as if started in this folder."
    ),
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    if version:
        from importlib.metadata import version as dist_version

        typer.echo(f"assay {dist_version('assay')}")
        raise typer.Exit(0)
    ctx.GLOBALS.debug = debug or ctx.GLOBALS.debug
    if project_dir is not None:
        ctx.GLOBALS.project_dir = project_dir


def build_app() -> typer.Typer:
    """Assemble the Typer app from the command-group modules."""
    from assay.cli import (
        alerts,
        ci,
        config,
        contracts,
        data,
        deploy,
        doctor,
        evaluation,
        init,
        models,
        monitor,
        pipeline,
        report,
        runs,
        serve,
        triggers,
    )
    from assay.cli._front import HELP_FLAGS

    app = typer.Typer(
        help=HELP,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": list(HELP_FLAGS)},
    )
    app.callback()(_root_callback)
    init.register(app)
    config.register(app)
    data.register(app)
    evaluation.register(app)
    pipeline.register(app)
    runs.register(app)
    models.register(app)
    doctor.register(app)
    contracts.register(app)
    serve.register(app)
    deploy.register(app)
    monitor.register(app)
    alerts.register(app)
    triggers.register(app)
    report.register(app)
    ci.register(app)
    return app


def _click_exceptions() -> Any:
    """Typer >= 0.20 vendors click; older versions use click itself."""
    import importlib

    try:
        return importlib.import_module("typer._click.exceptions")
    except ImportError:  # pragma: no cover - older typer
        return importlib.import_module("click.exceptions")


def run(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv``; return the exit code instead of exiting."""
    click_exc = _click_exceptions()

    from assay._exits import exit_code, report
    from assay._layout import DEBUG_ENV
    from assay.errors import UsageError

    args = list(sys.argv[1:] if argv is None else argv)
    ctx.GLOBALS.debug = "--debug" in args or os.environ.get(DEBUG_ENV, "") == "1"
    try:
        result = build_app()(args=args, prog_name="assay", standalone_mode=False)
        return exit_code(SystemExit(result if isinstance(result, int) else 0))
    except typer.Exit as exc:  # the framework's own exit: --help, --version
        return exit_code(SystemExit(exc.exit_code))
    except typer.Abort:  # Ctrl-C at a prompt
        return report(KeyboardInterrupt())
    except click_exc.ClickException as exc:  # the framework's usage message is the one line
        exc.show()
        return exit_code(UsageError(exc.format_message()))
    except (Exception, KeyboardInterrupt) as exc:
        return report(exc, debug=ctx.GLOBALS.debug)
    finally:
        ctx.reset()


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())


