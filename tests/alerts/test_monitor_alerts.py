"""``assay monitor NAME`` sends the finding of a drifted window to a real webhook receiver:
signed, once per cooldown, every outcome an event."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tests.alerts.conftest import Receiver
from tests.conftest import TmpProject
from tests.monitoring.worlds import live, make_project, training_frame, write_log

SECRET = "s3cret-for-tests"


def _with_alerts(world: TmpProject, alerts: dict[str, Any], **extra: Any) -> None:
    path = world.root / "assay.yaml"
    config = yaml.safe_load(path.read_text())
    config["alerts"] = alerts
    config.update(extra)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def _events(world: TmpProject, kind: str) -> list[Any]:
    from assay.store import open_store

    with open_store(world.store_url or world.load().store_url) as store:
        return store.events(kind=kind)


def _drifted_world(world: TmpProject) -> None:
    write_log(world.root, live(training_frame(2000, seed=1)))  # the prediction's baseline
    assert world.invoke("monitor", "drift", "--no-alerts").code == 0
    write_log(world.root, live(training_frame(2000, seed=2, shift=0.5)))


@pytest.fixture
def world(project_on: TmpProject) -> TmpProject:
    """A monitor world on each store backend (the cooldown's state is the event log)."""
    return make_project(project_on)


def test_a_drifted_window_sends_one_signed_alert_then_the_cooldown_holds(
        world: TmpProject, receiver: Callable[..., Receiver]) -> None:
    hook = receiver("200")
    _with_alerts(world, {"channels": {"ops": {"url": hook.url, "secret_env": "HOOK_SECRET"}},
                         "routes": [{"channels": ["ops"]}]})
    _drifted_world(world)
    env = {"HOOK_SECRET": SECRET}
    done = world.invoke("monitor", "drift", "--window-rows", "2000", "--json", env=env)
    assert done.code == 1, done.output
    report = json.loads(done.stdout)
    [request] = hook.requests()
    body = request["body"].encode()
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["x-assay-signature"] == expected
    assert headers["content-type"] == "application/json"
    assert len(headers["x-assay-delivery"]) == 32
    alert = json.loads(body)
    flagged = [c["column"] for c in report["columns"] if c["status"] == "drift"]
    assert flagged == ["a", "prediction"]  # the answers moved with a
    assert {k: alert[k] for k in ("kind", "monitor", "deployment", "model", "versions",
                                  "severity", "verdict", "window_id", "test")} == {
        "kind": "assay.alert", "monitor": "drift", "deployment": "toy-prod", "model": "toy",
        "versions": ["1"], "severity": "error", "verdict": "drift", "window_id": report["id"],
        "test": False}
    assert [c["column"] for c in alert["columns"]] == flagged
    by_name = {c["column"]: c for c in report["columns"]}
    assert all(c["p_value"] == by_name[c["column"]]["p_value"] and c["statistic"] ==
               by_name[c["column"]]["statistic"] for c in alert["columns"])
    assert alert["summary"].startswith("drift on drift (toy-prod, toy v1): a, prediction")
    assert report["alerts"] == [{
        "channel": "ops", "finding": alert["finding"], "status": "sent", "severity": "error",
        "reason": None, "attempts": 1, "status_code": 200,
        "delivery": headers["x-assay-delivery"]}]
    # the same finding again, in a new process's lifetime: suppressed, recorded
    again = world.invoke("monitor", "drift", "--window-rows", "2000", env=env)
    assert again.code == 1, again.output
    assert "suppressed" in again.stderr
    assert len(hook.requests()) == 1
    [sent] = _events(world, "alert.sent")
    [suppressed] = _events(world, "alert.suppressed")
    assert sent.subject == suppressed.subject == alert["finding"]
    assert (sent.details["channel"], sent.details["attempts"], sent.details["status_code"]) == (
        "ops", 1, 200)
    assert suppressed.details["last_sent"] == sent.ts
    # --no-alerts: nothing sent, nothing recorded
    assert world.invoke("monitor", "drift", "--window-rows", "2000", "--no-alerts",
                        env=env).code == 1
    assert len(_events(world, "alert.")) == 2 and len(hook.requests()) == 1


def test_a_zero_cooldown_sends_again_and_routes_follow_severity_and_owner(
        world: TmpProject, receiver: Callable[..., Receiver]) -> None:
    ml, platform, critical = receiver("200"), receiver("200"), receiver("200")
    _with_alerts(world, {
        "cooldown": "0s",
        "channels": {"ml": {"url": ml.url, "format": "slack"},
                     "platform": {"url": platform.url}, "critical": {"url": critical.url}},
        "routes": [{"channels": ["ml"], "severity": "error", "owner": "ml"},
                   {"channels": ["platform"], "owner": "platform"},
                   {"channels": ["critical"], "severity": "critical"}]},
        team=[{"id": "ana@example.com", "roles": ["ml"]}],
        models={"toy": {"owner": "ana@example.com"}})
    _drifted_world(world)
    for _ in range(2):
        assert world.invoke("monitor", "drift", "--window-rows", "2000").code == 1
    assert (len(ml.requests()), len(platform.requests()), len(critical.requests())) == (2, 0, 0)
    slack = json.loads(ml.requests()[0]["body"])
    assert set(slack) == {"text", "blocks"}
    assert slack["text"].startswith("[error] drift on drift (toy-prod, toy v1): a, prediction")
    assert [b["type"] for b in slack["blocks"]] == ["section", "section", "context"]
    assert "*a*: drift (wasserstein" in slack["blocks"][1]["text"]["text"]
    assert "X-Assay-Signature" not in ml.requests()[0]["headers"]  # no secret_env: unsigned


def test_a_receiver_that_is_down_never_changes_the_monitors_exit_code(
        tmp_project: TmpProject, closed_port: int) -> None:
    import time

    world = make_project(tmp_project)
    _with_alerts(world, {"channels": {"ops": {"url": f"http://127.0.0.1:{closed_port}/hook",
                                              "retries": 2, "backoff": 0.01}},
                         "routes": [{"channels": ["ops"]}]})
    _drifted_world(world)
    started = time.monotonic()
    done = world.invoke("monitor", "drift", "--window-rows", "2000")
    assert time.monotonic() - started < 30
    assert done.code == 1, done.output  # drift, as without alerts
    assert "verdict: drift" in done.stdout
    assert "-> ops: failed after 3 attempt(s): ConnectError" in done.stderr
    [failed] = _events(world, "alert.failed")
    assert (failed.details["attempts"], failed.details["status_code"]) == (3, None)
    # a failed delivery does not start the cooldown: the next window tries again
    assert world.invoke("monitor", "drift", "--window-rows", "2000").code == 1
    assert len(_events(world, "alert.failed")) == 2 and _events(world, "alert.suppressed") == []
