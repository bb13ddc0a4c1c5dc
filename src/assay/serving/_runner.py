"""Running the app under uvicorn: one process or ``--workers N``, SIGHUP, graceful SIGTERM.

On SIGTERM (or Ctrl-C) readiness fails at once (``/v2/health/ready`` answers 503), uvicorn
stops accepting connections, requests in flight finish (for up to ``grace_s``), then the
process exits. SIGHUP makes a server check the aliases it follows now.
"""

from __future__ import annotations

import os
from typing import Any

from assay.serving._options import OPTIONS_ENV, ServeOptions


def factory() -> Any:
    """The app of the options in :data:`OPTIONS_ENV` (uvicorn's worker processes call this)."""
    from assay.serving._app import build

    return build(ServeOptions.from_json(os.environ[OPTIONS_ENV]))


def run(options: ServeOptions, *, host: str = "127.0.0.1", port: int = 8080,
        workers: int = 1) -> None:
    """Serve until stopped (SIGTERM, SIGINT)."""
    import uvicorn

    os.environ[OPTIONS_ENV] = options.to_json()
    uvicorn.run(
        "assay.serving._runner:factory", factory=True, host=host, port=port, workers=workers,
        access_log=False, log_level="warning", timeout_graceful_shutdown=int(options.grace_s),
        lifespan="on", server_header=False, date_header=False,
    )
