"""The local server a deployment with ``serve:`` runs on: ``assay serve --deployment NAME``
as a process assay starts, adopts, restarts and stops.

Every command that drives a rollout first calls :meth:`ManagedServer.ensure`: when the
deployment's URL answers ``GET /status`` as this deployment's server, that server is adopted
(whoever started it); otherwise one is started, **detached** (its own session, so it outlives
the command and a controller killed with SIGKILL), with its output in
``.assay/deployments/NAME/serve.log`` and its pid in ``serve.pid`` beside it (JSON, written
atomically), and the command waits until it answers. A port held by anything else is refused.

The pid file says the server is managed: :meth:`revive` (the controller, at each look) starts
a new one only when the recorded process died, and :meth:`stop` signals the recorded pid only
after the server at the recorded URL confirmed it is that process (``/status`` reports its pid;
with ``workers`` > 1, a worker's, whose parent is the recorded pid) or the process's command
line is this deployment's ``assay serve``. A stopped server has no pid file, so it stays
stopped until the next command that drives a rollout.

Start, adopt, stop: one at a time per deployment (an exclusive ``flock`` on ``serve.lock``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from assay import _layout
from assay._atomic import write_text_atomic
from assay.deployment._processes import command_of, is_alive, parent_of, port_is_free
from assay.errors import DeploymentError

if TYPE_CHECKING:
    from assay.config import DeploymentConfig, ServeConfig
    from assay.store import Store

SERVERS_DIR = "deployments"
"""Under ``.assay/``: one folder per deployment with a managed server."""
LOG_FILE = "serve.log"
PID_FILE = "serve.pid"
LOCK_FILE = "serve.lock"


@dataclass(frozen=True)
class Answer:
    """What answered at a URL: ``ours`` (this deployment's server, with the pid its
    ``/status`` reports), ``other`` (something else) or ``none`` (nothing listens)."""

    kind: Literal["ours", "other", "none"]
    pid: int | None = None
    detail: str = ""
    loading: bool = False
    """The server is not ready yet and still loading a model (not one that failed)."""


def ask_status(url: str, name: str, *, timeout: float = 3.0) -> Answer:
    """Who answers ``GET URL/status``: deployment ``name``'s server, something else, nobody.

    Raises:
        DeploymentError: httpx is not installed.
    """
    try:
        import httpx
    except ImportError:
        raise DeploymentError("Deployments talk to the server over HTTP; install the serve "
                              "extra: pip install 'assay[serve]'") from None

    try:
        reply = httpx.get(f"{url}/status", timeout=timeout, trust_env=False)
        status = reply.json()
    except (httpx.ConnectError, httpx.ConnectTimeout):  # whether the port is held: bind it
        return Answer("none")
    except (httpx.HTTPError, ValueError) as exc:
        return Answer("other", detail=f"no assay status ({type(exc).__name__})")
    if not isinstance(status, dict):
        return Answer("other", detail="no assay status")
    deployment = status.get("deployment") or {}
    if not isinstance(deployment, dict) or deployment.get("name") != name:
        return Answer("other", detail="an assay server of something else")
    pid = status.get("pid")
    found = status.get("models")
    models: list[Any] = found if isinstance(found, list) else []
    loading = not status.get("ready") and any(
        isinstance(m, dict) and m.get("reason") == "loading" for m in models)
    return Answer("ours", pid=pid if isinstance(pid, int) else None, loading=loading)


@dataclass(frozen=True)
class Launch:
    """What :meth:`ManagedServer.ensure` did: ``adopted`` a running server, ``started`` one,
    or ``restarted`` one whose recorded process had died."""

    action: Literal["adopted", "started", "restarted"]
    pid: int
    url: str
    log: str


@dataclass(frozen=True)
class Stopped:
    """What :meth:`ManagedServer.stop` did: ``stopped`` (it exited on SIGTERM), ``killed``
    (it did not within the grace period) or ``not_running``."""

    action: Literal["stopped", "killed", "not_running"]
    pid: int | None
    url: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ServerState:
    """A deployment's server as ``assay deployments list/status`` show it."""

    managed: bool
    running: bool
    url: str
    pid: int | None = None
    log: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Record:
    """The pid file: which process serves the deployment, where, since when."""

    pid: int
    url: str
    started_at: float
    command: tuple[str, ...] = ()

    def to_json(self) -> str:
        return json.dumps({"pid": self.pid, "url": self.url, "started_at": self.started_at,
                           "command": list(self.command)}, indent=2) + "\n"


class ManagedServer:
    """The ``assay serve --deployment NAME`` process of deployment ``name`` (with ``serve:``).

    Args:
        root: the project folder (the server runs there; its files are under ``.assay/``).
        name: the deployment.
        config: its ``deployments: NAME`` section.
        start_timeout: seconds a new server has to answer ``/status``.

    Raises:
        DeploymentError: the deployment has ``url:`` (assay does not manage its server).
    """

    def __init__(self, root: Path, name: str, config: DeploymentConfig, *,
                 start_timeout: float = 60.0) -> None:
        if config.serve is None:
            raise DeploymentError(
                f"Deployment {name} is served at {config.url} by a server assay does not "
                "manage (url: in assay.yaml); stop it where it runs, or give the deployment "
                "serve: {port: PORT} for assay to run it", deployment=name)
        self.root = root
        self.name = name
        self.serve: ServeConfig = config.serve
        self.url = config.url
        self.start_timeout = start_timeout
        self.folder = _layout.state_dir(root) / SERVERS_DIR / name
        self._child: subprocess.Popen[bytes] | None = None

    # -- files -------------------------------------------------------------------------------

    @property
    def log_file(self) -> Path:
        return self.folder / LOG_FILE

    @property
    def pid_file(self) -> Path:
        return self.folder / PID_FILE

    def _shown(self, path: Path) -> str:
        with contextlib.suppress(ValueError):
            return path.relative_to(self.root).as_posix()
        return str(path)

    def record(self) -> Record | None:
        """The pid file (None when there is none, or it is unreadable)."""
        try:
            data = json.loads(self.pid_file.read_text())
            return Record(int(data["pid"]), str(data["url"]), float(data["started_at"]),
                          tuple(str(a) for a in data.get("command") or ()))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    # -- what runs ---------------------------------------------------------------------------

    def command(self) -> list[str]:
        """The command the server runs: ``python -m assay serve --deployment NAME ...``."""
        return [sys.executable, "-m", "assay", "serve", "--deployment", self.name,
                *self.serve.arguments()]

    def _is_our_command(self, pid: int) -> bool:
        argv = command_of(pid) or []
        if "serve" not in argv or "--deployment" not in argv:
            return False
        at = argv.index("--deployment")
        return at + 1 < len(argv) and argv[at + 1] == self.name

    def _is_running(self, pid: int) -> bool:
        if self._child is not None and self._child.pid == pid:
            return self._child.poll() is None  # our own child: reaped here, never a zombie
        return is_alive(pid)

    def _confirms(self, answer: Answer, pid: int) -> bool:
        """True when ``answer`` (from the recorded URL) comes from process ``pid``."""
        if answer.kind != "ours" or answer.pid is None:
            return False
        return answer.pid == pid or parent_of(answer.pid) == pid

    def _main_pid(self, answer: Answer) -> int | None:
        """The process to signal for the server that gave ``answer``: the one whose /status it
        is, or its parent when that is the ``assay serve`` (a worker answered)."""
        if answer.pid is None:
            return None
        parent = parent_of(answer.pid)
        if parent is not None and parent > 1 and self._is_our_command(parent):
            return parent
        return answer.pid

    def state(self) -> ServerState:
        """Managed, and running (answering as this deployment's server) or not."""
        record = self.record()
        url = record.url if record is not None else self.url
        answer = ask_status(url, self.name, timeout=1.0)
        running = answer.kind == "ours"
        pid = (record.pid if record is not None and self._confirms(answer, record.pid)
               else self._main_pid(answer) if running else None)
        return ServerState(managed=True, running=running, url=url, pid=pid,
                           log=self._shown(self.log_file))

    # -- start, adopt, restart ---------------------------------------------------------------

    def ensure(self, store: Store | None = None, *, actor: str | None = None) -> Launch:
        """Make sure the deployment's server runs: adopt the one that answers, wait for one
        still starting, or start one (recorded as ``deployment.server_started``, or
        ``deployment.server_restarted`` when the recorded one had died).

        Raises:
            DeploymentError: the port is taken by something else, the recorded server runs
                elsewhere than assay.yaml says, or a new server did not come up.
        """
        with self._locked():
            return self._ensure(store, actor)

    def revive(self, store: Store | None = None, *, actor: str | None = None) -> Launch | None:
        """Start the server again if its recorded process died (None: it did not, or it was
        stopped with :meth:`stop`, which leaves no record)."""
        record = self.record()
        if record is None or self._is_running(record.pid):
            return None
        with self._locked():
            record = self.record()
            if record is None or self._is_running(record.pid):
                return None
            return self._ensure(store, actor)

    def _ensure(self, store: Store | None, actor: str | None) -> Launch:
        record = self.record()
        if record is not None and record.url != self.url and self._is_running(record.pid):
            raise DeploymentError(
                f"The managed server of {self.name} runs at {record.url} (pid {record.pid}) "
                f"but assay.yaml says {self.url}; stop it first: assay deployments stop "
                f"{self.name}", deployment=self.name)
        answer = ask_status(self.url, self.name)
        if answer.kind == "ours":
            return self._adopt(record, answer)
        if record is not None and self._is_running(record.pid) and \
                self._is_our_command(record.pid):
            return self._wait_ready(record.pid, "adopted")  # still starting (or busy)
        if answer.kind == "other" or not port_is_free(self.serve.host, self.serve.port):
            what = answer.detail or "not an HTTP server"
            raise DeploymentError(
                f"Port {self.serve.port} ({self.url}) is taken by something that is not "
                f"deployment {self.name}'s server ({what}); stop it, or give "
                f"deployments.{self.name}.serve.port another port in assay.yaml",
                deployment=self.name, port=self.serve.port)
        action: Literal["started", "restarted"] = "started" if record is None else "restarted"
        launch = self._start(action)
        if store is not None:
            store.record_event(f"deployment.server_{action}", f"deployment:{self.name}",
                               {"pid": launch.pid, "host": self.serve.host,
                                "port": self.serve.port, "url": self.url, "log": launch.log},
                               actor=actor)
        return launch

    def _adopt(self, record: Record | None, answer: Answer) -> Launch:
        if record is not None and self._confirms(answer, record.pid):
            return Launch("adopted", record.pid, self.url, self._shown(self.log_file))
        pid = self._main_pid(answer)
        if pid is None:
            raise DeploymentError(f"The server at {self.url} does not report its pid on "
                                  "/status; upgrade it, or stop it and let assay start one",
                                  deployment=self.name)
        found = Record(pid, self.url, time.time(), tuple(command_of(pid) or ()))
        write_text_atomic(self.pid_file, found.to_json())
        return Launch("adopted", pid, self.url, self._shown(self.log_file))

    def _start(self, action: Literal["started", "restarted"]) -> Launch:
        command = self.command()
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:  # the child keeps its own copy of the handle
            log.write(f"--- {action} by assay at {time.strftime('%Y-%m-%d %H:%M:%S')}: "
                      f"{' '.join(command[1:])}\n".encode())
            log.flush()
            child = subprocess.Popen(command, cwd=self.root, stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self._child = child
        write_text_atomic(self.pid_file,
                          Record(child.pid, self.url, time.time(), tuple(command)).to_json())
        return self._wait_ready(child.pid, action)

    def _wait_ready(self, pid: int, action: Literal["adopted", "started", "restarted"]
                    ) -> Launch:
        log = self._shown(self.log_file)
        deadline = time.monotonic() + self.start_timeout
        while True:
            answer = ask_status(self.url, self.name)
            # a server we start is up once its models are loaded (requests before that get
            # 503); one that failed to load a model, or waits for an alias, is up as it is
            if self._confirms(answer, pid) and (
                    action == "adopted" or not answer.loading or time.monotonic() > deadline):
                return Launch(action, pid, self.url, log)
            if not self._is_running(pid):
                self._forget(pid)
                code = (self._child.returncode if self._child is not None
                        and self._child.pid == pid else None)
                how = f" (exit code {code})" if code is not None else ""
                raise DeploymentError(
                    f"The managed server of {self.name} exited before it answered{how}; "
                    f"see {log}", deployment=self.name, log=log)
            if time.monotonic() > deadline:
                if action == "adopted":  # not ours to stop: it may only be busy
                    raise DeploymentError(
                        f"The managed server of {self.name} (pid {pid}) does not answer at "
                        f"{self.url} (waited {self.start_timeout:g} s); see {log}, or stop it: "
                        f"assay deployments stop {self.name}", deployment=self.name, log=log)
                self._terminate(pid, grace=5.0)
                self._forget(pid)
                raise DeploymentError(
                    f"The managed server of {self.name} (pid {pid}) did not answer at "
                    f"{self.url} within {self.start_timeout:g} s and was stopped; see {log}",
                    deployment=self.name, log=log)
            time.sleep(0.1)

    def _forget(self, pid: int) -> None:
        record = self.record()
        if record is not None and record.pid == pid:
            with contextlib.suppress(FileNotFoundError):
                self.pid_file.unlink()

    # -- stop --------------------------------------------------------------------------------

    def stop(self, store: Store | None = None, *, actor: str | None = None,
             grace: float = 30.0) -> Stopped:
        """Stop the server gracefully: SIGTERM to the recorded pid once it is confirmed to be
        this deployment's server, then wait for it to exit (SIGKILL to its process group
        after ``grace`` seconds). Recorded as ``deployment.server_stopped``.

        Raises:
            DeploymentError: the recorded pid is alive but is not this deployment's server.
        """
        with self._locked():
            record = self.record()
            url = record.url if record is not None else self.url
            answer = ask_status(url, self.name)
            if record is None:
                pid = self._main_pid(answer) if answer.kind == "ours" else None
                if pid is None:
                    return Stopped("not_running", None, url)
            else:
                pid = record.pid
                if not self._is_running(pid):
                    self._forget(pid)
                    return Stopped("not_running", pid, url)
                if not self._confirms(answer, pid) and not self._is_our_command(pid):
                    raise DeploymentError(
                        f"pid {pid} in {self._shown(self.pid_file)} is not deployment "
                        f"{self.name}'s server (nothing at {url} confirms it); if the server "
                        f"is gone, remove {self._shown(self.pid_file)}", deployment=self.name)
            killed = self._terminate(pid, grace=grace)
            self._forget(pid)
            if store is not None:
                store.record_event("deployment.server_stopped", f"deployment:{self.name}",
                                   {"pid": pid, "url": url, "killed": killed}, actor=actor)
            return Stopped("killed" if killed else "stopped", pid, url)

    def _terminate(self, pid: int, *, grace: float) -> bool:
        """SIGTERM ``pid``, wait up to ``grace`` s, then SIGKILL its group; True if killed."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not self._is_running(pid):
                return False
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            group = os.getpgid(pid)
            if group == pid:  # its own session (we started it): the workers go with it
                os.killpg(group, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10.0
        while self._is_running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        return True


def server_state(root: Path, name: str, config: DeploymentConfig) -> ServerState:
    """Deployment ``name``'s server: managed by assay (``serve:``) or not (``url:``), and
    whether it answers as this deployment's server."""
    if config.is_managed:
        return ManagedServer(root, name, config).state()
    answer = ask_status(config.url, name, timeout=1.0)
    return ServerState(managed=False, running=answer.kind == "ours", url=config.url,
                       pid=answer.pid if answer.kind == "ours" else None)
