"""Rollouts end to end: a real server following the deployment, a steady load of real requests,
``assay deploy`` as a real process. A healthy candidate takes every step without a failed
request; a bad one is rolled back by the guard it fails, and no request reaches it after."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.deployment.flaky_model import flaky_package
from tests.deployment.live import GUARDS, Load, assay, deployment_world, store_state
from tests.serving.slow_model import slow_package
from tests.serving.worlds import World, serving, train_package

pytestmark = pytest.mark.slow


def _ready_world(tmp: Path, **kwargs: Any) -> tuple[World, int]:
    world, port = deployment_world(tmp, **kwargs)
    world.register(train_package(world.root, "models/v1"), alias="production")
    return world, port


def _first_deploy(world: World) -> None:
    done = assay(world.root, "deploy", "toy:1", "--to", "prod", "--json", "--poll", "0.1")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["state"] == "completed"

def _deploy_under_load(world: World, url: str, version: int, *, threads: int = 3,
                       feedback: bool = False) -> tuple[subprocess.CompletedProcess[str], Load]:
    """``assay deploy toy:VERSION --to prod --json`` while ``threads`` clients send requests
    (and, with ``feedback``, the label of each answer)."""
    with Load(url, threads=threads, feedback=feedback) as load:
        done = assay(world.root, "deploy", f"toy:{version}", "--to", "prod", "--json",
                     "--poll", "0.1")
    return done, load



def test_a_healthy_canary_takes_every_step_without_a_failed_request(tmp_path: Path) -> None:
    world, port = _ready_world(tmp_path, guards={
        **GUARDS, "live_quality": {"max_drop": 0.05, "min_labels": 60}})
    v2 = world.register(train_package(world.root, "models/v2", seed=1))
    with serving(world.root, "--deployment", "prod", port=port) as server:
        _first_deploy(world)
        done, load = _deploy_under_load(world, server.url, v2, feedback=True)
        assert done.returncode == 0, done.stderr
        rollout = json.loads(done.stdout)
        assert rollout["state"] == "completed"
        assert [d["step"] for d in rollout["details"]["decisions"]] == [0, 1]
        assert all(g["status"] == "pass" for d in rollout["details"]["decisions"]
                   for g in d["decisions"])
        assert [g["guard"] for g in rollout["details"]["decisions"][0]["decisions"]][-1] == \
            "live_quality"
        assert load.failed() == []
        assert {a.version for a in load.answers} == {"1", str(v2)}
        applied = rollout["details"]["applied_at"]
        assert {a.version for a in load.answers if a.started > applied} <= {str(v2)}
    state = store_state(world.root)
    assert state["alias"] == v2
    assert state["deployment"].stable_version == v2
    assert state["deployment"].candidate_version is None


@pytest.mark.parametrize("bad", ["shifted", "slow", "failing", "inaccurate"])
def test_a_bad_candidate_is_rolled_back_by_its_guard_and_gets_no_request_after(
        tmp_path: Path, bad: str) -> None:
    guards = ({"alpha": 0.05, "min_requests": 100, "error_rate": {"max": 0.02},
               "live_quality": {"max_drop": 0.05, "min_labels": 60}}
              if bad == "inaccurate" else None)
    world, port = _ready_world(tmp_path, guards=guards)
    if bad in ("shifted", "inaccurate"):  # predicts the other class: its predictions move,
        # and the labels clients send back disagree with them
        v2 = world.register(train_package(world.root, "models/v2", seed=1, flip=True))
        guard = "prediction_shift" if bad == "shifted" else "live_quality"
    elif bad == "slow":  # 0.3 s per call against a p99 bound of 250 ms
        v2 = world.register(slow_package(world.root, "models/slow", 0.3, name="toy"),
                            allow_pickle=True)
        guard = "p99_ms"
    else:  # a fifth of its calls raise: 500s against an error-rate bound of 2%
        v2 = world.register(flaky_package(world.root, "models/flaky"), allow_pickle=True)
        guard = "error_rate"
    args = ("--allow-pickle",) if bad in ("slow", "failing") else ()
    with serving(world.root, "--deployment", "prod", *args, port=port) as server:
        _first_deploy(world)
        done, load = _deploy_under_load(world, server.url, v2, threads=4,
                                        feedback=bad == "inaccurate")
        assert done.returncode == 1, done.stderr
        assert "rolled back" in done.stderr and guard in done.stderr
        rollout = json.loads(done.stdout)
        assert rollout["state"] == "rolled_back"
        assert guard in rollout["reason"]
        applied = rollout["details"]["applied_at"]
        late = [a for a in load.answers if a.started > applied and a.version == str(v2)]
        assert late == []
        assert [a for a in load.answers
                if a.status not in (200,) and bad in ("shifted", "inaccurate")] == []
    state = store_state(world.root)
    assert state["alias"] == 1  # moved back
    assert state["deployment"].stable_version == 1
    assert state["deployment"].candidate_version is None
    assert state["rollouts"][0].reason == rollout["reason"]


@pytest.mark.parametrize("strategy", ["shadow", "blue_green"])
def test_shadow_and_blue_green_complete_and_shadow_never_answers(tmp_path: Path,
                                                                 strategy: str) -> None:
    steps = [{"weight": 1.0, "min_requests": 120, "min_seconds": 1}]
    world, port = _ready_world(tmp_path, strategy=strategy, steps=steps)
    v2 = world.register(train_package(world.root, "models/v2", seed=1))
    with serving(world.root, "--deployment", "prod", port=port) as server:
        _first_deploy(world)
        done, load = _deploy_under_load(world, server.url, v2)
        assert done.returncode == 0, done.stderr
        rollout = json.loads(done.stdout)
        assert (rollout["strategy"], rollout["state"]) == (strategy, "completed")
        assert load.failed() == []
        ended = rollout["ended_at"]
        during = {a.version for a in load.answers if a.started < ended - 0.5}
        if strategy == "shadow":  # mirrored: the candidate's answers are never returned
            assert during == {"1"}
        else:  # blue-green: after the flip, all traffic is the candidate's
            assert str(v2) in during
        from assay.deployment import samples_from_exposition

        samples = samples_from_exposition(server.client().get("/metrics").text, "toy")
        if strategy == "shadow":  # measured as the shadow while it was one
            assert samples[("shadow", str(v2))].requests >= 120, samples
    assert store_state(world.root)["alias"] == v2


def test_a_person_pauses_then_aborts_a_rollout(tmp_path: Path) -> None:
    slow = [{"weight": 0.3, "min_requests": 100000, "min_seconds": 1}]
    world, port = _ready_world(tmp_path, steps=slow)
    v2 = world.register(train_package(world.root, "models/v2", seed=1))
    with serving(world.root, "--deployment", "prod", port=port) as server:
        _first_deploy(world)
        from tests.deployment.live import start_assay

        with Load(server.url):
            driving = start_assay(world.root, "deploy", f"toy:{v2}", "--to", "prod", "--json",
                                  "--poll", "0.1")
            for _ in range(100):
                if store_state(world.root)["rollouts"][0].version == v2:
                    break
                time.sleep(0.1)
            paused = assay(world.root, "deployments", "pause", "prod")
            assert paused.returncode == 0, paused.stderr
            for _ in range(100):
                if store_state(world.root)["rollouts"][0].state == "paused":
                    break
                time.sleep(0.1)
            assert store_state(world.root)["rollouts"][0].state == "paused"
            status = assay(world.root, "deployments", "status", "prod", "--json")
            assert json.loads(status.stdout)["rollout"]["state"] == "paused"
            aborted = assay(world.root, "deployments", "abort", "prod")
            assert aborted.returncode == 0, aborted.stderr
            out, err = driving.communicate(timeout=60)
        assert driving.returncode == 1, err
        assert "aborted by ml@example.com" in err
        assert json.loads(out)["state"] == "aborted"
    state = store_state(world.root)
    assert state["alias"] == 1 and state["deployment"].stable_version == 1
    history = assay(world.root, "deployments", "history", "prod")
    assert "aborted" in history.stdout and "completed" in history.stdout


def test_a_follower_rolls_out_each_version_the_alias_is_promoted_to(tmp_path: Path) -> None:
    import signal

    from tests.deployment.live import start_assay

    world, port = _ready_world(tmp_path)
    v2 = world.register(train_package(world.root, "models/v2", seed=1))
    with serving(world.root, "--deployment", "prod", port=port) as server:
        follower = start_assay(world.root, "deployments", "run", "prod", "--follow",
                               "--poll", "0.1")
        try:
            for _ in range(200):  # the first version, applied directly
                rollouts = store_state(world.root)["rollouts"]
                if rollouts and rollouts[0].state == "completed":
                    break
                time.sleep(0.1)
            with Load(server.url) as load:
                world.move_alias("toy", "production", v2)  # assay models promote
                for _ in range(600):
                    latest = store_state(world.root)["rollouts"][0]
                    if latest.version == v2 and not latest.is_active:
                        break
                    time.sleep(0.1)
            assert (latest.version, latest.strategy, latest.state) == (v2, "canary",
                                                                      "completed")
            assert load.failed() == []
        finally:
            follower.send_signal(signal.SIGINT)
            follower.communicate(timeout=30)
    assert store_state(world.root)["deployment"].stable_version == v2
