"""The report reads what the registry and the rollout controller really record: versions
registered, promoted with an approval, rolled out, rolled back and aborted through the domain
functions themselves (no planted rows), on both store backends."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assay.config import AssayConfig
from assay.delivery import Window, delivery_report
from assay.deployment import complete, start, withdraw
from assay.registry import approve, register
from assay.store import Store, open_store
from tests.registry.worlds import ML, PLATFORM, TEAM, make_package, oid_of, report_for

DEPLOYMENTS = {
    "prod": {"model": "churn@production", "url": "http://127.0.0.1:8080", "strategy": "canary",
             "steps": [{"weight": 0.1, "min_requests": 5, "min_seconds": 0}]},
    "stage": {"model": "churn@staging", "url": "http://127.0.0.1:8081", "strategy": "direct"},
}


def _config() -> AssayConfig:
    return AssayConfig.model_validate({
        "project": "t", "team": TEAM, "deployments": DEPLOYMENTS,
        "promotion": {"production": {"gates": "all", "approvals": [{"count": 1}]},
                      "staging": {"gates": "all"}}})


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    handle = open_store(store_url)
    yield handle
    handle.close()


def test_recorded_rollouts_rollbacks_and_approvals(store: Store, tmp_path: Path) -> None:
    config = _config()
    began = time.time()
    cache = tmp_path / "cache"
    for seed in (1, 2, 3, 4):
        package = make_package(tmp_path / "work", f"models/m{seed}", seed=seed)
        register(store, name="churn", cache_dir=cache, package_dir=package,
                 evaluation=report_for(oid_of(cache, package)), author=ML, config=config)

    def roll(version: int, how: str, deployment: str = "prod") -> Any:
        if deployment == "prod":
            approve(store, config, f"churn:{version}", target="production", actor=PLATFORM)
        rollout = start(store, config, deployment, version, actor=PLATFORM)
        if how == "completed":
            return complete(store, rollout, actor=PLATFORM, details=rollout.details)
        if how in ("rolled_back", "aborted"):
            return withdraw(store, rollout, state=how, reason="test", actor=PLATFORM,
                            details=rollout.details)
        return rollout

    roll(1, "completed")
    roll(2, "rolled_back")
    roll(3, "aborted")
    roll(1, "completed", deployment="stage")  # staging serves no users
    roll(4, "completed")
    roll_end = time.time()
    report = delivery_report(store, config, window=Window(began - 1, roll_end + 1),
                             fix_window=0.0, root=tmp_path).to_dict()
    dora, ml = report["dora"], report["ml"]
    assert dora["deployment_frequency"]["deployments"] == 2
    assert {k: dora["change_failure_rate"][k] for k in ("finished", "failed", "by_cause",
                                                         "in_progress", "rate")} == {
        "finished": 4, "failed": 2, "by_cause": {"aborted": 1, "rolled_back": 1},
        "in_progress": 0, "rate": 0.5}
    assert dora["time_to_restore"]["incidents"] == 2
    assert dora["time_to_restore"]["restored"] == 2
    # the packages name no commit and no run: lead time has no start to count from
    assert dora["lead_time"]["changes"] == 0 and dora["lead_time"]["median_seconds"] is None
    assert [(s["deployment"], s["version"]) for s in ml["model_age"]] == [("prod", 4)]
    assert ml["promotions_with_approval"] == {"promotions": 4, "approved": 4, "share": 1.0}
    assert ml["approval_wait"]["approvals"] == 4
    assert [(c["version"], c["state"]) for c in report["changes"]] == [
        (1, "completed"), (2, "rolled_back"), (3, "aborted"), (4, "completed")]
