"""Shadow predictions run in a child process at nice 19: never returned, still measured and
logged as variant ``shadow``, restarted when the child is killed, gone with the server."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.serving.test_deployment import (
    CONFIG,
    ROW,
    samples,
    send,
    total,
    wait_status,
    write_row,
)
from tests.serving.worlds import Server, World, serving, train_package


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("shadow") / "project"
    root.mkdir()
    (root / "assay.yaml").write_text(CONFIG)
    made = World(root)
    made.register(train_package(root, "models/v1"), alias="production")
    made.register(train_package(root, "models/v2", seed=1, flip=True))
    return made


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("shadow-log")


@pytest.fixture(scope="module")
def shadowed(world: World, log_dir: Path) -> Iterator[Server]:
    """A deployment mirroring every request to version 2 (which answers the opposite of 1)."""
    revision = write_row(world, "toy-prod", stable=1, candidate=2, weight=1.0, mode="shadow")
    with serving(world.root, "--deployment", "toy-prod", "--log-dir", str(log_dir),
                 "--log-segment-seconds", "0.2", "--no-access-log") as server:
        wait_status(server, lambda d: d["revision"] == revision)
        yield server


def shadow_ready(server: Server, *, not_pid: int | None = None) -> int:
    """The pid of the ready shadow process (another than ``not_pid``)."""
    status = wait_status(server, lambda d: d["shadow_process"]["ready"] and
                         d["shadow_process"]["pid"] not in (None, not_pid), timeout=120)
    pid: int = status["deployment"]["shadow_process"]["pid"]
    return pid


def shadow_answers(server: Server) -> float:
    return total(samples(server), "assay_serving_requests_total", variant="shadow",
                 version="2", status="200")


def wait_shadow_answers(server: Server, at_least: float, timeout: float = 60.0) -> float:
    deadline = time.monotonic() + timeout
    found = shadow_answers(server)
    while found < at_least and time.monotonic() < deadline:
        time.sleep(0.1)
        found = shadow_answers(server)
    return found


def events(server: Server, kind: str) -> list[dict[str, Any]]:
    return [found for line in server.log.read_text().splitlines() if line.startswith("{")
            and (found := json.loads(line)).get("event") == kind]


def is_running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def gone_soon(pids: Any, timeout: float = 10.0) -> bool:
    """True once none of ``pids`` runs (within ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while any(is_running(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` now (children, their children...)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def test_the_shadow_predicts_in_a_child_process_at_nice_19(shadowed: Server) -> None:
    pid = shadow_ready(shadowed)
    server_pid = httpx.get(f"{shadowed.url}/status").json()["pid"]
    assert pid != server_pid
    assert pid in descendants(server_pid)
    assert os.getpriority(os.PRIO_PROCESS, pid) == 19
    nice = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])
    assert nice == 19  # field 19 of stat, counted after the command's closing parenthesis
    assert os.getpriority(os.PRIO_PROCESS, server_pid) != 19


def test_shadow_answers_are_never_returned_but_reach_metrics_and_log(
        shadowed: Server, log_dir: Path) -> None:
    import polars as pl

    shadow_ready(shadowed)
    before = shadow_answers(shadowed)
    dropped_before = total(samples(shadowed), "assay_serving_shadow_dropped_total")
    answers = send(shadowed, 200, threads=4)
    assert answers == [(200, "1")] * 200
    dropped = total(samples(shadowed), "assay_serving_shadow_dropped_total") - dropped_before
    reached = wait_shadow_answers(shadowed, before + 200 - dropped)
    assert reached - before + dropped == 200
    # 4 clients keep the server busy, and the child yields the CPU to it: some are dropped
    assert reached - before >= 20
    found = samples(shadowed)
    assert total(found, "assay_serving_predictions_total", variant="shadow", version="2") \
        >= reached
    assert total(found, "assay_serving_request_seconds_count", variant="shadow") >= reached
    time.sleep(1.0)  # the log writer's next segment
    frame = pl.concat([pl.read_parquet(p) for p in (log_dir / "toy").glob("*.parquet")],
                      how="diagonal_relaxed")
    pairs = Counter(zip(frame["variant"].to_list(), frame["version"].to_list(), strict=True))
    assert set(pairs) == {("stable", "1"), ("shadow", "2")}
    assert pairs[("shadow", "2")] >= reached - before
    stable = frame.filter(pl.col("variant") == "stable").select("request_id", "prediction")
    shadow = frame.filter(pl.col("variant") == "shadow").select("request_id", "prediction")
    both = stable.join(shadow, on="request_id", suffix="_shadow")
    assert both.height >= reached - before
    # version 2 was trained on flipped labels: the child really ran it, not version 1
    differ = (both["prediction"] != both["prediction_shadow"]).mean()
    assert isinstance(differ, float) and differ > 0.8, differ


def test_a_feedback_label_scores_the_answer_and_the_shadow_prediction(shadowed: Server) -> None:
    """In shadow mode one label scores both variants on the same request (what the
    live_quality guard compares)."""
    shadow_ready(shadowed)
    before = shadow_answers(shadowed)
    with shadowed.client() as client:
        ids = []
        for i in range(30):
            answer = client.post("/predict", json={"records": [ROW]},
                                 headers={"X-Request-ID": f"fb-{i}"})
            assert answer.status_code == 200
            ids.append((f"fb-{i}", answer.json()["predictions"][0]))
        wait_shadow_answers(shadowed, before + 30)
        time.sleep(0.3)  # the receiver records the batch
        sent = client.post("/feedback", json={"labels": [
            {"request_id": rid, "label": prediction} for rid, prediction in ids]})
    assert sent.status_code == 202
    found = samples(shadowed)
    scored = "assay_serving_feedback_scored_total"
    stable = total(found, scored, variant="stable", outcome="correct")
    # version 2 answers the opposite of version 1: the labels (version 1's answers) say wrong
    shadow_wrong = total(found, scored, variant="shadow", outcome="wrong")
    assert stable >= 30 and shadow_wrong >= 25, (stable, shadow_wrong)


def test_a_killed_child_never_fails_a_request_and_the_shadow_recovers(
        shadowed: Server) -> None:
    pid = shadow_ready(shadowed)
    statuses: Counter[tuple[int, str]] = Counter()
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            statuses.update(send(shadowed, 20, threads=2))

    sender = threading.Thread(target=load)
    sender.start()
    try:
        time.sleep(1.0)
        os.kill(pid, signal.SIGKILL)
        restarted = shadow_ready(shadowed, not_pid=pid)
        before = shadow_answers(shadowed)
        assert wait_shadow_answers(shadowed, before + 20) >= before + 20
    finally:
        stop.set()
        sender.join()
    assert restarted != pid and not is_running(pid)
    assert os.getpriority(os.PRIO_PROCESS, restarted) == 19
    assert set(statuses) == {(200, "1")}, statuses
    died = events(shadowed, "serving.shadow_died")
    assert [(e["pid"], e["exitcode"]) for e in died] == [(pid, -signal.SIGKILL)]
    status = httpx.get(f"{shadowed.url}/status").json()["deployment"]["shadow_process"]
    assert status["restarts"] == 1


def test_mirrored_requests_past_the_bound_are_dropped_and_counted(world: World) -> None:
    revision = write_row(world, "toy-column", stable=1, candidate=2, weight=1.0,
                         mode="shadow")
    with serving(world.root, "--deployment", "toy-column", "--max-concurrency", "2",
                 "--no-access-log") as server:
        wait_status(server, lambda d: d["revision"] == revision)
        shadow_ready(server)
        answers = send(server, 60, threads=2)  # at most 2 in flight: never refused
        assert answers == [(200, "1")] * 60
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = samples(server)
            made = total(found, "assay_serving_requests_total", variant="shadow",
                         status="200")
            dropped = total(found, "assay_serving_shadow_dropped_total", model="toy")
            if made + dropped >= 60:
                break
            time.sleep(0.1)
        # a batch waits 50 ms for more: at most 2 of the requests sent meanwhile wait with it
        assert made + dropped == 60 and dropped > 0 and made >= 2, (made, dropped)
        status = httpx.get(f"{server.url}/status").json()["deployment"]["shadow_process"]
        assert status["in_flight"] == 0


def test_the_child_stops_with_the_shadow_and_with_the_server(world: World) -> None:
    revision = write_row(world, "toy-header", stable=1, candidate=2, weight=1.0,
                         mode="shadow")
    with serving(world.root, "--deployment", "toy-header", "--no-access-log") as server:
        wait_status(server, lambda d: d["revision"] == revision)
        first = shadow_ready(server)
        without = write_row(world, "toy-header", stable=1)  # the shadow goes away
        status = wait_status(server, lambda d: d["revision"] == without and
                             d["shadow_process"]["pid"] is None)
        assert gone_soon([first])
        assert status["deployment"]["variants"] == [
            {"variant": "stable", "version": "1", "weight": 1.0, "mode": "split"}]
        again = write_row(world, "toy-header", stable=1, candidate=2, weight=1.0,
                          mode="shadow")
        wait_status(server, lambda d: d["revision"] == again)
        second = shadow_ready(server, not_pid=first)
        assert send(server, 10) == [(200, "1")] * 10
        below = descendants(server.process.pid)
        assert second in below
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(30) in (0, -signal.SIGTERM)
        assert gone_soon(below)
        assert "Traceback" not in server.log.read_text()
