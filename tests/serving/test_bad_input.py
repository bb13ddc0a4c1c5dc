"""Bad input never gets a 5xx: a generated corpus of malformed requests, and every bound."""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import pytest

from tests.serving.slow_model import slow_package
from tests.serving.worlds import Server, World, env, serving

GOOD_ROW = {"a": 1.0, "b": 2, "c": 3.0}
ROUTES = ("/predict", "/invocations", "/v2/models/toy/infer", "/feedback")
BAD_VALUES: list[Any] = ["x", "", [1], {"v": 1}, True, [[1.0]], "NaN", 1e400, 10**400]


def _wrap(route: str, rows: list[Any]) -> Any:
    if route == "/predict":
        return {"records": rows}
    if route == "/invocations":
        return {"dataframe_records": rows}
    if route == "/feedback":
        return {"labels": [{"request_id": r, "label": r} for r in rows]}
    columns: dict[str, list[Any]] = {}
    for row in rows:
        for key, value in (row.items() if isinstance(row, dict) else [("a", row)]):
            columns.setdefault(key, []).append(value)
    return {"inputs": [{"name": k, "shape": [len(v)], "datatype": "FP64" if k != "b" else
                        "INT64", "data": v} for k, v in columns.items()]}


def malformed(seed: int = 7, count: int = 1200) -> list[tuple[str, bytes, str]]:
    """``(route, body, content type)`` of ``count`` generated malformed requests."""
    rng = random.Random(seed)
    good = json.dumps({"records": [GOOD_ROW]}).encode()
    makers = []

    def invalid_json(route: str) -> tuple[bytes, str]:
        cut = rng.randrange(1, len(good) - 1)
        return good[:cut] + rng.choice([b"", b"}", b",", b"]]", b"\x00"]), "application/json"

    def random_row() -> dict[str, Any]:
        return {"a": round(rng.uniform(-5, 5), 3), "b": rng.randrange(100),
                "c": round(rng.uniform(-5, 5), 3)}

    def wrong_type(route: str) -> tuple[bytes, str]:
        row = random_row()
        row[rng.choice("abc")] = rng.choice(BAD_VALUES)
        return json.dumps(_wrap(route, [row])).encode(), "application/json"

    def missing_or_extra(route: str) -> tuple[bytes, str]:
        row = random_row()
        if rng.random() < 0.5:
            row.pop(rng.choice("abc"))
        else:
            row[rng.choice(["d", "A", " a", "a\u0000"])] = 1.0
        return json.dumps(_wrap(route, [row])).encode(), "application/json"

    def non_finite(route: str) -> tuple[bytes, str]:
        literal = rng.choice(["NaN", "Infinity", "-Infinity"])
        text = json.dumps(_wrap(route, [GOOD_ROW])).replace("1.0", literal, 1)
        return text.encode(), "application/json"

    def deep(route: str) -> tuple[bytes, str]:
        depth = rng.choice([50, 1000, 40_000])
        return b"[" * depth + b"]" * depth, "application/json"

    def oversized(route: str) -> tuple[bytes, str]:
        if rng.random() < 0.5:
            return json.dumps(_wrap(route, [GOOD_ROW] * 1001)).encode(), "application/json"
        return b'{"records": [' + b" " * 210_000 + b"]}", "application/json"

    def empty_or_binary(route: str) -> tuple[bytes, str]:
        return rng.choice([b"", b"   ", b"\xff\xfe\xfa\x00\x81", "{\"a\": \"\udcff\"}".encode(
            "utf-8", "surrogatepass"), bytes(rng.randrange(256) for _ in range(64))]), \
            "application/json"

    def wrong_content_type(route: str) -> tuple[bytes, str]:
        return good, rng.choice(["text/plain", "application/xml", "multipart/form-data",
                                 "application/x-www-form-urlencoded", "image/png",
                                 "application/octet-stream", "application/python-pickle"])

    def wrong_shape(route: str) -> tuple[bytes, str]:
        shape = rng.choice([[], 1, "rows", {"records": 1}, {"records": [1, 2]},
                            {"records": [], "columns": {}}, [[1, 2, 3]], {"columns": [1]},
                            {"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}},
                            {"inputs": [{"name": "a", "shape": [2], "datatype": "FP64",
                                         "data": [1.0]}]},
                            {"inputs": [{"name": "a", "shape": [-1], "datatype": "XX",
                                         "data": []}]},
                            {"instances": [[1, 2]]}, {"labels": []}])
        return json.dumps(shape).encode(), "application/json"

    makers = [invalid_json, wrong_type, missing_or_extra, non_finite, deep, oversized,
              empty_or_binary, wrong_content_type, wrong_shape]
    out = []
    for i in range(count):
        route = ROUTES[i % len(ROUTES)]
        body, ctype = makers[(i // len(ROUTES)) % len(makers)](route)
        out.append((route, body, ctype))
    return out


def test_the_corpus_is_large_and_varied() -> None:
    corpus = malformed()
    assert len(corpus) >= 1000
    assert len(set(corpus)) > 500


def test_a_thousand_malformed_requests_get_4xx_json_and_the_server_stays_up(
        server: Server) -> None:
    statuses: dict[int, int] = {}
    with server.client() as client:
        for route, body, ctype in malformed():
            answer = client.post(route, content=body, headers={"Content-Type": ctype})
            statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
            assert 400 <= answer.status_code < 500, (route, body[:200], answer.text)
            error = answer.json()
            assert isinstance(error["error"], str) and error["error"], error
        assert client.post("/predict", json={"records": [GOOD_ROW]}).status_code == 200
    assert server.process.poll() is None
    assert {400, 413, 415, 422} <= set(statuses), statuses


@pytest.mark.parametrize(("body", "field", "fragment"), [
    ({"records": [{"a": 1.0, "b": 2}]}, "c", "missing column 'c'"),
    ({"records": [{"a": 1.0, "b": 2, "c": 3.0, "d": 4}]}, "d", "unknown column 'd'"),
    ({"records": [{"a": "one", "b": 2, "c": 3.0}]}, "a", "takes Float64"),
    ({"records": [{"a": 1.0, "b": 2.5, "c": 3.0}]}, "b", "takes Int64"),
    ({"records": [{"a": 1.0, "b": True, "c": 3.0}]}, "b", "boolean"),
    ({"records": [{"a": 1.0, "b": -(2**64), "c": 3.0}]}, "b", "takes Int64"),
    ({"records": [{"a": 10**400, "b": 2, "c": 3.0}]}, "a", "takes Float64"),
    ({"records": [{"a": None, "b": 2, "c": 3.0}]}, None, "could not predict"),
    ({"columns": {"a": [1.0], "b": [2], "c": [3.0, 4.0]}}, "c", "has 2 values"),
], ids=["missing", "extra", "string-for-float", "fraction-for-int", "bool", "int-too-big",
        "int-past-float",
        "null-the-model-refuses", "ragged"])
def test_signature_violations_name_the_field(server: Server, body: Any, field: str | None,
                                             fragment: str) -> None:
    with server.client() as client:
        answer = client.post("/predict", json=body)
    assert answer.status_code == 422
    assert answer.json()["field"] == field and fragment in answer.json()["error"]


def test_nan_literal_is_refused_naming_the_column(server: Server) -> None:
    with server.client() as client:
        answer = client.post("/predict", content=b'{"records": [{"a": NaN, "b": 2, "c": 3}]}',
                             headers={"Content-Type": "application/json"})
    assert answer.status_code == 422 and answer.json()["field"] == "a"


def test_size_bounds_answer_413(server: Server) -> None:
    with server.client() as client:
        rows = client.post("/predict", json={"records": [GOOD_ROW] * 1001})
        body = client.post("/predict", content=b"[" + b" " * 300_000 + b"]",
                           headers={"Content-Type": "application/json"})
    assert rows.status_code == 413 and "1001 rows" in rows.json()["error"]
    assert body.status_code == 413


def test_overload_answers_503_with_retry_after_and_slow_requests_504(world: World) -> None:
    package = slow_package(world.root, "models/slow", delay=1.5)
    world.register(package, name="slow", alias="production", allow_pickle=True)
    with serving(world.root, "slow@production", "--allow-pickle", "--max-concurrency", "2",
                 "--timeout", "1") as server:
        answers: list[httpx.Response] = []

        def call() -> None:
            with server.client() as client:
                answers.append(client.post("/predict", json={"records": [GOOD_ROW]}))

        threads = [threading.Thread(target=call) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        codes = sorted(a.status_code for a in answers)
        assert set(codes) <= {503, 504} and 503 in codes and 504 in codes, codes
        busy = next(a for a in answers if a.status_code == 503)
        assert busy.headers["retry-after"] == "1"
        assert busy.elapsed.total_seconds() < 0.5


def test_a_pickled_model_needs_the_registry_opt_in_and_allow_pickle(world: World) -> None:
    package = slow_package(world.root, "models/slow2", delay=0.0, name="slow2")
    world.register(package, name="slow2", alias="production", allow_pickle=True)
    with serving(world.root, "slow2@production", wait=False) as server:
        status = server.wait_ready(ready=False)
        assert status["ready"] is False
        assert "--allow-pickle" in status["models"][0]["reason"]
    with serving(world.root, "./models/slow2", "--allow-pickle") as server:
        assert server.wait_ready()["models"][0]["version"] == "1"  # found by its hash
    unregistered = slow_package(world.root, "models/slow3", delay=0.0, name="slow3")
    with serving(world.root, str(unregistered), "--allow-pickle", wait=False) as server:
        status = server.wait_ready(ready=False)
        assert status["ready"] is False and "not in the registry" in \
            status["models"][0]["reason"]


def test_the_cli_loads_no_web_framework_before_serve_runs() -> None:
    code = ("import sys; from assay.cli._app import build_app; build_app(); "
            "print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette', 'prometheus_client') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], env=env(), capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_request_past_the_concurrency_limit_is_refused_before_its_body_is_read(
        world: World) -> None:
    package = slow_package(world.root, "models/slow4", delay=3.0, name="slow4")
    world.register(package, name="slow4", alias="production", allow_pickle=True)
    with serving(world.root, "slow4@production", "--allow-pickle", "--max-concurrency", "1",
                 "--timeout", "10") as server:
        busy = threading.Thread(target=lambda: httpx.post(
            f"{server.url}/predict", json={"records": [GOOD_ROW]}, timeout=30))
        busy.start()
        deadline = time.monotonic() + 10
        while httpx.get(f"{server.url}/status").json()["in_flight"] < 1:
            assert time.monotonic() < deadline, "the slow request never started"
            time.sleep(0.02)
        port = int(server.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            # the headers promise 100,000 bytes; not one of them is ever sent
            sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
            sent = time.monotonic()
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
            took = time.monotonic() - sent
        busy.join()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503"), answer
    assert b"\r\nretry-after: 1" in head.lower()
    assert json.loads(body)["error_code"] == "SERVICE_UNAVAILABLE"
    assert took < 2.0, took
