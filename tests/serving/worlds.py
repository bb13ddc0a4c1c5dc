"""Real worlds for the server's tests: a project with registered models, a server process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"


def train_package(root: Path, rel: str, *, seed: int = 0, name: str = "toy",
                  flip: bool = False) -> Path:
    """A small sklearn classifier on columns a (Float64), b (Int64), c (Float64)."""
    from sklearn.linear_model import LogisticRegression

    from assay.models import save_model

    rng = np.random.default_rng(seed)
    frame = pl.DataFrame({"a": rng.normal(size=200), "b": rng.integers(0, 10, 200),
                          "c": rng.normal(size=200)})
    target = ((frame["a"] + frame["c"] * 0.5 > 0) ^ flip).cast(pl.Int64).to_numpy()
    model = LogisticRegression().fit(frame, target)
    path = root / rel
    save_model(model, path, name=name, input_example=frame.head(3), lineage={"root": root})
    return path


@dataclass
class World:
    root: Path

    def register(self, package: Path, *, name: str = "toy", alias: str | None = None,
                 allow_pickle: bool = False) -> int:
        from assay.config import Project
        from assay.registry import register
        from assay.store import open_store

        project = Project.load(self.root)
        with open_store(project.store_url) as store:
            done = register(store, name=name, cache_dir=project.cache_dir, package_dir=package,
                            author="ml@example.com", config=project.config,
                            allow_pickle=allow_pickle)
        if alias is not None:
            self.move_alias(name, alias, done.version.version)
        return done.version.version

    def move_alias(self, name: str, alias: str, version: int) -> None:
        from assay.config import Project
        from assay.registry import promote
        from assay.store import open_store

        project = Project.load(self.root)
        with open_store(project.store_url) as store:
            promote(store, project.config, f"{name}:{version}", to=alias,
                    actor="ml@example.com")

    def events(self, kind: str) -> list[Any]:
        from assay.config import Project
        from assay.store import open_store

        project = Project.load(self.root)
        with open_store(project.store_url) as store:
            return store.events(kind=kind)


def make_world(tmp: Path) -> World:
    root = tmp / "project"
    root.mkdir(parents=True)
    (root / "assay.yaml").write_text(
        "project: serving-test\npromotion:\n  production: {gates: none}\n  staging: {gates: none}\n")
    return World(root)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)

    def wait_ready(self, timeout: float = 60.0, *, ready: bool = True) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                last = httpx.get(f"{self.url}/status", timeout=5).json()
                assert "ready" in last, last
                if not ready or last["ready"]:
                    if not ready and all(m["reason"] == "loading" for m in last["models"]):
                        time.sleep(0.1)
                        continue
                    return dict(last)
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"not ready in {timeout} s: {last}\n{self.log.read_text()[-3000:]}")


def env() -> dict[str, str]:
    out = dict(os.environ)
    out["PYTHONPATH"] = os.pathsep.join([str(SRC), str(REPO), out.get("PYTHONPATH", "")])
    out["ASSAY_USER"] = "ml@example.com"
    return out


@contextmanager
def serving(root: Path, *args: str, port: int | None = None,
            wait: bool = True) -> Iterator[Server]:
    """``assay serve ARGS`` as a real process in ``root``; stopped (SIGTERM) at the end."""
    port = port or free_port()
    log = root / f"serve-{port}.log"
    handle = open(log, "wb")  # noqa: SIM115 - closed when the server stops
    process = subprocess.Popen(
        [sys.executable, "-m", "assay", "serve", *args, "--port", str(port)],
        cwd=root, env=env(), stdout=handle, stderr=subprocess.STDOUT)
    server = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        if wait:
            server.wait_ready()
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        handle.close()
