"""End to end: a real ``assay serve --deployment`` answers real HTTP requests and takes their
labels, its prediction log is monitored (with the realised accuracy), and a drifted batch of
traffic is found (exit 1) where the first is not."""

from __future__ import annotations

import json
import time
from pathlib import Path

import polars as pl

from tests.conftest import TmpProject
from tests.monitoring.worlds import live, make_project, training_frame
from tests.serving.worlds import Server, serving


def _logged_rows(folder: Path) -> int:
    segments = sorted(folder.glob("segment-*.parquet"))
    return sum(pl.scan_parquet(s).select(pl.len()).collect().item() for s in segments)


def _send(server: Server, frame: pl.DataFrame, folder: Path) -> None:
    before = _logged_rows(folder) if folder.is_dir() else 0
    with server.client() as client:
        for start in range(0, frame.height, 250):
            answer = client.post("/predict", json={
                "records": frame.slice(start, 250).to_dicts()})
            assert answer.status_code == 200, answer.text
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the writer closes a segment every 0.5 s
        if folder.is_dir() and _logged_rows(folder) >= before + frame.height:
            return
        time.sleep(0.1)
    raise AssertionError(f"the server logged {_logged_rows(folder) - before} of "
                         f"{frame.height} rows")


def _label_one_row_requests(server: Server, frame: pl.DataFrame, folder: Path) -> None:
    """One request per row, then a label for each: the server's answer for 40, wrong for 20."""
    labels = []
    with server.client() as client:
        for i, row in enumerate(frame.to_dicts()):
            answer = client.post("/predict", json={"records": [row]},
                                 headers={"X-Request-ID": f"one-{i}"})
            assert answer.status_code == 200, answer.text
            predicted = answer.json()["predictions"][0]
            labels.append({"request_id": f"one-{i}",
                           "label": predicted if i < 40 else 1 - predicted})
        sent = client.post("/feedback", json={"labels": labels})
        assert sent.status_code == 202, sent.text
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if (folder / "feedback").is_dir() and _logged_rows(folder / "feedback") >= 60:
            return
        time.sleep(0.1)
    raise AssertionError("the server did not log the labels")


def test_live_traffic_is_monitored_and_a_drifted_batch_found(tmp_project: TmpProject) -> None:
    world = make_project(tmp_project)
    folder = world.root / ".assay" / "predictions" / "toy"
    with serving(world.root, "--deployment", "toy-prod", "--log-segment-seconds", "0.5") as server:
        _send(server, live(training_frame(1000, seed=5)), folder)
        _label_one_row_requests(server, live(training_frame(60, seed=7)), folder)
        first = world.invoke("monitor", "drift", "--json")
        assert first.code == 0, first.output
        report = json.loads(first.stdout)
        assert (report["verdict"], report["rows"], report["versions"]) == ("no_drift", 1060,
                                                                          ["1"])
        assert report["quality"] == {"metric": "accuracy", "value": 40 / 60, "labels": 60}

        _send(server, live(training_frame(1000, seed=6, shift=0.5)), folder)
        second = world.invoke("monitor", "drift", "--window-rows", "1000", "--json")
    assert second.code == 1, second.output
    drifted = json.loads(second.stdout)
    assert drifted["verdict"] == "drift" and drifted["rows"] == 1000
    statuses = {c["column"]: c["status"] for c in drifted["columns"]}
    assert statuses == {"a": "drift", "b": "no_drift", "c": "no_drift", "prediction": "drift"}
    history = world.invoke("monitor", "history", "drift", "--json")
    assert [w["verdict"] for w in json.loads(history.stdout)["windows"]] == ["no_drift", "drift"]
