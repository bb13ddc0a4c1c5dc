"""Deployments with ``serve:``: the commands that drive a rollout start the deployment's local
``assay serve`` (detached: it outlives them), adopt it when it runs, start it again when its
process died, and ``assay deployments stop`` stops it. Real processes, real HTTP, free ports."""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from assay.deployment._processes import is_alive, port_is_free
from tests.deployment.live import assay, deployment_world, start_assay, store_state
from tests.serving.worlds import World, train_package

ROW = {"a": 1.0, "b": 2, "c": 3.0}
SLOW_STEP = [{"weight": 0.3, "min_requests": 100000, "min_seconds": 1}]
FEW_GUARDS = {"alpha": 0.05, "min_requests": 100, "error_rate": {"max": 0.02}}


def serve_processes(root: Path) -> list[int]:
    """The ``assay serve --deployment prod`` processes running in ``root`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if b"serve" in argv and b"--deployment" in argv and b"prod" in argv and \
                Path(cwd) == root.resolve():
            found.append(int(entry.name))
    return sorted(found)


def wait_for(check: Callable[[], Any], timeout: float = 60.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


def pid_record(root: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads((root / ".assay/deployments/prod/serve.pid").read_text()))
    except FileNotFoundError:
        return None


def answering_pid(url: str) -> int | None:
    try:
        return int(httpx.get(f"{url}/status", timeout=2).json()["pid"])
    except (httpx.HTTPError, ValueError, KeyError):
        return None


@pytest.fixture
def managed(tmp_path: Path) -> Iterator[Callable[..., tuple[World, int, str]]]:
    """Makes a world whose deployment ``prod`` has ``serve:``; every server process running in
    it is killed at the end."""
    worlds: list[World] = []

    def make(**kwargs: Any) -> tuple[World, int, str]:
        kwargs.setdefault("serve", {})
        world, port = deployment_world(tmp_path / f"w{len(worlds)}", **kwargs)
        worlds.append(world)
        return world, port, f"http://127.0.0.1:{port}"

    yield make
    for world in worlds:
        for pid in serve_processes(world.root):
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def test_deploy_starts_the_server_which_outlives_it_and_the_next_command_adopts_it(
        managed: Callable[..., tuple[World, int, str]]) -> None:
    world, port, url = managed(strategy="direct")
    world.register(train_package(world.root, "models/v1"), alias="production")
    v2 = world.register(train_package(world.root, "models/v2", seed=1))

    done = assay(world.root, "deploy", "toy:1", "--to", "prod", "--json", "--poll", "0.1")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["state"] == "completed"
    [pid] = serve_processes(world.root)
    assert (f"Started the managed server of prod (pid {pid}) at {url}; log: "
            ".assay/deployments/prod/serve.log") in done.stderr
    assert os.getsid(pid) == pid  # its own session: it outlives the command's
    record = pid_record(world.root)
    assert record is not None and (record["pid"], record["url"]) == (pid, url)
    assert record["command"][-9:] == ["serve", "--deployment", "prod", "--host", "127.0.0.1",
                                      "--port", str(port), "--workers", "1"]
    log = (world.root / ".assay/deployments/prod/serve.log").read_text()
    assert log.startswith("--- started by assay at ") and "--deployment prod" in log

    answer = httpx.post(f"{url}/predict", json={"records": [ROW]}, timeout=30)
    assert (answer.status_code, str(answer.json()["version"])) == (200, "1")
    assert answering_pid(url) == pid

    again = assay(world.root, "deploy", f"toy:{v2}", "--to", "prod", "--json", "--poll", "0.1")
    assert again.returncode == 0, again.stderr
    assert "managed server" not in again.stderr
    assert serve_processes(world.root) == [pid]  # adopted, not started twice
    answer = httpx.post(f"{url}/predict", json={"records": [ROW]}, timeout=30)
    assert str(answer.json()["version"]) == str(v2)
    started = [(e.details["pid"], e.details["port"]) for e in
               world.events("deployment.server_started")]
    assert started == [(pid, port)]

    server = {"managed": True, "running": True, "url": url, "pid": pid,
              "log": ".assay/deployments/prod/serve.log"}
    status = assay(world.root, "deployments", "status", "prod", "--json")
    assert json.loads(status.stdout)["server"] == server
    listed = assay(world.root, "deployments", "list", "--json")
    assert [row["server"] for row in json.loads(listed.stdout)] == [server]
    shown = assay(world.root, "deployments", "status", "prod")
    assert f"server: managed, running (pid {pid})" in shown.stdout


def test_a_follower_restarts_the_server_killed_during_a_rollout(
        managed: Callable[..., tuple[World, int, str]]) -> None:
    world, port, url = managed(steps=SLOW_STEP, guards=FEW_GUARDS)
    world.register(train_package(world.root, "models/v1"), alias="production")
    v2 = world.register(train_package(world.root, "models/v2", seed=1))
    done = assay(world.root, "deploy", "toy:1", "--to", "prod", "--poll", "0.1")
    assert done.returncode == 0, done.stderr
    [first] = serve_processes(world.root)

    follower = start_assay(world.root, "deployments", "run", "prod", "--follow", "--poll",
                           "0.1", "--timeout", "120")
    try:
        world.move_alias("toy", "production", v2)  # the follower starts a canary of v2
        wait_for(lambda: store_state(world.root)["rollouts"][0].version == v2, what="rollout")
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: not is_alive(first), 10, "the kill")
        second = wait_for(lambda: (answering_pid(url) or 0) > 0 and answering_pid(url), 90,
                          "a new server")
        assert second != first
        assert pid_record(world.root)["pid"] == second  # type: ignore[index]
        restarted = wait_for(lambda: world.events("deployment.server_restarted"), 30,
                             "the event")  # recorded once the new server answered
        assert [(e.details["pid"], e.details["port"]) for e in restarted] == [(second, port)]

        # the rollout goes on against the new server
        now = assay(world.root, "deployments", "promote-now", "prod")
        assert now.returncode == 0, now.stderr
        wait_for(lambda: store_state(world.root)["rollouts"][0].state == "completed", 60,
                 "the rollout to complete")
        assert serve_processes(world.root) == [second]
    finally:
        follower.send_signal(signal.SIGINT)
        _, err = follower.communicate(timeout=30)
    assert (f"#2 toy:2 -> prod [canary] restarted: the managed server had stopped; restarted "
            f"it (pid {second}), log: .assay/deployments/prod/serve.log") in err, err
    assert store_state(world.root)["deployment"].stable_version == v2


def test_run_after_the_server_died_starts_it_again_and_follow_stops_at_its_timeout(
        managed: Callable[..., tuple[World, int, str]]) -> None:
    world, _, url = managed(strategy="direct")
    world.register(train_package(world.root, "models/v1"), alias="production")
    done = assay(world.root, "deploy", "toy:1", "--to", "prod", "--poll", "0.1")
    assert done.returncode == 0, done.stderr
    [first] = serve_processes(world.root)
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: not is_alive(first), 10, "the kill")

    began = time.monotonic()
    follow = assay(world.root, "deployments", "run", "prod", "--follow", "--poll", "0.1",
                   "--timeout", "2")
    assert follow.returncode == 0, follow.stderr
    [second] = serve_processes(world.root)
    assert f"Restarted the managed server of prod (pid {second})" in follow.stderr
    assert time.monotonic() - began < 60
    assert answering_pid(url) == second
    assert [e.details["pid"] for e in world.events("deployment.server_restarted")] == [second]


def test_stop_ends_the_server_and_the_next_rollout_command_starts_it(
        managed: Callable[..., tuple[World, int, str]]) -> None:
    world, port, url = managed(strategy="direct")
    world.register(train_package(world.root, "models/v1"), alias="production")
    done = assay(world.root, "deploy", "toy:1", "--to", "prod", "--poll", "0.1")
    assert done.returncode == 0, done.stderr
    [pid] = serve_processes(world.root)

    stopped = assay(world.root, "deployments", "stop", "prod", "--json")
    assert stopped.returncode == 0, stopped.stderr
    assert json.loads(stopped.stdout) == {"action": "stopped", "pid": pid, "url": url}
    assert serve_processes(world.root) == []
    assert not is_alive(pid) and port_is_free("127.0.0.1", port)
    assert pid_record(world.root) is None
    [event] = world.events("deployment.server_stopped")
    assert (event.details["pid"], event.details["killed"]) == (pid, False)
    status = assay(world.root, "deployments", "status", "prod")
    assert "server: managed, not running" in status.stdout

    again = assay(world.root, "deployments", "stop", "prod")
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "The managed server of prod is not running"

    run = assay(world.root, "deployments", "run", "prod", "--poll", "0.1")
    assert run.returncode == 0, run.stderr
    [back] = serve_processes(world.root)
    assert f"Started the managed server of prod (pid {back})" in run.stderr
    assert len(world.events("deployment.server_started")) == 2
    # started means loaded: the first request answers, never 503 while the model loads
    first = httpx.post(f"{url}/predict", json={"records": [{"a": 1.0, "b": 2, "c": 3.0}]},
                       timeout=30)
    assert first.status_code == 200, first.text
    text = assay(world.root, "deployments", "stop", "prod")
    assert text.stdout.strip() == (f"Stopped the managed server of prod (pid {back}) at {url}: "
                                   "stopped")
    assert serve_processes(world.root) == []


class _NotAssay(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize("foreign", ["tcp", "http"])
def test_a_port_held_by_something_else_is_one_line_exit_2(
        managed: Callable[..., tuple[World, int, str]], foreign: str) -> None:
    world, port, url = managed(strategy="direct")
    world.register(train_package(world.root, "models/v1"), alias="production")
    if foreign == "tcp":  # listens, never answers
        holder: Any = socket.socket()
        holder.bind(("127.0.0.1", port))
        holder.listen(8)
        stop = holder.close
    else:
        holder = http.server.HTTPServer(("127.0.0.1", port), _NotAssay)
        thread = threading.Thread(target=holder.serve_forever, daemon=True)
        thread.start()

        def stop() -> None:
            holder.shutdown()
            holder.server_close()
    try:
        done = assay(world.root, "deploy", "toy:1", "--to", "prod")
    finally:
        stop()
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"error: Port {port} ({url}) is taken by something that is not "
                           "deployment prod's server"), line
    assert "deployments.prod.serve.port" in line
    assert serve_processes(world.root) == []
    state = store_state(world.root)
    assert state["rollouts"] == [] and state["deployment"] is None


def test_a_server_that_cannot_start_is_one_line_naming_its_log(
        managed: Callable[..., tuple[World, int, str]]) -> None:
    world, _, _ = managed(strategy="direct", serve={"host": "192.0.2.1"})  # not this machine
    world.register(train_package(world.root, "models/v1"), alias="production")
    done = assay(world.root, "deploy", "toy:1", "--to", "prod")
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: The managed server of prod exited before it answered "
                           "(exit code "), line
    assert line.endswith("; see .assay/deployments/prod/serve.log"), line
    log = (world.root / ".assay/deployments/prod/serve.log").read_text()
    assert "error while attempting to bind" in log
    assert pid_record(world.root) is None
    assert store_state(world.root)["rollouts"] == []


def test_with_workers_the_server_is_confirmed_through_its_worker_and_stops_whole(
        managed: Callable[..., tuple[World, int, str]]) -> None:
    from assay.deployment._processes import parent_of

    world, _, url = managed(strategy="direct", serve={"workers": 2})
    world.register(train_package(world.root, "models/v1"), alias="production")
    v2 = world.register(train_package(world.root, "models/v2", seed=1))
    done = assay(world.root, "deploy", "toy:1", "--to", "prod", "--poll", "0.1")
    assert done.returncode == 0, done.stderr
    [main] = serve_processes(world.root)
    worker = answering_pid(url)
    assert worker is not None and worker != main and parent_of(worker) == main
    again = assay(world.root, "deploy", f"toy:{v2}", "--to", "prod", "--poll", "0.1")
    assert again.returncode == 0, again.stderr
    assert serve_processes(world.root) == [main]
    status = json.loads(assay(world.root, "deployments", "status", "prod", "--json").stdout)
    assert (status["server"]["running"], status["server"]["pid"]) == (True, main)

    stopped = assay(world.root, "deployments", "stop", "prod", "--json")
    assert json.loads(stopped.stdout)["pid"] == main, stopped.stderr
    assert not is_alive(main) and not is_alive(worker)


def test_stop_refuses_a_recorded_pid_that_is_not_the_server(
        managed: Callable[..., tuple[World, int, str]], tmp_path: Path) -> None:
    import subprocess
    import sys

    world, _, url = managed(strategy="direct")
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        record = world.root / ".assay/deployments/prod/serve.pid"
        record.parent.mkdir(parents=True)
        record.write_text(json.dumps({"pid": other.pid, "url": url, "started_at": 0}))
        done = assay(world.root, "deployments", "stop", "prod")
        assert done.returncode == 2, done.stderr
        [line] = done.stderr.strip().splitlines()
        assert line == (f"error: pid {other.pid} in .assay/deployments/prod/serve.pid is not "
                        f"deployment prod's server (nothing at {url} confirms it); if the "
                        "server is gone, remove .assay/deployments/prod/serve.pid")
        assert other.poll() is None  # not signalled
    finally:
        other.kill()
        other.wait()


def test_a_server_left_starting_by_a_killed_command_is_adopted_not_started_twice(
        managed: Callable[..., tuple[World, int, str]]) -> None:
    world, _, url = managed(strategy="direct")
    world.register(train_package(world.root, "models/v1"), alias="production")
    killed = start_assay(world.root, "deploy", "toy:1", "--to", "prod", "--poll", "0.1")
    record = wait_for(lambda: pid_record(world.root), 60, "the pid file")
    killed.send_signal(signal.SIGKILL)  # the server is still importing: not answering yet
    killed.communicate(timeout=10)
    assert is_alive(record["pid"])

    done = assay(world.root, "deployments", "run", "prod", "--poll", "0.1")
    assert done.returncode == 0, done.stderr
    assert "managed server" not in done.stderr
    assert serve_processes(world.root) == [record["pid"]]
    assert answering_pid(url) == record["pid"]
    assert len(world.events("deployment.server_started")) <= 1


def test_a_server_recorded_at_another_port_than_assay_yaml_says_is_stopped_first(
        managed: Callable[..., tuple[World, int, str]]) -> None:
    import yaml

    from tests.serving.worlds import free_port

    world, _, url = managed(strategy="direct")
    world.register(train_package(world.root, "models/v1"), alias="production")
    done = assay(world.root, "deploy", "toy:1", "--to", "prod", "--poll", "0.1")
    assert done.returncode == 0, done.stderr
    [pid] = serve_processes(world.root)
    config = yaml.safe_load((world.root / "assay.yaml").read_text())
    moved = free_port()
    config["deployments"]["prod"]["serve"]["port"] = moved
    (world.root / "assay.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    refused = assay(world.root, "deployments", "run", "prod")
    assert refused.returncode == 2, refused.stderr
    [line] = refused.stderr.strip().splitlines()
    assert line == (f"error: The managed server of prod runs at {url} (pid {pid}) but "
                    f"assay.yaml says http://127.0.0.1:{moved}; stop it first: assay "
                    "deployments stop prod")
    stopped = assay(world.root, "deployments", "stop", "prod", "--json")
    assert json.loads(stopped.stdout) == {"action": "stopped", "pid": pid, "url": url}
    assert serve_processes(world.root) == []
