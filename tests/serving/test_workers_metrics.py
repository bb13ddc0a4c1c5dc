"""``/metrics`` with ``--workers 2``: every scrape, whichever worker answers it, shows the
server's totals (prometheus-client's multiprocess mode in a private directory of its own)."""

from __future__ import annotations

import os
import signal
import stat
import time
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.serving.worlds import Server, World, serving

ROW = {"a": 1.0, "b": 2, "c": 3.0}
REQUESTS = 40


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
           **labels: str) -> float:
    return sum(value for (found, pairs), value in samples.items()
               if found == name and set(labels.items()) <= set(pairs))


def _scrape(server: Server) -> tuple[int, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    """``(pid of the worker that answered, samples)``, on a new connection."""
    with server.client() as fresh:
        pid = fresh.get("/status").json()["pid"]
        return pid, _samples(fresh.get("/metrics").text)


def _multiproc_dir(pid: int) -> str:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    found = [e.split(b"=", 1)[1] for e in environ if e.startswith(b"PROMETHEUS_MULTIPROC_DIR=")]
    assert len(found) == 1, environ
    return found[0].decode()


def _log_rows(server: Server) -> float:
    samples = _samples(server.client().get("/metrics").text)
    return _total(samples, "assay_serving_prediction_log_records_total")


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc")
def test_metrics_of_two_workers_add_up_on_every_scrape(
        world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "stale-metrics"  # an earlier server's directory, named by the caller
    stale.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(stale))
    with serving(world.root, "toy@production", "--workers", "2", "--log-dir",
                 str(tmp_path / "log"), "--log-segment-seconds", "0.3") as server:
        answered: Counter[int] = Counter()
        for _ in range(400):  # new connections until both workers answered, REQUESTS in all
            if sum(answered.values()) >= REQUESTS and len(answered) == 2:
                break
            with server.client() as fresh:  # a new connection: either worker may take it
                status = fresh.get("/status").json()
                if not status["ready"]:
                    continue
                if sum(answered.values()) < REQUESTS or status["pid"] not in answered:
                    answer = fresh.post("/predict", json={"records": [ROW]})
                    assert answer.status_code == 200, answer.text
                    answered[status["pid"]] += 1
        sent = sum(answered.values())
        assert len(answered) == 2 and sent >= REQUESTS, answered
        directory = _multiproc_dir(next(iter(answered)))
        assert {_multiproc_dir(pid) for pid in answered} == {directory}
        assert directory != str(stale) and list(stale.iterdir()) == []
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700

        scraped: set[int] = set()
        for _ in range(100):  # every scrape, until each worker has answered some
            pid, samples = _scrape(server)
            scraped.add(pid)
            assert _total(samples, "assay_serving_requests_total", route="/predict",
                          status="200") == sent
            assert _total(samples, "assay_serving_request_seconds_count",
                          route="/predict") == sent
            assert _total(samples, "assay_serving_predictions_total") == sent
            assert _total(samples, "assay_serving_batch_rows_sum") == sent
            assert _total(samples, "assay_serving_ready") == 1
            assert _total(samples, "assay_serving_in_flight") == 0
            if len(scraped) == 2:
                break
        assert scraped == set(answered)

        deadline = time.monotonic() + 30
        while _log_rows(server) < sent and time.monotonic() < deadline:
            time.sleep(0.2)
        samples = _scrape(server)[1]
        written = _total(samples, "assay_serving_prediction_log_records_total",
                         outcome="written")
        dropped = _total(samples, "assay_serving_prediction_log_records_total",
                         outcome="dropped")
        assert (written, dropped) == (sent, 0)

        # a worker killed outright: uvicorn starts another; what the dead one answered still
        # counts, and its live gauges (ready, in flight) leave the merged view
        victim = next(iter(answered))
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 90
        pids: set[int] = set()
        while time.monotonic() < deadline:
            pid, samples = _scrape(server)
            pids.add(pid)
            if victim not in pids and len(pids - set(answered)) >= 1 \
                    and _total(samples, "assay_serving_ready") == 1:
                break
            time.sleep(0.2)
        assert pids - set(answered), pids
        assert _total(samples, "assay_serving_requests_total", route="/predict",
                      status="200") == sent
        assert _total(samples, "assay_serving_ready") == 1
        assert _total(samples, "assay_serving_in_flight") == 0
        assert not list(Path(directory).glob(f"gauge_live*_{victim}.db"))
        assert list(Path(directory).glob(f"counter_{victim}.db"))
    assert not Path(directory).exists()  # removed when the server exits
