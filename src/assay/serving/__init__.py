"""Serving: ``assay serve``, an inference server for registered models.

It speaks the protocols clients already use (the Open Inference Protocol v2 of KServe, Triton
and MLServer; MLflow's scoring protocol; a native ``/predict``), enforces the model's
signature, bounds every request, micro-batches concurrent requests into one model call, logs
predictions for monitoring, follows an alias and swaps to its new version without dropping a
request, serves a deployment's variants (``--deployment``: a stable version and a rollout's
candidate, split or shadowed, optionally sticky by a request key), and stops gracefully. See
docs/serving.md.

>>> from assay.serving import app
>>> asgi = app("churn@production")  # doctest: +SKIP
>>> # mount it in your own service, or: uvicorn.run(asgi)
"""

from __future__ import annotations

from typing import Any

from assay.serving._export import export_context
from assay.serving._options import ServeOptions


def app(*refs: str, **options: Any) -> Any:
    """The ASGI app (FastAPI) serving ``refs``: ``MODEL@ALIAS``, ``MODEL:VERSION`` or a package
    path.

    Args:
        refs: the models to serve.
        options: any field of :class:`ServeOptions` (``max_rows=1000``, ``root="..."``).

    Returns:
        An ASGI app; models load in the background from its start (or first request).

    Raises:
        ServingError: no reference, or an option out of range.

    Example:
        >>> import uvicorn
        >>> uvicorn.run(app("churn@production"), port=8080)  # doctest: +SKIP
    """
    from assay.serving._app import build

    return build(ServeOptions(refs=tuple(refs), **options))


def check_deployment(options: ServeOptions) -> None:
    """Fail early if ``options.deployment`` is not a deployment of the project's assay.yaml.

    Raises:
        ServingError: no project, or no such deployment.
    """
    from assay.serving._deployment import require_deployment
    from assay.serving._model import find_project

    if options.deployment is not None:
        require_deployment(options.deployment, find_project(options.root))


def serve(options: ServeOptions, *, host: str = "127.0.0.1", port: int = 8080,
          workers: int = 1) -> None:
    """Run the server until it is stopped (what ``assay serve`` calls)."""
    from assay.serving._runner import run

    run(options, host=host, port=port, workers=workers)


__all__ = ["ServeOptions", "app", "check_deployment", "export_context", "serve"]
