"""Delivery through ``assay alerts test CHANNEL`` against real receivers on 127.0.0.1: retries
with backoff on 5xx, timeouts and refused connections, none on a 400, a bounded total time, and
command channels; every outcome an event."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.alerts.conftest import HERE, Receiver
from tests.conftest import TmpProject


def _project(project: TmpProject, **channels: dict[str, Any]) -> TmpProject:
    return project.config(alerts={"channels": channels,
                                  "routes": [{"channels": sorted(channels)}]})


def _events(project: TmpProject) -> list[Any]:
    from assay.store import open_store

    with open_store(project.load().store_url) as store:
        return store.events(kind="alert.")


def _test(project: TmpProject, channel: str, **env: str) -> tuple[int, dict[str, Any]]:
    done = project.invoke("alerts", "test", channel, "--json", env=env)
    return done.code, json.loads(done.stdout)


def test_a_test_alert_is_delivered_signed_and_recorded(
        tmp_project: TmpProject, receiver: Callable[..., Receiver]) -> None:
    hook = receiver("200")
    _project(tmp_project, ops={"url": hook.url, "secret_env": "OPS_SECRET"})
    code, out = _test(tmp_project, "ops", OPS_SECRET="k3y")
    assert code == 0 and (out["status"], out["attempts"], out["status_code"]) == ("sent", 1, 200)
    [request] = hook.requests()
    body = request["body"].encode()
    assert request["headers"]["X-Assay-Signature"] == "sha256=" + hmac.new(
        b"k3y", body, hashlib.sha256).hexdigest()
    assert request["headers"]["X-Assay-Delivery"] == out["delivery"]
    alert = json.loads(body)
    assert (alert["test"], alert["verdict"], alert["finding"]) == (True, "test", out["finding"])
    [event] = _events(tmp_project)
    assert (event.kind, event.subject, event.details["channel"], event.details["test"]) == (
        "alert.sent", out["finding"], "ops", True)
    # a second test alert is not held back by the cooldown
    assert _test(tmp_project, "ops", OPS_SECRET="k3y")[0] == 0 and len(hook.requests()) == 2


def test_a_missing_secret_variable_fails_without_sending(
        tmp_project: TmpProject, receiver: Callable[..., Receiver]) -> None:
    hook = receiver("200")
    _project(tmp_project, ops={"url": hook.url, "secret_env": "NOT_SET_ANYWHERE"})
    code, out = _test(tmp_project, "ops")
    assert code == 1 and out["status"] == "failed" and out["attempts"] == 0
    assert "NOT_SET_ANYWHERE" in out["reason"] and hook.requests() == []


def test_500_twice_then_200_is_delivered_on_the_third_attempt(
        tmp_project: TmpProject, receiver: Callable[..., Receiver]) -> None:
    hook = receiver("500", "500", "200")
    _project(tmp_project, ops={"url": hook.url, "backoff": 0.05})
    code, out = _test(tmp_project, "ops")
    assert code == 0 and (out["status"], out["attempts"], out["status_code"]) == ("sent", 3, 200)
    requests = hook.requests()
    assert [r["answer"] for r in requests] == ["500", "500", "200"]
    assert len({r["headers"]["X-Assay-Delivery"] for r in requests}) == 1  # one delivery
    gaps = [b["t"] - a["t"] for a, b in itertools.pairwise(requests)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1  # exponential backoff
    [event] = _events(tmp_project)
    assert (event.kind, event.details["attempts"]) == ("alert.sent", 3)


def test_a_receiver_that_always_fails_gets_bounded_retries_then_alert_failed(
        tmp_project: TmpProject, receiver: Callable[..., Receiver]) -> None:
    hook = receiver("503")
    _project(tmp_project, ops={"url": hook.url, "retries": 2, "backoff": 0.01})
    code, out = _test(tmp_project, "ops")
    assert code == 1 and (out["status"], out["attempts"], out["status_code"]) == (
        "failed", 3, 503)
    assert len(hook.requests()) == 3
    [event] = _events(tmp_project)
    assert event.kind == "alert.failed" and event.details["reason"].startswith("HTTP 503")


@pytest.mark.parametrize("status", ["400", "404"], ids=["bad-request", "not-found"])
def test_a_4xx_is_not_retried(tmp_project: TmpProject, receiver: Callable[..., Receiver],
                              status: str) -> None:
    hook = receiver(status)
    _project(tmp_project, ops={"url": hook.url, "backoff": 0.01})
    code, out = _test(tmp_project, "ops")
    assert code == 1 and (out["attempts"], out["status_code"]) == (1, int(status))
    assert len(hook.requests()) == 1


def test_429_is_retried(tmp_project: TmpProject, receiver: Callable[..., Receiver]) -> None:
    hook = receiver("429", "200")
    _project(tmp_project, ops={"url": hook.url, "backoff": 0.01})
    code, out = _test(tmp_project, "ops")
    assert code == 0 and out["attempts"] == 2


def test_a_receiver_that_is_down_fails_after_bounded_retries(
        tmp_project: TmpProject, closed_port: int) -> None:
    _project(tmp_project, ops={"url": f"http://127.0.0.1:{closed_port}/hook", "retries": 3,
                               "backoff": 0.02})
    started = time.monotonic()
    code, out = _test(tmp_project, "ops")
    assert time.monotonic() - started < 5
    assert code == 1 and (out["status"], out["attempts"], out["status_code"]) == (
        "failed", 4, None)
    assert "ConnectError" in out["reason"]
    [event] = _events(tmp_project)
    assert event.kind == "alert.failed" and event.details["attempts"] == 4


def test_a_slow_receiver_times_out_per_attempt_within_a_bounded_total(
        tmp_project: TmpProject, receiver: Callable[..., Receiver]) -> None:
    hook = receiver("slow:3")
    _project(tmp_project, ops={"url": hook.url, "timeout": 0.3, "retries": 1, "backoff": 0.05})
    started = time.monotonic()
    code, out = _test(tmp_project, "ops")
    elapsed = time.monotonic() - started
    assert code == 1 and (out["status"], out["attempts"]) == ("failed", 2)
    assert out["reason"] == "no answer within 0.3s"
    assert 0.6 <= elapsed < 2.5  # two 0.3 s attempts and a 0.05 s pause, never the 3 s sleep
    assert len(hook.requests()) == 2


def test_a_command_channel_gets_the_alert_on_stdin(tmp_project: TmpProject,
                                                   tmp_path: Path) -> None:
    out_file = tmp_path / "alert.json"
    _project(tmp_project, page={"command": [sys.executable, str(HERE / "stdin_to_file.py"),
                                            str(out_file)]})
    code, out = _test(tmp_project, "page")
    assert code == 0 and (out["status"], out["attempts"]) == ("sent", 1)
    alert = json.loads(out_file.read_text())
    assert (alert["kind"], alert["finding"], alert["test"]) == ("assay.alert", out["finding"], True)


def test_a_command_that_exits_1_is_a_failed_delivery(tmp_project: TmpProject,
                                                      tmp_path: Path) -> None:
    _project(tmp_project, page={"command": [sys.executable, str(HERE / "stdin_to_file.py"),
                                            str(tmp_path / "alert.json"), "1"]})
    code, out = _test(tmp_project, "page")
    assert code == 1 and out["status"] == "failed" and out["reason"] == "the command exited 1"
    [event] = _events(tmp_project)
    assert event.kind == "alert.failed" and event.details["channel"] == "page"


def test_a_command_that_hangs_is_stopped_at_its_timeout(tmp_project: TmpProject) -> None:
    _project(tmp_project, page={"command": [sys.executable, "-c", "import time; time.sleep(30)"],
                                "timeout": 0.5})
    started = time.monotonic()
    code, out = _test(tmp_project, "page")
    assert time.monotonic() - started < 5
    assert code == 1 and out["reason"] == "the command did not finish within 0.5s"


def test_an_unknown_channel_names_the_known_ones(tmp_project: TmpProject) -> None:
    _project(tmp_project, ops={"url": "http://127.0.0.1:9/hook"})
    done = tmp_project.invoke("alerts", "test", "opps")
    assert done.code == 2
    assert "no channel 'opps' under alerts.channels" in done.stderr and "ops" in done.stderr


def test_alerts_list_shows_channels_and_routes(tmp_project: TmpProject) -> None:
    tmp_project.config(alerts={
        "cooldown": "30m",
        "channels": {"ops": {"url": "https://hooks.example.com/a", "format": "slack",
                             "secret_env": "OPS_SECRET"},
                     "page": {"command": ["./page.sh"], "cooldown": "2h"}},
        "routes": [{"channels": ["ops"]}, {"channels": ["page"], "severity": "critical"}]})
    done = tmp_project.invoke("alerts", "list", "--json")
    assert done.code == 0, done.output
    assert json.loads(done.stdout) == {
        "cooldown": "30m",
        "channels": [
            {"name": "ops", "kind": "webhook", "timeout": 5.0, "cooldown_seconds": 1800.0,
             "url": "https://hooks.example.com/a", "format": "slack",
             "secret_env": "OPS_SECRET", "retries": 3, "backoff": 1.0},
            {"name": "page", "kind": "command", "timeout": 5.0, "cooldown_seconds": 7200.0,
             "command": ["./page.sh"]}],
        "routes": [
            {"channels": ["ops"], "severity": "warn", "owner": None, "monitors": None},
            {"channels": ["page"], "severity": "critical", "owner": None, "monitors": None}]}
    text = tmp_project.invoke("alerts", "list")
    assert text.code == 0 and "https://hooks.example.com/a" in text.stdout
    assert "critical+" in text.stdout


def test_a_redirect_is_not_followed_nor_retried(tmp_project: TmpProject,
                                                 receiver: Callable[..., Receiver]) -> None:
    hook = receiver("301")
    _project(tmp_project, ops={"url": hook.url, "backoff": 0.01})
    code, out = _test(tmp_project, "ops")
    assert code == 1 and (out["attempts"], out["status_code"]) == (1, 301)
    assert "redirects are not followed" in out["reason"] and len(hook.requests()) == 1
