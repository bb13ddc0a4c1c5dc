"""Real worlds for rollouts: a project with a deployment, a real server following it, a steady
load of real HTTP requests, and ``assay deploy`` as a real process."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import yaml

from tests.serving.worlds import World, env, free_port

STEPS = [{"weight": 0.3, "min_requests": 120, "min_seconds": 1},
         {"weight": 0.6, "min_requests": 120, "min_seconds": 1}]
GUARDS = {"alpha": 0.05, "min_requests": 100, "error_rate": {"max": 0.02},
          "p99_ms": {"max": 250}, "prediction_shift": {"max": 0.15}}


def deployment_world(tmp: Path, *, strategy: str = "canary", steps: list[dict[str, Any]] | None
                     = None, guards: dict[str, Any] | None = None,
                     sticky: dict[str, str] | None = None,
                     serve: dict[str, Any] | None = None) -> tuple[World, int]:
    """A project whose assay.yaml has deployment ``prod`` (following toy@production, served on
    a free port: at ``url:``, or by a managed server with ``serve:`` when ``serve`` is given,
    its port added); returns the world and the port."""
    root = tmp / "project"
    root.mkdir(parents=True)
    port = free_port()
    where: dict[str, Any] = ({"url": f"http://127.0.0.1:{port}"} if serve is None
                             else {"serve": {"port": port, **serve}})
    deployment: dict[str, Any] = {"model": "toy@production", **where,
                                  "strategy": strategy,
                                  "guards": GUARDS if guards is None else guards}
    if strategy != "direct":
        deployment["steps"] = STEPS if steps is None else steps
    if sticky:
        deployment["sticky"] = sticky
    config = {"project": "deploy-test",
              "promotion": {"production": {"gates": "none"}, "staging": {"gates": "none"}},
              "deployments": {"prod": deployment}}
    (root / "assay.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return World(root), port


def assay(root: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "assay", *args], cwd=root, env=env(),
                          capture_output=True, text=True, timeout=timeout, check=False)


def start_assay(root: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "assay", *args], cwd=root, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@dataclass
class Answer:
    started: float
    status: int
    version: str


@dataclass
class Load:
    """Single-row requests from ``threads`` clients, each row drawn at random, until stopped
    (``a`` leans positive, so a model and its flipped twin predict different class shares).
    With ``feedback``, each answer's true label (the rule the toy models learn) is sent to
    ``POST /feedback`` right after it."""

    url: str
    threads: int = 3
    feedback: bool = False
    answers: list[Answer] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Load:
        for seed in range(self.threads):
            thread = threading.Thread(target=self._run, args=(seed,), daemon=True)
            thread.start()
            self._workers.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._workers:
            thread.join(30)

    def _run(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        with httpx.Client(base_url=self.url, timeout=30, headers=self.headers) as client:
            while not self._stop.is_set():
                row = {"a": float(rng.normal(0.8)), "b": int(rng.integers(0, 10)),
                       "c": float(rng.normal())}
                started = time.time()
                try:
                    answer = client.post("/predict", json={"records": [row]})
                    version = str(answer.json().get("version", ""))
                    self.answers.append(Answer(started, answer.status_code, version))
                    if self.feedback and answer.status_code == 200:
                        label = int(row["a"] + row["c"] * 0.5 > 0)
                        client.post("/feedback", json={
                            "request_id": answer.headers["X-Request-ID"], "label": label})
                except httpx.TransportError:
                    self.answers.append(Answer(started, 0, ""))

    def failed(self) -> list[Answer]:
        return [a for a in self.answers if a.status != 200]


def store_state(root: Path) -> dict[str, Any]:
    """The deployment row, its rollouts and the alias, read from the project's store."""
    from assay.config import Project
    from assay.deployment import current, rollouts_of
    from assay.registry import get_version
    from assay.store import open_store

    project = Project.load(root)
    with open_store(project.store_url) as store:
        return {"deployment": current(store, "prod"),
                "rollouts": rollouts_of(store, "prod"),
                "alias": get_version(store, "toy@production").version}
