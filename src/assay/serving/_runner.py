"""Running the app under uvicorn: one process or ``--workers N``, SIGHUP, graceful SIGTERM.

On SIGTERM (or Ctrl-C) readiness fails at once (``/v2/health/ready`` answers 503), uvicorn
stops accepting connections, requests in flight finish (for up to ``grace_s``), then the
process exits. SIGHUP makes a server check the aliases it follows now.

With ``--workers N`` (N > 1) the workers share their metrics through prometheus-client's
multiprocess mode, in a private directory (mode 0700) made fresh for this server and removed
when it exits: a directory named by the environment is never reused, since files left there
by an earlier server would be counted as this one's. One worker keeps its metrics in memory.
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol  # the serve extra

from assay.serving._metrics import MULTIPROC_ENV
from assay.serving._options import OPTIONS_ENV, ServeOptions

#: On a stop, how long a connection with no request in progress stays open for one that may
#: already be on its way (then it is closed, or closed after answering that request).
SETTLE_S = 0.5


def factory() -> Any:
    """The app of the options in :data:`OPTIONS_ENV` (uvicorn's worker processes call this)."""
    from assay.serving._app import build

    app = build(ServeOptions.from_json(os.environ[OPTIONS_ENV]))
    if not gc.isenabled():  # paused by run() for the start-up
        app.state.assay.after_first_load(_resume_gc)
    return app


def _resume_gc() -> None:
    """The start-up's objects (modules, the model) live as long as the process: frozen out of
    the collector's view, later collections do not walk them again."""
    gc.freeze()
    gc.enable()


class SettlingProtocol(HttpToolsProtocol):  # type: ignore[misc]
    """uvicorn's HTTP protocol, except that a stop does not close a connection the moment
    it has no request in progress: a request the client already sent (still in the
    kernel's buffer) would be reset. It gets :data:`SETTLE_S` to arrive and is answered
    (with ``Connection: close``)."""

    _closing = False

    def shutdown(self) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self._closing = True
            self.loop.call_later(SETTLE_S, self._close_if_idle)
            return
        super().shutdown()

    def _close_if_idle(self) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()
        else:
            self.cycle.keep_alive = False

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self._closing and self.cycle is not None:
            self.cycle.keep_alive = False


def run(options: ServeOptions, *, host: str = "127.0.0.1", port: int = 8080,
        workers: int = 1) -> None:
    """Serve until stopped (SIGTERM, SIGINT)."""
    # The start-up imports (uvicorn, FastAPI, the model's library) allocate hundreds of
    # thousands of long-lived objects; the cyclic collector walking them over and over took
    # about a fifth of the start-up's CPU. It is paused until the models' first load.
    gc.disable()
    import uvicorn

    os.environ[OPTIONS_ENV] = options.to_json()
    for name in (MULTIPROC_ENV, MULTIPROC_ENV.lower()):  # the library reads both spellings
        os.environ.pop(name, None)
    shared = tempfile.mkdtemp(prefix="assay-serve-metrics-") if workers > 1 else None
    if shared is not None:  # inherited by the workers uvicorn spawns
        os.environ[MULTIPROC_ENV] = shared
    try:
        uvicorn.run(
            "assay.serving._runner:factory", factory=True, host=host, port=port,
            workers=workers, access_log=False, log_level="warning",
            timeout_graceful_shutdown=int(options.grace_s), lifespan="on", server_header=False,
            date_header=False, ws="none", http=SettlingProtocol,
        )
    finally:
        if shared is not None:
            os.environ.pop(MULTIPROC_ENV, None)
            shutil.rmtree(shared, ignore_errors=True)
