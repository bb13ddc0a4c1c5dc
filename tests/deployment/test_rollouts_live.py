"""Rollouts end to end: a real server following the deployment, a steady load of real requests,
``assay deploy`` as a real process. A healthy candidate takes every step without a failed
request; a bad one is rolled back by the guard it fails, and no request reaches it after."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.deployment.flaky_model import flaky_package
from tests.deployment.live import Load, assay, deployment_world, store_state
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


def test_a_healthy_canary_takes_every_step_without_a_failed_request(tmp_path: Path) -> None:
    world, port = _ready_world(tmp_path)
    v2 = world.register(train_package(world.root, "models/v2", seed=1))
    with serving(world.root, "--deployment", "prod", port=port) as server:
        _first_deploy(world)
        with Load(server.url) as load:
            done = assay(world.root, "deploy", f"toy:{v2}", "--to", "prod", "--json",
                         "--poll", "0.1")
        assert done.returncode == 0, done.stderr
        rollout = json.loads(done.stdout)
        assert rollout["state"] == "completed"
        assert [d["step"] for d in rollout["details"]["decisions"]] == [0, 1]
        assert all(g["status"] == "pass" for d in rollout["details"]["decisions"]
                   for g in d["decisions"])
        assert load.failed() == []
        assert {a.version for a in load.answers} == {"1", str(v2)}
        applied = rollout["details"]["applied_at"]
        assert {a.version for a in load.answers if a.started > applied} <= {str(v2)}
    state = store_state(world.root)
    assert state["alias"] == v2
    assert state["deployment"].stable_version == v2
    assert state["deployment"].candidate_version is None


@pytest.mark.parametrize("bad", ["shifted", "slow", "failing"])
def test_a_bad_candidate_is_rolled_back_by_its_guard_and_gets_no_request_after(
        tmp_path: Path, bad: str) -> None:
    world, port = _ready_world(tmp_path)
    if bad == "shifted":  # predicts the other class: its predictions move
        v2 = world.register(train_package(world.root, "models/v2", seed=1, flip=True))
        guard = "prediction_shift"
    elif bad == "slow":  # 0.3 s per call against a p99 bound of 250 ms
        v2 = world.register(slow_package(world.root, "models/slow", 0.3, name="toy"),
                            allow_pickle=True)
        guard = "p99_ms"
    else:  # a fifth of its calls raise: 500s against an error-rate bound of 2%
        v2 = world.register(flaky_package(world.root, "models/flaky"), allow_pickle=True)
        guard = "error_rate"
    args = ("--allow-pickle",) if bad != "shifted" else ()
    with serving(world.root, "--deployment", "prod", *args, port=port) as server:
        _first_deploy(world)
        with Load(server.url, threads=4) as load:
            done = assay(world.root, "deploy", f"toy:{v2}", "--to", "prod", "--json",
                         "--poll", "0.1")
        assert done.returncode == 1, done.stderr
        assert "rolled back" in done.stderr and guard in done.stderr
        rollout = json.loads(done.stdout)
        assert rollout["state"] == "rolled_back"
        assert guard in rollout["reason"]
        applied = rollout["details"]["applied_at"]
        late = [a for a in load.answers if a.started > applied and a.version == str(v2)]
        assert late == []
        assert [a for a in load.answers if a.status not in (200,) and bad == "shifted"] == []
    state = store_state(world.root)
    assert state["alias"] == 1  # moved back
    assert state["deployment"].stable_version == 1
    assert state["deployment"].candidate_version is None
    assert state["rollouts"][0].reason == rollout["reason"]
