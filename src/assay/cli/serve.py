"""``assay serve``: serve registered models over HTTP (needs the ``serve`` extra)."""

from __future__ import annotations

from pathlib import Path

import typer

from assay.cli import _context as ctx

HELP = """Serve models over HTTP: Open Inference Protocol v2, MLflow's /invocations, native /predict.

REF is MODEL@ALIAS (followed: the server swaps to the alias's new version when it moves;
SIGHUP checks at once), MODEL:VERSION, or a package path. Packages are hash-verified against
the registry before loading. Binds to 127.0.0.1 unless --host says otherwise.

Examples:

  assay serve churn@production

  assay serve churn:3 --port 9000 --workers 2

  curl -s localhost:8080/predict -H 'Content-Type: application/json' -d '{"records": [{"tenure_months": 3, ...}]}'

  assay serve churn@production --export build/churn-image   (a Docker build context)

  assay serve --deployment churn-prod   (the variants and traffic split the store names for
  deployments.churn-prod of assay.yaml: a rollout's stable and candidate versions)
"""


def serve(
    refs: list[str] | None = typer.Argument(None, metavar="REF...", help="MODEL@ALIAS, MODEL:VERSION or a package path."),
    deployment: str | None = typer.Option(None, "--deployment", "-d", help="Serve this deployment of assay.yaml (its variants and traffic split, from the store) instead of REF."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (0.0.0.0: every interface)."),
    port: int = typer.Option(8080, "--port", "-p", help="Port to listen on."),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help="Worker processes."),
    allow_pickle: bool = typer.Option(False, "--allow-pickle", help="Serve a pyfunc (pickle) model registered with the opt-in."),
    max_body_bytes: int = typer.Option(8 * 1024 * 1024, "--max-body-bytes", help="Largest request body (413 past it)."),
    max_rows: int = typer.Option(10_000, "--max-rows", help="Most rows per request (413 past it)."),
    max_concurrency: int = typer.Option(64, "--max-concurrency", help="Requests in flight at once; more get 503 with Retry-After."),
    timeout: float = typer.Option(10.0, "--timeout", help="Seconds to answer a request (504 past it)."),
    max_batch_rows: int = typer.Option(256, "--max-batch-rows", help="Micro-batching: most rows in one model call."),
    max_wait_ms: float = typer.Option(0.0, "--max-wait-ms", help="Micro-batching: how long a batch waits for more requests."),
    log_sample: float = typer.Option(1.0, "--log-sample", help="Share of requests in the prediction log (0: off)."),
    log_dir: Path | None = typer.Option(None, "--log-dir", help="Prediction-log folder (default: .assay/predictions)."),
    log_queue: int = typer.Option(100_000, "--log-queue", help="Prediction-log rows waiting to be written; more are dropped and counted."),
    log_segment_rows: int = typer.Option(20_000, "--log-segment-rows", help="Rows per prediction-log segment, at most."),
    log_segment_seconds: float = typer.Option(60.0, "--log-segment-seconds", help="Seconds before a prediction-log segment is closed."),
    poll: float | None = typer.Option(None, "--poll", help="Seconds between checks of a followed alias or deployment (default 5, 0.5 for a deployment; 0: SIGHUP only)."),
    grace: float = typer.Option(20.0, "--grace", help="On SIGTERM: seconds for requests in flight to finish."),
    no_access_log: bool = typer.Option(False, "--no-access-log", help="No JSON line per request on stderr."),
    export: Path | None = typer.Option(None, "--export", help="Write a Docker build context to this folder instead of serving."),
) -> None:
    try:
        from assay.serving import ServeOptions
        from assay.serving import serve as run
    except ImportError as exc:  # pragma: no cover - depends on the install
        from assay.errors import ServingError

        raise ServingError(f"assay serve needs the serve extra ({exc.name} is missing); "
                           "install it: pip install 'assay[serve]'") from None
    root = ctx.GLOBALS.project_dir
    options = ServeOptions(
        refs=tuple(refs or ()), deployment=deployment, root=str(root) if root else None, allow_pickle=allow_pickle,
        max_body_bytes=max_body_bytes, max_rows=max_rows, max_concurrency=max_concurrency,
        timeout_s=timeout, max_batch_rows=max_batch_rows, max_wait_ms=max_wait_ms,
        log_sample=log_sample, log_dir=str(log_dir) if log_dir else None, log_queue=log_queue,
        log_segment_rows=log_segment_rows, log_segment_seconds=log_segment_seconds, poll_s=poll,
        grace_s=grace, access_log=not no_access_log,
    )
    if export is not None:
        from assay.serving import export_context

        written = export_context(options, export, port=port)
        typer.echo(f"Wrote a Docker build context to {written}; build it with: "
                   f"docker build -t {options.refs[0].split('@')[0].split(':')[0]} {written}")
        return
    if deployment is not None:
        from assay.serving import check_deployment

        check_deployment(options)
    what = f"deployment {deployment}" if deployment is not None else ", ".join(options.refs)
    typer.echo(f"Serving {what} on http://{host}:{port} (Ctrl-C or SIGTERM stops)",
               err=True)
    run(options, host=host, port=port, workers=workers)


def register(app: typer.Typer) -> None:
    app.command("serve", help=HELP)(serve)
