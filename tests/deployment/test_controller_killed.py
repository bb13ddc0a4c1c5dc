"""The controller SIGKILLed at random points of rollouts: after a restart each rollout either
completes or is rolled back, the alias and the records agree, and nothing is lost."""

from __future__ import annotations

import json
import random
import signal
import time
from pathlib import Path

import pytest

from tests.deployment.live import Load, assay, deployment_world, start_assay, store_state
from tests.serving.worlds import serving, train_package

pytestmark = pytest.mark.slow

TRIALS = 20
FAST = [{"weight": 0.5, "min_requests": 15, "min_seconds": 0.2}]


def test_a_killed_controller_leaves_a_rollout_the_next_one_finishes(tmp_path: Path) -> None:
    world, port = deployment_world(tmp_path, steps=FAST, guards={
        "alpha": 0.05, "min_requests": 15, "error_rate": {"max": 0.05},
        "prediction_shift": {"max": 0.15}})
    v1 = world.register(train_package(world.root, "models/v1"), alias="production")
    good = world.register(train_package(world.root, "models/v2", seed=1))
    bad = world.register(train_package(world.root, "models/v3", seed=2, flip=True))
    rng = random.Random(7)
    outcomes: list[str] = []
    with serving(world.root, "--deployment", "prod", port=port) as server:
        done = assay(world.root, "deploy", f"toy:{v1}", "--to", "prod", "--poll", "0.05")
        assert done.returncode == 0, done.stderr
        serving_now = v1
        with Load(server.url, threads=3):
            for trial in range(TRIALS):
                candidate = good if trial % 2 == 0 else bad
                if candidate == serving_now:
                    candidate = v1
                killed = start_assay(world.root, "deploy", f"toy:{candidate}", "--to", "prod",
                                     "--poll", "0.05", "--lease-seconds", "1")
                time.sleep(rng.uniform(0.8, 3.0))  # interpreter start, then anywhere in it
                killed.send_signal(signal.SIGKILL)
                killed.wait(10)
                rest = assay(world.root, "deployments", "run", "prod", "--json", "--poll",
                             "0.05", "--lease-seconds", "1")
                assert rest.returncode in (0, 1), rest.stderr
                state = store_state(world.root)
                latest = state["rollouts"][0]
                assert not latest.is_active, latest
                dep = state["deployment"]
                assert dep.candidate_version is None
                assert state["alias"] == dep.stable_version, (state, trial)
                if latest.state == "completed":
                    assert dep.stable_version == latest.version
                else:
                    assert latest.state == "rolled_back"
                    assert dep.stable_version == latest.from_version
                outcomes.append(f"{latest.version}:{latest.state}")
                serving_now = dep.stable_version
                if rest.stdout.strip() not in ("", "null"):
                    assert json.loads(rest.stdout)["id"] == latest.id
    state = store_state(world.root)
    assert all(not r.is_active for r in state["rollouts"])
    assert sum(o.endswith("rolled_back") for o in outcomes) >= 1
    assert sum(o.endswith("completed") for o in outcomes) >= 1
