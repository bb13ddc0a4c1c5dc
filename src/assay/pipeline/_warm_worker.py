"""The warm worker: one process per run that imports what built-in stage kinds need once, then
forks a fresh child for each built-in stage job.

A built-in stage (``kind: validate``, ``train``, ...) is ``python -m assay.pipeline.kind_exec``;
started cold it pays an interpreter start plus seconds of imports (scikit-learn, Polars,
matplotlib) for often well under a second of work. The executor (:mod:`._executor`) instead asks
this worker to fork a child that runs the same module. The child keeps the isolation of a
subprocess: its own session and process group (kills and timeouts reach it and its children),
its own stdout+stderr (the write end of a pipe the executor reads, passed over the socket), the
job's exact environment, working directory and exit status. Each child is forked from the
pristine worker, so nothing (environment, modules, globals) leaks from one job to the next.

Protocol over a ``SOCK_SEQPACKET`` socket pair, one JSON object per packet:

- executor -> worker: ``{"module", "argv", "env", "cwd", "imports"}`` with the job's output fd
  attached (``imports``: what the job needs, imported before it is forked);
- worker -> executor: ``{"pid": N}`` once the child is forked (``{"error": ...}`` if not), and
  ``{"exit": N, "code": C}`` when it ends (``C`` as ``Popen.returncode``: ``-SIG`` if killed).

The worker ends when the executor closes its end (or dies): running children are left to the
executor's kills and watchdog. ``ASSAY_NO_WARM_WORKER=1`` runs built-in stages cold.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
import types
from typing import Any

DISABLE_ENV = "ASSAY_NO_WARM_WORKER"
MAX_PACKET = 1 << 20
# Variables that may differ between the jobs of one worker (every other one is the worker's
# own). The run id: a worker started before its run had one (see ``start_early_worker``).
PER_JOB_ENV = frozenset({"ASSAY_STAGE", "ASSAY_STAGE_RUN_ID", "ASSAY_STAGE_CONTEXT",
                         "ASSAY_RUN_ID"})


def _exit_code(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _child(request: dict[str, Any], out_fd: int, closing: list[int]) -> int:
    """Become the job (in the forked child); return its exit code."""
    import atexit
    import runpy
    import traceback

    os.setsid()
    for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    signal.set_wakeup_fd(-1)
    for fd in closing:
        with contextlib.suppress(OSError):
            os.close(fd)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    os.close(devnull)
    os.close(out_fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the process's own stdin
    sys.stdout = open(1, "w", closefd=False, buffering=1 if unbuffered else -1)  # noqa: SIM115
    sys.stderr = open(2, "w", closefd=False, buffering=1,  # noqa: SIM115
                      errors="backslashreplace")
    sys.argv = [request["module"], *request.get("argv", [])]
    # The worker imported the module to warm what it imports; run it fresh as __main__, as
    # ``python -m`` does (runpy warns about a module already imported, in every stage's log).
    sys.modules.pop(request["module"], None)
    try:
        runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc)
    except KeyboardInterrupt:
        code = 128 + signal.SIGINT
    except BaseException:  # what an interpreter does with an uncaught exception
        traceback.print_exc()
        code = 1
    try:
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
    return code


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):
        sock.send(json.dumps(message).encode())


def _import(name: str) -> tuple[str, ...]:
    """Import ``name``; for a ``module:OBJECT`` reference (a stage kind, named as its entry
    point is), return what the object declares in ``warm_imports`` (still to import); for a
    ``module:function`` one, call the function (it keeps what it computes: a stage's warm
    call, see ``StageKind``). What fails is left to the job, which reports it."""
    module, _, attr = name.partition(":")
    try:
        obj: Any = sys.modules.get(module) or importlib.import_module(module)
        for part in attr.split(".") if attr else []:
            obj = getattr(obj, part)
        if attr and isinstance(obj, types.FunctionType):
            obj()
            return ()
    except Exception:
        return ()
    return tuple(getattr(obj, "warm_imports", ())) if attr else ()


def _cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def serve(sock: socket.socket, modules: list[str]) -> None:
    """Fork jobs until the executor closes the socket. Before forking a job, import what it
    needs (its ``imports``); while a core is free of its jobs, import ``modules`` (what
    other jobs will need) one at a time. A ``module:OBJECT`` name also imports the object's
    ``warm_imports`` (after the modules named): a worker started before the kinds are loaded
    is named them that way."""
    pending = list(modules)
    tried: set[str] = set()

    def ensure(names: list[str] | tuple[str, ...]) -> None:
        for name in names:
            if name not in tried and name not in sys.modules:
                tried.add(name)
                ensure(_import(name))

    def ensure_next() -> None:
        name = pending.pop(0)
        if name not in tried and name not in sys.modules:
            tried.add(name)
            pending.extend(_import(name))  # its libraries after the kinds, one a turn

    children: set[int] = set()

    def reap(*_: object) -> None:
        """Report the jobs that ended. Also the SIGCHLD handler: Python runs it between two
        bytecodes of whatever the worker does, so an end is reported while the worker imports
        ahead (the next stage waits on it), not after. Whoever reaps a job reports it."""
        for pid in list(children):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # reaped (and reported) by the handler meanwhile
                children.discard(pid)
                continue
            if done:
                children.discard(pid)
                _send(sock, {"exit": pid, "code": os.waitstatus_to_exitcode(status)})

    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, reap)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the runner decides; it closes the socket
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ, "job")
    selector.register(wake_r, selectors.EVENT_READ, "child")
    cores = _cores()
    while True:
        # imports ahead of need only while a core is free of its jobs: on a busy machine they
        # would slow the jobs down more than they speed the next ones up
        idle = bool(pending) and len(children) < cores
        events = selector.select(0 if idle else None)
        if not events and idle:
            ensure_next()
            continue
        for key, _ in events:
            if key.data == "child":
                with contextlib.suppress(OSError):
                    while os.read(wake_r, 512):
                        pass
                reap()
                continue
            try:
                data, fds, _, _ = socket.recv_fds(sock, MAX_PACKET, 1)
            except OSError:
                data, fds = b"", []
            if not data:
                return
            if len(fds) != 1:
                for fd in fds:
                    os.close(fd)
                _send(sock, {"error": "the job came without its output fd"})
                continue
            request = json.loads(data)
            ensure(list(request.get("imports", [])))
            try:
                pid = os.fork()
            except OSError as exc:
                os.close(fds[0])
                _send(sock, {"error": f"cannot fork: {exc.strerror}"})
                continue
            if pid == 0:
                code = 1
                try:
                    code = _child(request, fds[0],
                                  [sock.fileno(), wake_r, wake_w, selector.fileno()])
                finally:
                    os._exit(code)
            os.close(fds[0])
            children.add(pid)
            _send(sock, {"pid": pid})


class WarmProcess:
    """A job running in the warm worker, as the executor sees it (the part of
    :class:`subprocess.Popen` it uses)."""

    def __init__(self, worker: WarmWorker, pid: int, stdout: Any) -> None:
        self.worker = worker
        self.pid = pid
        self.stdout = stdout
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self.worker.exit_code(self.pid)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0.0)
            self.worker.pump(min(left, 0.05) if left is not None else 0.05)
        assert self.returncode is not None
        return self.returncode


class WarmWorker:
    """The executor's end of a warm worker (started in its own session, ended by :meth:`close`).

    Raises:
        OSError: from the constructor and :meth:`start` when the worker cannot be used; the
            executor then runs the job cold.
    """

    def __init__(self, modules: list[str], *, env: dict[str, str], cwd: str) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", __name__, str(theirs.fileno()), *modules],
                pass_fds=[theirs.fileno()], env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self.sock = ours
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, MAX_PACKET)
        self.modules = tuple(modules)
        self._exits: dict[int, int] = {}
        self._pids: set[int] = set()
        self.alive = True

    def fileno(self) -> int:
        return self.sock.fileno()

    def _handle(self, data: bytes) -> dict[str, Any] | None:
        if not data:
            self.alive = False
            return None
        message: dict[str, Any] = json.loads(data)
        if "exit" in message:
            self._exits[int(message["exit"])] = int(message["code"])
            return None
        return message

    def pump(self, timeout: float = 0.0) -> None:
        """Take in the exits the worker reported (waiting up to ``timeout`` for the first)."""
        self.sock.settimeout(timeout)
        try:
            while self.alive:
                data = self.sock.recv(MAX_PACKET)
                self._handle(data)
                self.sock.settimeout(0.0)
        except (BlockingIOError, TimeoutError, InterruptedError):
            pass
        except OSError:
            self.alive = False

    def exit_code(self, pid: int) -> int | None:
        """The exit code of job ``pid`` once it ended (``-SIGKILL`` if the worker died and
        the job is gone without a word)."""
        self.pump()
        if pid in self._exits:
            self._pids.discard(pid)
            return self._exits.pop(pid)
        if not self.alive:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                self._pids.discard(pid)
                return -signal.SIGKILL
            except PermissionError:
                pass
        return None

    def start(self, module: str, argv: list[str], *, env: dict[str, str], cwd: str,
              imports: tuple[str, ...] = ()) -> WarmProcess:
        """Fork a child running ``python -m module *argv``; return its handle."""
        if not self.alive:
            raise OSError("the warm worker has ended")
        read_end, write_end = os.pipe()
        try:
            body = json.dumps({"module": module, "argv": argv, "env": env, "cwd": cwd,
                               "imports": list(imports)})
            self.sock.settimeout(None)
            socket.send_fds(self.sock, [body.encode()], [write_end])
            while True:
                data = self.sock.recv(MAX_PACKET)
                message = self._handle(data)
                if not self.alive:
                    raise OSError("the warm worker has ended")
                if message is None:
                    continue
                if "pid" not in message:
                    raise OSError(str(message.get("error") or "the warm worker refused the job"))
                break
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        pid = int(message["pid"])
        self._pids.add(pid)
        return WarmProcess(self, pid, open(read_end, "rb", buffering=0))

    def close(self) -> None:
        """End the worker at once: it holds nothing but imports (its children run in their own
        sessions, and are the executor's to kill)."""
        with contextlib.suppress(OSError):
            self.sock.close()
        self.alive = False
        with contextlib.suppress(OSError):
            self.proc.kill()
        self.proc.wait()


def main() -> int:
    sock = socket.socket(fileno=int(sys.argv[1]))
    try:
        serve(sock, sys.argv[2:])
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
