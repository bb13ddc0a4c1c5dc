"""Micro-batching into one model call, and the ASGI app for users' own services."""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path

import httpx

from tests.serving.slow_model import slow_package
from tests.serving.worlds import World, serving

ROW = {"a": 1.0, "b": 2, "c": 3.0}


def _metric(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, re.M)
    assert found, name
    return float(found.group(1))


def test_concurrent_single_rows_are_predicted_in_few_calls(world: World) -> None:
    package = slow_package(world.root, "models/batch", delay=0.3, name="batch")
    world.register(package, name="batch", alias="production", allow_pickle=True)
    with serving(world.root, "batch@production", "--allow-pickle") as server:
        with server.client() as client:
            before = client.get("/metrics").text
        answers: list[httpx.Response] = []

        def call() -> None:
            with server.client() as client:
                answers.append(client.post("/predict", json={"records": [ROW]}))

        threads = [threading.Thread(target=call) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [a.status_code for a in answers] == [200] * 12
        assert all(a.json()["predictions"] == [1] for a in answers)
        with server.client() as client:
            after = client.get("/metrics").text
    calls = _metric(after, "assay_serving_batch_rows_count") - \
        _metric(before, "assay_serving_batch_rows_count")
    rows = _metric(after, "assay_serving_batch_rows_sum") - \
        _metric(before, "assay_serving_batch_rows_sum")
    assert rows == 12
    assert calls <= 4, f"{calls} model calls for 12 concurrent requests"


def test_the_asgi_app_serves_inside_another_process(world: World, tmp_path: Path) -> None:
    from assay.serving import app

    package = world.root / "models" / "v1"
    asgi = app(str(package), root=str(world.root), log_dir=str(tmp_path / "log"))

    async def run() -> tuple[dict[str, object], dict[str, object]]:
        transport = httpx.ASGITransport(app=asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            for _ in range(300):
                status = (await client.get("/status")).json()
                if status["ready"]:
                    break
                await asyncio.sleep(0.05)
            answer = await client.post("/predict", json={"records": [ROW]})
            return status, answer.json()

    try:
        status, answer = asyncio.run(run())
    finally:
        asgi.state.assay.stop()
    assert status["ready"] is True
    assert answer["model"] == "toy" and answer["version"] == "1"


def test_a_row_the_model_refuses_fails_only_its_own_request(world: World) -> None:
    with serving(world.root, "toy@production", "--max-wait-ms", "200") as server:
        answers: dict[str, int] = {}

        def call(key: str, row: dict[str, object]) -> None:
            with server.client() as client:
                answers[key] = client.post("/predict", json={"records": [row]}).status_code

        threads = [threading.Thread(target=call, args=(f"good{i}", ROW)) for i in range(5)]
        threads.append(threading.Thread(target=call, args=("null", {**ROW, "a": None})))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert answers.pop("null") == 422
    assert set(answers.values()) == {200}


def test_every_route_declares_its_policy(world: World, tmp_path: Path) -> None:
    from assay.serving import app
    from assay.serving._app import ROUTE_POLICIES

    asgi = app(str(world.root / "models" / "v1"), root=str(world.root),
               log_dir=str(tmp_path / "log"))
    paths = {route.path for route in asgi.routes}
    assert paths == set(ROUTE_POLICIES), paths ^ set(ROUTE_POLICIES)
    assert set(ROUTE_POLICIES.values()) == {"public"}
