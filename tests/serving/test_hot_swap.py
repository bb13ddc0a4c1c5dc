"""Following an alias: the swap to a new version drops no request; a version that fails to
load or verify leaves the old one serving, with an event saying why; readiness tells the truth.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.serving.worlds import Server, World, make_world, serving, train_package

ROW = {"a": 1.0, "b": 2, "c": 3.0}


@pytest.fixture
def fresh(tmp_path: Path) -> World:
    world = make_world(tmp_path)
    world.register(train_package(world.root, "models/v1"), alias="production")
    return world


def _wait_version(server: Server, version: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = httpx.get(f"{server.url}/status").json()
        if status["models"][0]["version"] == version:
            return status
        time.sleep(0.1)
    raise AssertionError(f"still {status}")


def test_a_promotion_is_served_without_a_failed_request(fresh: World) -> None:
    with serving(fresh.root, "toy@production", "--poll", "0.3") as server:
        stop = threading.Event()
        seen: list[tuple[int, str]] = []

        def hammer() -> None:
            with server.client() as client:
                while not stop.is_set():
                    answer = client.post("/predict", json={"records": [ROW]})
                    seen.append((answer.status_code, answer.json().get("version", "")))

        thread = threading.Thread(target=hammer)
        thread.start()
        try:
            time.sleep(0.5)
            v2 = fresh.register(train_package(fresh.root, "models/v2", seed=1, flip=True))
            fresh.move_alias("toy", "production", v2)
            _wait_version(server, "2")
            time.sleep(0.5)
        finally:
            stop.set()
            thread.join()
    assert {code for code, _ in seen} == {200}
    assert {version for _, version in seen} == {"1", "2"}
    swapped = fresh.events("serving.swapped")
    assert swapped[-1].subject == "toy" and swapped[-1].details["version"] == "2"
    assert swapped[-1].details["from_version"] == "1"


def test_a_version_that_fails_verification_keeps_the_old_one_serving(fresh: World) -> None:
    from assay.config import Project
    from assay.objects import LocalCache

    v2 = fresh.register(train_package(fresh.root, "models/v2", seed=1, flip=True))
    project = Project.load(fresh.root)
    cache = LocalCache(project.cache_dir)
    from assay.registry import get_version
    from assay.store import open_store

    with open_store(project.store_url) as store:
        oid = get_version(store, f"toy:{v2}").model_hash
    model_file = next(e for e in cache.manifest(oid) if e.path == "model.skops")
    path = cache.path_of(model_file.oid)
    os.chmod(path, 0o644)
    path.write_bytes(b"PK\x03\x04 not the registered bytes")
    with serving(fresh.root, "toy@production", "--poll", "0.3") as server:
        fresh.move_alias("toy", "production", v2)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not fresh.events("serving.swap_failed"):
            time.sleep(0.2)
        with server.client() as client:
            answer = client.post("/predict", json={"records": [ROW]})
            status = client.get("/status").json()
    failed = fresh.events("serving.swap_failed")
    assert failed and failed[-1].details["version"] == "2"
    assert "corrupt" in failed[-1].details["reason"]
    assert answer.status_code == 200 and answer.json()["version"] == "1"
    assert status["ready"] is True and status["models"][0]["version"] == "1"
    assert "corrupt" in status["models"][0]["last_failure"]


def test_sighup_checks_the_alias_at_once(fresh: World) -> None:
    with serving(fresh.root, "toy@production", "--poll", "0") as server:
        v2 = fresh.register(train_package(fresh.root, "models/v2", seed=1, flip=True))
        fresh.move_alias("toy", "production", v2)
        time.sleep(1.0)
        assert httpx.get(f"{server.url}/status").json()["models"][0]["version"] == "1"
        server.process.send_signal(signal.SIGHUP)
        _wait_version(server, "2", timeout=10)


def test_a_missing_alias_at_start_is_live_not_ready_then_ready_when_it_appears(
        fresh: World) -> None:
    with serving(fresh.root, "toy@staging", "--poll", "0.3", wait=False) as server:
        status = server.wait_ready(ready=False)
        assert status["ready"] is False and "no alias 'staging'" in status["models"][0]["reason"]
        assert httpx.get(f"{server.url}/v2/health/live").status_code == 200
        ready = httpx.get(f"{server.url}/v2/health/ready")
        assert ready.status_code == 503 and "staging" in ready.json()["reasons"]["toy"]
        refused = httpx.post(f"{server.url}/predict", json={"records": [ROW]})
        assert refused.status_code == 503
        fresh.move_alias("toy", "staging", 1)
        server.wait_ready(timeout=20)


@pytest.mark.parametrize("damage", ["half-written", "missing"])
def test_a_damaged_package_at_start_is_not_ready_with_the_reason(fresh: World,
                                                                 damage: str) -> None:
    package = fresh.root / "models" / "v1"
    target = fresh.root / "models" / "broken"
    if damage == "half-written":
        target.mkdir()
        text = (package / "model.json").read_text()
        (target / "model.json").write_text(text[: len(text) // 2])
    with serving(fresh.root, "./models/broken", wait=False) as server:
        status = server.wait_ready(ready=False)
    reason = status["models"][0]["reason"]
    assert status["ready"] is False
    assert ("malformed" in reason) if damage == "half-written" else ("not a model" in reason
                                                                     or "No " in reason)
