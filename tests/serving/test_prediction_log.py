"""The prediction log: Parquet segments written whole, feedback beside, a full disk costs
records (counted), never requests."""

from __future__ import annotations

import re
import time
from pathlib import Path

import polars as pl

from tests.serving.worlds import World, serving
from tests.small_disk import fill, small_disk

ROW = {"a": 1.0, "b": 2, "c": 3.0}


def _metric(text: str, outcome: str) -> float:
    found = re.search(r'^assay_serving_prediction_log_records_total\{model="toy",'
                      rf'outcome="{outcome}"\}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def _segments(folder: Path, timeout: float = 20.0, rows: int = 1) -> pl.DataFrame:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = sorted(folder.glob("segment-*.parquet"))
        if files:
            frame = pl.concat([pl.read_parquet(f) for f in files], how="vertical_relaxed")
            if frame.height >= rows:
                return frame
        time.sleep(0.2)
    raise AssertionError(f"no segments with {rows} rows in {folder}")


def test_predictions_and_feedback_land_in_parquet_segments(world: World, tmp_path: Path) -> None:
    log = tmp_path / "log"
    with serving(world.root, "toy@production", "--log-dir", str(log),
                 "--log-segment-seconds", "0.5") as server, server.client() as client:
        for i in range(10):
            answer = client.post("/predict", json={"records": [ROW, {**ROW, "a": -3.0}]},
                                 headers={"X-Request-ID": f"r{i}"})
            assert answer.status_code == 200
        frame = _segments(log / "toy", rows=20)
        sent = client.post("/feedback", json={"labels": [
            {"request_id": "r1", "label": 1}, {"request_id": "r2", "label": 0}]})
        assert sent.status_code == 202 and sent.json()["accepted"] == 2
        feedback = _segments(log / "toy" / "feedback", rows=2)
        metrics = client.get("/metrics").text
    assert frame.height == 20
    assert set(frame["request_id"]) == {f"r{i}" for i in range(10)}
    assert set(frame["version"]) == {"1"} and set(frame["model"]) == {"toy"}
    assert frame["row"].to_list()[:2] == [0, 1]
    assert frame.schema["inputs"] == pl.Struct({"a": pl.Float64, "b": pl.Int64, "c": pl.Float64})
    assert len(frame["probabilities"][0]) == 2
    assert sorted(feedback["request_id"]) == ["r1", "r2"]
    assert sorted(feedback["label"]) == ["0", "1"]
    assert not list((log / "toy").glob(".*"))  # no temporary segment left behind
    assert _metric(metrics, "written") >= 20 and _metric(metrics, "dropped") == 0


def test_a_full_log_disk_drops_records_and_counts_them_never_requests(
        world: World, tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "1m") as disk:
        filler = fill(disk)
        with serving(world.root, "toy@production", "--log-dir", str(disk),
                     "--log-segment-seconds", "0.3") as server, server.client() as client:
            started = time.perf_counter()
            codes = [client.post("/predict", json={"records": [ROW]}).status_code
                     for _ in range(50)]
            elapsed = time.perf_counter() - started
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                dropped = _metric(client.get("/metrics").text, "dropped")
                if dropped >= 50:
                    break
                time.sleep(0.2)
            filler.unlink()  # room again: the log writes again
            client.post("/predict", json={"records": [ROW]})
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                written = _metric(client.get("/metrics").text, "written")
                if written >= 1:
                    break
                time.sleep(0.2)
    assert codes == [200] * 50
    assert elapsed < 10
    assert dropped == 50 and written >= 1


def test_the_writer_takes_the_whole_queue_at_once_and_drops_past_capacity(
        tmp_path: Path) -> None:
    import numpy as np

    from assay.serving._metrics import Metrics
    from assay.serving._predlog import PredictionLog

    metrics = Metrics()
    log = PredictionLog(tmp_path, metrics=metrics, sample=1.0, capacity=900,
                        segment_rows=100_000, segment_seconds=600.0)
    row = pl.DataFrame({"a": [1.0], "b": [2], "c": [3.0]})
    for i in range(1000):  # well within the writer's first wait: 100 past capacity
        log.record("toy", "1", f"r{i}", row, np.array([i % 2]), np.array([[0.5, 0.5]]),
                   variant="stable")
    log.close()
    files = sorted((tmp_path / "toy").glob("segment-*.parquet"))
    frame = pl.concat([pl.read_parquet(f) for f in files])
    metrics_text = metrics.exposition()[0].decode()
    assert len(files) == 1  # one drain, one frame, one segment
    assert frame["request_id"].to_list() == [f"r{i}" for i in range(900)]
    assert frame["row"].to_list() == [0] * 900
    assert frame["prediction"].to_list() == [i % 2 for i in range(900)]
    assert _metric(metrics_text, "written") == 900 and _metric(metrics_text, "dropped") == 100
    assert log.drain() == []
