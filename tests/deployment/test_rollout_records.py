"""A rollout's records on both store backends: every move is one transaction over the deployment,
the rollout, the alias and the event log, and the promotion policy still decides."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assay.config import AssayConfig
from assay.deployment import (
    active_rollout,
    ask,
    claim,
    complete,
    current,
    rollouts_of,
    set_traffic,
    start,
    withdraw,
)
from assay.errors import DeploymentError, PolicyViolation
from assay.registry import get_version, register
from assay.store import Store, open_store
from tests.registry.worlds import ML, PLATFORM, TEAM, make_package, oid_of, report_for

DEPLOYMENTS = {"prod": {"model": "churn@production", "url": "http://127.0.0.1:8080",
                        "strategy": "canary",
                        "steps": [{"weight": 0.1, "min_requests": 5, "min_seconds": 0},
                                  {"weight": 0.5, "min_requests": 5, "min_seconds": 0}],
                        "guards": {"error_rate": {"max": 0.05}}}}


def _config(**overrides: Any) -> AssayConfig:
    data: dict[str, Any] = {"project": "t", "team": TEAM, "deployments": DEPLOYMENTS,
                            "promotion": {"production": {"gates": "all"}}}
    data.update(overrides)
    return AssayConfig.model_validate(data)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    handle = open_store(store_url)
    yield handle
    handle.close()


@pytest.fixture
def versions(store: Store, tmp_path: Path) -> list[int]:
    """churn v1, v2, v3 registered (gates passed), no alias yet."""
    cache = tmp_path / "cache"
    made = []
    for seed in (1, 2, 3):
        package = make_package(tmp_path / "work", f"models/m{seed}", seed=seed)
        made.append(register(store, name="churn", cache_dir=cache, package_dir=package,
                             evaluation=report_for(oid_of(cache, package)), author=ML,
                             config=_config()).version.version)
    return made


def _events(store: Store) -> list[str]:
    return [e.kind for e in store.events() if e.kind.startswith("deployment.")]


def test_the_first_version_is_applied_directly_then_a_canary_steps_and_rolls_back(
        store: Store, versions: list[int]) -> None:
    cfg = _config()
    first = start(store, cfg, "prod", 1, actor=PLATFORM)
    assert (first.strategy, first.from_version, first.state) == ("direct", None, "running")
    assert get_version(store, "churn@production").version == 1  # promoted in the same step
    dep = current(store, "prod")
    assert dep is not None and (dep.stable_version, dep.candidate_version) == (1, None)
    done = complete(store, first, actor=PLATFORM, details=first.details)
    assert done.state == "completed" and done.ended_at is not None

    canary = start(store, cfg, "prod", 2, actor=PLATFORM)
    assert (canary.strategy, canary.from_version, canary.weight) == ("canary", 1, 0.1)
    dep = current(store, "prod")
    assert dep is not None
    assert (dep.stable_version, dep.candidate_version, dep.candidate_weight, dep.mode) == (
        1, 2, 0.1, "split")
    assert get_version(store, "churn@production").version == 2
    with pytest.raises(DeploymentError, match="assay deployments abort prod"):
        start(store, cfg, "prod", 3, actor=PLATFORM)

    stepped = set_traffic(store, canary, weight=0.5, step=1, actor=PLATFORM,
                          details=canary.details)
    after = current(store, "prod")
    assert after is not None and after.candidate_weight == 0.5
    assert after.revision == dep.revision + 1 == stepped.details["revision"]

    back = withdraw(store, stepped, state="rolled_back", reason="guard error_rate failed",
                    actor=PLATFORM, details=stepped.details,
                    decision={"guard": "error_rate", "value": 0.2, "bound": 0.05})
    assert back.state == "rolled_back" and back.ended_at is not None
    dep = current(store, "prod")
    assert dep is not None and (dep.stable_version, dep.candidate_version) == (1, None)
    assert get_version(store, "churn@production").version == 1  # the alias moved back
    assert active_rollout(store, "prod") is None
    assert [r.state for r in rollouts_of(store, "prod")] == ["rolled_back", "completed"]
    assert _events(store) == ["deployment.started", "deployment.completed",
                              "deployment.started", "deployment.step",
                              "deployment.rolled_back"]
    rolled = next(e for e in store.events() if e.kind == "deployment.rolled_back")
    assert rolled.details["guard"]["guard"] == "error_rate"
    assert rolled.details["alias_moved_back"] is True


def test_the_promotion_policy_still_decides_and_a_refusal_records_nothing(
        store: Store, versions: list[int]) -> None:
    strict = _config(promotion={"production": {"approvals": [{"count": 1,
                                                              "roles": ["platform"]}]}})
    with pytest.raises(PolicyViolation):
        start(store, strict, "prod", 1, actor=ML)
    assert current(store, "prod") is None
    assert rollouts_of(store, "prod") == []
    assert _events(store) == []


def test_unknown_deployment_and_redeploying_the_serving_version_are_clear_errors(
        store: Store, versions: list[int]) -> None:
    cfg = _config()
    with pytest.raises(DeploymentError, match="No deployment 'nope'"):
        start(store, cfg, "nope", 1, actor=PLATFORM)
    first = start(store, cfg, "prod", 1, actor=PLATFORM)
    complete(store, first, actor=PLATFORM, details=first.details)
    with pytest.raises(DeploymentError, match="already serves prod"):
        start(store, cfg, "prod", 1, actor=PLATFORM)


def test_requests_need_the_platform_role_and_a_running_rollout(
        store: Store, versions: list[int]) -> None:
    cfg = _config()
    with pytest.raises(DeploymentError, match="No rollout is running"):
        ask(store, cfg, "prod", "pause", actor=PLATFORM)
    start(store, cfg, "prod", 1, actor=PLATFORM)
    with pytest.raises(PolicyViolation, match="platform or admin"):
        ask(store, cfg, "prod", "abort", actor=ML)
    asked = ask(store, cfg, "prod", "abort", actor=PLATFORM)
    assert (asked.request, asked.requested_by) == ("abort", PLATFORM)
    running = active_rollout(store, "prod")
    assert running is not None and running.request == "abort"


def test_one_controller_holds_a_rollout_until_its_lease_runs_out(
        store: Store, versions: list[int]) -> None:
    rollout = start(store, _config(), "prod", 1, actor=PLATFORM)
    assert claim(store, rollout, "a:1", stale_after=60)
    assert claim(store, rollout, "a:1", stale_after=60)  # renewed
    assert not claim(store, rollout, "b:2", stale_after=60)
    time.sleep(0.3)
    assert claim(store, rollout, "b:2", stale_after=0.2)  # a went silent
    assert not claim(store, rollout, "a:1", stale_after=60)
