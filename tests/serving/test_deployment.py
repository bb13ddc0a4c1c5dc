"""``assay serve --deployment NAME``: the variants the deployment's store row names, the
traffic split between them (random or sticky), shadow predictions that are never returned,
and a revision applied only once every version it names is loaded."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.serving.worlds import Server, World, serving, train_package

ROW = {"a": 1.0, "b": 2, "c": 3.0}
CONFIG = """project: serving-test
promotion:
  production: {gates: none}
deployments:
  toy-prod:
    model: toy@production
    url: http://127.0.0.1:8080
  toy-header:
    model: toy@production
    url: http://127.0.0.1:8080
    sticky: {header: X-Customer-Id}
  toy-column:
    model: toy@production
    url: http://127.0.0.1:8080
    sticky: {column: b}
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("deployment") / "project"
    root.mkdir()
    (root / "assay.yaml").write_text(CONFIG)
    made = World(root)
    made.register(train_package(root, "models/v1"), alias="production")
    made.register(train_package(root, "models/v2", seed=1, flip=True))
    made.register(train_package(root, "models/v3", seed=2))
    _corrupt(made, 3)
    return made


def _corrupt(world: World, version: int) -> None:
    """Version ``version``'s model file in the cache no longer has its registered bytes."""
    from assay.config import Project
    from assay.objects import LocalCache
    from assay.registry import get_version
    from assay.store import open_store

    project = Project.load(world.root)
    with open_store(project.store_url) as store:
        oid = get_version(store, f"toy:{version}").model_hash
    cache = LocalCache(project.cache_dir)
    entry = next(e for e in cache.manifest(oid) if e.path == "model.skops")
    path = cache.path_of(entry.oid)
    os.chmod(path, 0o644)
    path.write_bytes(b"PK\x03\x04 not the registered bytes")


def write_row(world: World, name: str, *, stable: int, candidate: int | None = None,
              weight: float = 0.0, mode: str = "split") -> int:
    """What deployment ``name`` serves, as the rollout controller writes it; its revision."""
    from assay.config import Project
    from assay.store import open_store
    from assay.store import statements as sql

    project = Project.load(world.root)
    with open_store(project.store_url) as store, store.write() as conn:
        now = time.time()
        conn.execute(sql.INSERT_DEPLOYMENT, {"name": name, "model": "toy",
                                             "stable_version": stable, "updated_at": now})
        revision = int(conn.execute(sql.DEPLOYMENT, {"name": name}).fetchone()[7])  # its revision column
        changed = conn.execute(sql.UPDATE_DEPLOYMENT, {
            "name": name, "stable_version": stable, "candidate_version": candidate,
            "candidate_weight": weight, "mode": mode, "rollout_id": None,
            "revision": revision, "updated_at": now})
        assert changed.rowcount == 1
    return revision + 1


def wait_status(server: Server, test: Any, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = httpx.get(f"{server.url}/status").json()
        if test(status["deployment"]):
            return status
        time.sleep(0.1)
    raise AssertionError(f"status never matched: {status}\n{server.log.read_text()[-2000:]}")


def samples(server: Server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{server.url}/metrics").text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def total(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
          **labels: str) -> float:
    return sum(value for (metric, pairs), value in found.items()
               if metric == name and set(labels.items()) <= set(pairs))


def send(server: Server, count: int, *, headers: Any = None, rows: Any = None,
         threads: int = 8) -> list[tuple[int, str]]:
    """``count`` single-row /predict requests, ``threads`` at a time: (status, version)."""
    with httpx.Client(base_url=server.url, timeout=30,
                      limits=httpx.Limits(max_connections=threads)) as client:
        def one(i: int) -> tuple[int, str]:
            answer = client.post("/predict", json={"records": [rows(i) if rows else ROW]},
                                 headers=headers(i) if headers else None)
            return answer.status_code, answer.json().get("version", "")

        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(one, range(count)))


@pytest.fixture(scope="module")
def prod(world: World) -> Iterator[Server]:
    with serving(world.root, "--deployment", "toy-prod", "--no-access-log") as server:
        yield server


def test_without_a_row_the_alias_is_served(prod: Server) -> None:
    status = httpx.get(f"{prod.url}/status").json()
    assert status["deployment"]["revision"] is None
    assert status["deployment"]["variants"] == [
        {"variant": "stable", "version": "1", "weight": 1.0, "mode": "split"}]
    assert send(prod, 5) == [(200, "1")] * 5


def test_the_split_is_the_configured_weight_over_10000_requests(world: World,
                                                                 prod: Server) -> None:
    before = samples(prod)
    revision = write_row(world, "toy-prod", stable=1, candidate=2, weight=0.3)
    status = wait_status(prod, lambda d: d["revision"] == revision)
    assert status["deployment"]["variants"] == [
        {"variant": "stable", "version": "1", "weight": 0.7, "mode": "split"},
        {"variant": "candidate", "version": "2", "weight": 0.3, "mode": "split"}]
    assert total(samples(prod), "assay_serving_deployment_revision",
                 deployment="toy-prod") == revision
    answers = send(prod, 10_000)
    assert {code for code, _ in answers} == {200}
    versions = Counter(version for _, version in answers)
    assert set(versions) == {"1", "2"}
    assert abs(versions["2"] / 10_000 - 0.3) <= 0.02, versions
    after = samples(prod)

    def delta(**labels: str) -> float:
        return total(after, "assay_serving_requests_total", **labels) - \
            total(before, "assay_serving_requests_total", **labels)

    assert delta(variant="candidate", version="2", status="200") == versions["2"]
    assert delta(variant="stable", version="1", status="200") == versions["1"]
    assert total(after, "assay_serving_request_seconds_count", variant="candidate") >= \
        versions["2"]
    assert total(after, "assay_serving_predictions_total", variant="candidate",
                 version="2") >= versions["2"]


def test_a_revision_that_cannot_load_keeps_the_old_variants(world: World,
                                                            prod: Server) -> None:
    good = write_row(world, "toy-prod", stable=1, candidate=2, weight=0.5)
    wait_status(prod, lambda d: d["revision"] == good)
    broken = write_row(world, "toy-prod", stable=1, candidate=3, weight=0.5)
    status = wait_status(prod, lambda d: (d["failure"] or {}).get("revision") == broken)
    deployment = status["deployment"]
    assert deployment["revision"] == good
    assert deployment["failure"]["version"] == "toy:3"
    assert "corrupt" in deployment["failure"]["reason"]
    assert [v["version"] for v in deployment["variants"]] == ["1", "2"]
    assert status["ready"] is True
    assert {version for _, version in send(prod, 200)} == {"1", "2"}
    assert total(samples(prod), "assay_serving_deployment_revision",
                 deployment="toy-prod") == good
    failed = world.events("serving.swap_failed")
    assert failed[-1].details["revision"] == broken and failed[-1].details["version"] == "3"
    fixed = write_row(world, "toy-prod", stable=2)
    status = wait_status(prod, lambda d: d["revision"] == fixed)
    assert status["deployment"]["failure"] is None
    assert send(prod, 20) == [(200, "2")] * 20


def test_shadow_never_answers_but_is_measured(world: World, prod: Server) -> None:
    revision = write_row(world, "toy-prod", stable=1, candidate=2, weight=0.5, mode="shadow")
    status = wait_status(prod, lambda d: d["revision"] == revision)
    assert status["deployment"]["variants"] == [
        {"variant": "stable", "version": "1", "weight": 1.0, "mode": "shadow"},
        {"variant": "shadow", "version": "2", "weight": 0.5, "mode": "shadow"}]
    before = samples(prod)
    answers = send(prod, 400)
    assert answers == [(200, "1")] * 400

    def shadowed() -> float:
        return total(samples(prod), "assay_serving_requests_total", variant="shadow",
                     version="2", status="200") - \
            total(before, "assay_serving_requests_total", variant="shadow", version="2",
                  status="200")

    deadline = time.monotonic() + 10
    while shadowed() < 120 and time.monotonic() < deadline:
        time.sleep(0.1)
    found = samples(prod)
    dropped = total(found, "assay_serving_shadow_dropped_total")
    assert 120 <= shadowed() + dropped <= 280  # about half of 400 mirrored
    assert total(found, "assay_serving_predictions_total", variant="shadow", version="2") \
        >= shadowed()
    assert total(found, "assay_serving_request_seconds_count", variant="shadow") >= shadowed()
    assert total(found, "assay_serving_requests_total", variant="candidate", version="2") \
        == total(before, "assay_serving_requests_total", variant="candidate", version="2")


@pytest.mark.parametrize("sticky", ["header", "column"])
def test_sticky_keys_always_reach_the_same_variant(world: World, sticky: str) -> None:
    name = f"toy-{sticky}"
    revision = write_row(world, name, stable=1, candidate=2, weight=0.5)
    with serving(world.root, "--deployment", name, "--no-access-log") as server:
        wait_status(server, lambda d: d["revision"] == revision)
        keys = 40
        if sticky == "header":
            answers = send(server, keys * 5,
                           headers=lambda i: {"X-Customer-Id": f"customer-{i % keys}"})
        else:
            answers = send(server, keys * 5, rows=lambda i: {**ROW, "b": i % keys})
    seen: dict[int, set[str]] = {}
    for i, (code, version) in enumerate(answers):
        assert code == 200
        seen.setdefault(i % keys, set()).add(version)
    assert all(len(versions) == 1 for versions in seen.values()), seen
    reached = Counter(next(iter(v)) for v in seen.values())
    assert set(reached) == {"1", "2"}, reached


def test_an_unknown_deployment_is_refused_at_start(world: World) -> None:
    import subprocess
    import sys

    from tests.serving.worlds import env

    done = subprocess.run([sys.executable, "-m", "assay", "serve", "--deployment", "nope"],
                          cwd=world.root, env=env(), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    assert "No deployment 'nope' in assay.yaml" in done.stderr


def test_prediction_log_records_carry_the_variant(world: World, tmp_path: Path) -> None:
    import polars as pl

    revision = write_row(world, "toy-prod", stable=1, candidate=2, weight=0.5)
    with serving(world.root, "--deployment", "toy-prod", "--log-dir", str(tmp_path),
                 "--log-segment-seconds", "0.2", "--no-access-log") as server:
        wait_status(server, lambda d: d["revision"] == revision)
        answers = send(server, 100)
    frame = pl.concat([pl.read_parquet(p) for p in (tmp_path / "toy").glob("*.parquet")])
    pairs = Counter(zip(frame["variant"].to_list(), frame["version"].to_list(), strict=True))
    assert pairs == Counter(
        ("candidate" if version == "2" else "stable", version) for _, version in answers)


def test_sighup_reads_the_row_at_once(world: World) -> None:
    import signal

    first = write_row(world, "toy-column", stable=1)
    with serving(world.root, "--deployment", "toy-column", "--poll", "0",
                 "--no-access-log") as server:
        wait_status(server, lambda d: d["revision"] == first)
        second = write_row(world, "toy-column", stable=2)
        time.sleep(1.0)
        assert httpx.get(f"{server.url}/status").json()["deployment"]["revision"] == first
        server.process.send_signal(signal.SIGHUP)
        wait_status(server, lambda d: d["revision"] == second, timeout=10)
        assert send(server, 5) == [(200, "2")] * 5


def test_the_revision_gauge_is_the_one_every_worker_applies(world: World) -> None:
    first = write_row(world, "toy-header", stable=1)
    with serving(world.root, "--deployment", "toy-header", "--workers", "2",
                 "--no-access-log") as server:
        wait_status(server, lambda d: d["revision"] == first)
        deadline = time.monotonic() + 30
        gauge = 0.0
        while time.monotonic() < deadline:
            found = samples(server)  # a new connection: either worker may answer
            gauge = total(found, "assay_serving_deployment_revision", deployment="toy-header")
            ready = total(found, "assay_serving_ready")
            if gauge == first and ready == 1:
                break
            time.sleep(0.1)
        assert gauge == first
        second = write_row(world, "toy-header", stable=2)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and gauge != second:
            gauge = total(samples(server), "assay_serving_deployment_revision",
                          deployment="toy-header")
            time.sleep(0.1)
        assert gauge == second
