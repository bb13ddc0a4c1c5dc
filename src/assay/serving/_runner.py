"""Running the app under uvicorn: one process or ``--workers N``, SIGHUP, graceful SIGTERM.

On SIGTERM (or Ctrl-C) readiness fails at once (``/v2/health/ready`` answers 503), uvicorn
stops accepting connections, requests in flight finish (for up to ``grace_s``), then the
process exits. Connections the kernel completed but nobody accepted yet are taken and answered
before the listener closes: closing a listener resets the connections still in its queue. SIGHUP makes a server check the aliases it follows now.

With ``--workers N`` (N > 1) the workers share their metrics through prometheus-client's
multiprocess mode, in a private directory (mode 0700) made fresh for this server and removed
when it exits: a directory named by the environment is never reused, since files left there
by an earlier server would be counted as this one's. One worker keeps its metrics in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import shutil
import socket
import sys
import tempfile
from typing import Any

import uvicorn  # the serve extra
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from assay.serving._metrics import MULTIPROC_ENV
from assay.serving._options import OPTIONS_ENV, ServeOptions

#: On a stop, how long a connection with no request in progress stays open for one that may
#: already be on its way (then it is closed, or closed after answering that request).
SETTLE_S = 0.5
#: On a stop, once new connection requests are refused, how long handshakes already under
#: way get to complete (on 127.0.0.1 they take microseconds) before the queue is taken.
HANDSHAKES_S = 0.05


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


class DrainingServer(uvicorn.Server):
    """uvicorn's server, except that a stop first refuses new connection requests (a socket
    filter, on Linux), lets the handshakes under way finish, takes the connections waiting in
    the listener's queue (the client already counts them as open and may have sent its
    request) and only then closes the listener, with no pause in between: uvicorn closes it
    straight away, and the kernel resets every connection still queued."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        servers = getattr(self, "servers", [])
        if [listener for server in servers for listener in server.sockets
                if _refuse_new_connections(listener)]:
            await asyncio.sleep(HANDSHAKES_S)  # meanwhile accepted as usual
        waiting: list[socket.socket] = []
        for server in servers:
            for listener in server.sockets:
                waiting.extend(_queued(listener))
            server.close()
        loop = asyncio.get_running_loop()
        for conn in waiting:
            try:
                await loop.connect_accepted_socket(self._protocol, conn)
            except OSError:
                conn.close()
        await super().shutdown(sockets)

    def _protocol(self) -> asyncio.Protocol:
        config = self.config
        return config.http_protocol_class(  # type: ignore[call-arg,no-any-return]
            config=config, server_state=self.server_state, app_state=self.lifespan.state,
        )


def _refuse_new_connections(listener: Any) -> bool:
    """Linux: a socket filter on ``listener`` that drops new connection requests (a SYN without
    ACK) and lets everything else through, so no handshake starts between taking the queue and
    closing the listener; a client's dropped SYN is retried and then refused, never reset.
    False where it cannot be set (then only the queue is taken)."""
    import ctypes
    import struct
    import sys

    if not sys.platform.startswith("linux"):
        return False
    # classic BPF over the TCP header: A = flags; SYN and not ACK: drop; else accept
    program = [(0x30, 0, 0, 13),          # ldb [13]
               (0x45, 0, 2, 0x02),        # jset #SYN  ? next : accept
               (0x45, 1, 0, 0x10),        # jset #ACK  ? accept : drop
               (0x06, 0, 0, 0),           # ret #0 (drop)
               (0x06, 0, 0, 0xFFFFFFFF)]  # ret #-1 (accept)
    code = b"".join(struct.pack("HBBI", *op) for op in program)
    buffer = ctypes.create_string_buffer(code)
    fprog = struct.pack("HL", len(program), ctypes.addressof(buffer))
    try:
        listener.setsockopt(socket.SOL_SOCKET, 26, fprog)  # SO_ATTACH_FILTER
    except OSError:
        return False
    return True


def _queued(listener: Any) -> list[socket.socket]:
    """Every connection waiting in ``listener``'s accept queue, without blocking."""
    found: list[socket.socket] = []
    own = socket.socket(listener.family, listener.type, fileno=os.dup(listener.fileno()))
    try:
        own.setblocking(False)
        while True:
            try:
                conn, _ = own.accept()
            except (BlockingIOError, InterruptedError):
                return found
            except OSError:
                return found
            conn.setblocking(False)
            found.append(conn)
    finally:
        own.close()


def run(options: ServeOptions, *, host: str = "127.0.0.1", port: int = 8080,
        workers: int = 1) -> None:
    """Serve until stopped (SIGTERM, SIGINT)."""
    # The start-up imports (uvicorn, FastAPI, the model's library) allocate hundreds of
    # thousands of long-lived objects; the cyclic collector walking them over and over took
    # about a fifth of the start-up's CPU. It is paused until the models' first load.
    gc.disable()
    os.environ[OPTIONS_ENV] = options.to_json()
    for name in (MULTIPROC_ENV, MULTIPROC_ENV.lower()):  # the library reads both spellings
        os.environ.pop(name, None)
    shared = tempfile.mkdtemp(prefix="assay-serve-metrics-") if workers > 1 else None
    if shared is not None:  # inherited by the workers uvicorn spawns
        os.environ[MULTIPROC_ENV] = shared
    settings: dict[str, Any] = dict(
        factory=True, host=host, port=port, access_log=False, log_level="warning",
        timeout_graceful_shutdown=int(options.grace_s), lifespan="on", server_header=False,
        date_header=False, ws="none", http=SettlingProtocol,
    )
    try:
        if workers > 1:  # the parent holds the listener until the last worker is gone
            uvicorn.run("assay.serving._runner:factory", workers=workers, **settings)
        else:
            config = uvicorn.Config("assay.serving._runner:factory", **settings)
            server = DrainingServer(config)
            with contextlib.suppress(KeyboardInterrupt):
                server.run()
            if not server.started:
                sys.exit(STARTUP_FAILURE)
    finally:
        if shared is not None:
            os.environ.pop(MULTIPROC_ENV, None)
            shutil.rmtree(shared, ignore_errors=True)
