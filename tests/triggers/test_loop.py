"""The loop end to end, all real processes: a served model's live traffic drifts, ``assay watch``
computes the monitor's window, the monitor trigger fires, the pipeline retrains on the new data
version, evaluate's gates pass, register makes the next version, its promotion obeys the policy,
and the rollout puts it into the managed server; lineage answers why it was retrained."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import TmpProject
from tests.models.worlds import FEATURES, churn_frame
from tests.serving.worlds import free_port


def _config(port: int) -> dict[str, Any]:
    return {
        "project": "loop",
        "datasets": {"train": "data/train.parquet"},
        "stages": {
            "train": {"kind": "train", "estimator": "logistic_regression",
                      "data": "data/train.parquet", "target": "churned", "features": FEATURES},
            "evaluate": {"kind": "evaluate", "candidates": ["train"],
                         "datasets": {"holdout": "data/holdout.parquet"}, "target": "churned",
                         "gates": [{"metric": "roc_auc", "min": 0.55, "dataset": "holdout"}],
                         "bootstrap": {"resamples": 20}},
            "register": {"kind": "register", "evaluation": "evaluate", "model": "churn",
                         "alias": "staging"},
        },
        "promotion": {"staging": {"gates": "all"}, "live": {"gates": "all"}},
        "deployments": {"live-dep": {"model": "churn@live", "serve": {"port": port},
                                     "strategy": "direct"}},
        "monitoring": {"m": {"deployment": "live-dep", "window": {"rows": 2000}}},
        "triggers": {"retrain": {"monitor": "m", "deploy": "live-dep"}},
    }


def _ok(done: Any) -> Any:
    assert done.code == 0, done.output
    return done


@pytest.mark.slow
def test_drift_retrains_gates_registers_and_rolls_out(tmp_project: TmpProject) -> None:
    root = tmp_project.root
    port = free_port()
    (root / "data").mkdir()
    churn_frame(600, seed=1).write_parquet(root / "data" / "train.parquet")
    churn_frame(300, seed=2).write_parquet(root / "data" / "holdout.parquet")
    (root / "assay.yaml").write_text(yaml.safe_dump(_config(port), sort_keys=False))
    _ok(tmp_project.invoke("data", "add", "data/train.parquet"))
    run = tmp_project.run("run")
    assert run.returncode == 0, run.stdout + run.stderr
    try:
        deployed = tmp_project.run("deploy", "churn:1", "--to", "live-dep")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        quiet = _ok(tmp_project.invoke("watch", "--once"))  # arms the trigger; no traffic yet
        assert "monitor m: no prediction log" in quiet.stderr
        # live traffic drifts: charges far higher, tenure far lower than in training
        live = churn_frame(600, seed=3, shift=45.0).select(FEATURES).with_columns(
            (churn_frame(600, seed=3)["tenure_months"] // 4 + 1).alias("tenure_months"))
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            for start in range(0, live.height, 50):
                answer = client.post("/predict", json={
                    "records": live.slice(start, 50).to_dicts()})
                assert answer.status_code == 200, answer.text
        _ok(tmp_project.invoke("deployments", "stop", "live-dep"))  # writes its log out
        # the data team lands this month's data: a new version of the training set
        churn_frame(700, seed=4).write_parquet(root / "data" / "train.parquet")
        _ok(tmp_project.invoke("data", "add", "data/train.parquet"))

        watched = tmp_project.run("watch", "--once", timeout=600)
        assert watched.returncode == 0, watched.stdout + watched.stderr
        err = watched.stderr
        assert "monitor m: window 1: drift" in err
        assert "trigger retrain fired (#1)" in err
        [firing] = json.loads(tmp_project.run("triggers", "history", "--json").stdout)
        assert firing["state"] == "done", firing
        assert firing["kind"] == "monitor" and firing["cause"] == "window:1"
        assert firing["version"] == 2 and firing["rollout_id"] is not None
        status = json.loads(tmp_project.run("deployments", "status", "live-dep",
                                            "--json").stdout)
        assert status["deployment"]["stable_version"] == 2
        assert status["server"]["running"]
        shown = json.loads(tmp_project.run("models", "show", "churn:2", "--json").stdout)
        assert shown["gates_passed"] is True and "live" in shown["aliases"]
        lineage = json.loads(tmp_project.run("models", "lineage", "churn:2", "--json").stdout)
        assert lineage["run"]["trigger"] == "drift"
        cause = lineage["run"]["cause"]
        assert cause["trigger"] == "retrain" and cause["cause"] == "window:1"
        assert "drift on m" in cause["summary"]
        text = tmp_project.run("models", "lineage", "churn:2").stdout
        assert "retrained by trigger retrain" in text
    finally:
        tmp_project.run("deployments", "stop", "live-dep")


@pytest.mark.slow
def test_a_missing_approval_holds_the_firing_until_it_is_given(tmp_project: TmpProject) -> None:
    """The promotion policy still applies: the firing waits in awaiting_approval, and the next
    round of the watch carries it on once a platform engineer approved."""
    root = tmp_project.root
    port = free_port()
    (root / "data").mkdir()
    churn_frame(600, seed=1).write_parquet(root / "data" / "train.parquet")
    churn_frame(300, seed=2).write_parquet(root / "data" / "holdout.parquet")
    config = _config(port)
    config["team"] = [{"id": "tester@example.com", "roles": ["ml"]},
                      {"id": "plat@example.com", "roles": ["platform"]}]
    config["promotion"]["live"] = {"gates": "all",
                                   "approvals": [{"count": 1, "roles": ["platform"]}]}
    config["triggers"] = {"retrain": {"data": "train", "deploy": "live-dep"}}
    (root / "assay.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    _ok(tmp_project.invoke("data", "add", "data/train.parquet"))
    _ok(tmp_project.invoke("watch", "--once", "--no-alerts"))  # arms the trigger
    churn_frame(650, seed=5).write_parquet(root / "data" / "train.parquet")
    _ok(tmp_project.invoke("data", "add", "data/train.parquet"))
    try:
        waiting = tmp_project.run("watch", "--once", timeout=600)
        assert waiting.returncode == 0, waiting.stdout + waiting.stderr
        [firing] = json.loads(tmp_project.run("triggers", "history", "--json").stdout)
        assert firing["state"] == "awaiting_approval" and firing["version"] == 1
        assert "lacks 1 approval from role 'platform'" in firing["reason"]
        approved = tmp_project.run("models", "approve", "churn:1", "--for", "live",
                                   env={"ASSAY_USER": "plat@example.com"})
        assert approved.returncode == 0, approved.stderr
        carried = tmp_project.run("watch", "--once", timeout=600)
        assert carried.returncode == 0, carried.stdout + carried.stderr
        [firing] = json.loads(tmp_project.run("triggers", "history", "--json").stdout)
        assert firing["state"] == "done" and firing["rollout_id"] is not None, firing
    finally:
        tmp_project.run("deployments", "stop", "live-dep")


def test_doctor_flags_a_trigger_that_deploys_without_a_gate(tmp_project: TmpProject) -> None:
    config = _config(free_port())
    config["promotion"]["live"] = {"gates": "none"}
    (tmp_project.root / "assay.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    done = tmp_project.invoke("doctor", "--json")
    findings = json.loads(done.stdout)["findings"]
    [flagged] = [f for f in findings if f["rule"] == "trigger-deploys-without-gate"]
    assert "retrain" in flagged["message"] and "live" in flagged["message"]
    config["promotion"]["live"] = {"gates": "all"}
    (tmp_project.root / "assay.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    clean = json.loads(tmp_project.invoke("doctor", "--json").stdout)["findings"]
    assert not [f for f in clean if f["rule"] == "trigger-deploys-without-gate"]
