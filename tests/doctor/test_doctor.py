"""Each doctor rule: a project that triggers it and one that does not; the CLI's exit codes."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from assay.doctor import ALL_RULES, diagnose
from tests.conftest import TmpProject

HEALTHY: dict[str, Any] = {
    "team": [
        {"id": "ana@example.com", "roles": ["ml"]},
        {"id": "raj@example.com", "roles": ["platform"]},
        {"id": "dee@example.com", "roles": ["data"]},
    ],
    "datasets": {"churn": "data/churn.parquet"},
    "promotion": {
        "staging": {"gates": "all"},
        "production": {"from": ["staging"], "approvals": [{"count": 1, "roles": ["platform"]}]},
    },
    "profiles": {"ci": {"params": {"train.sample": 0.1}}},
    "stages": {
        "validate": {"kind": "validate", "owner": "data", "deps": ["data/churn.parquet"]},
        "train": {"kind": "train", "owner": "ml", "needs": ["validate"], "data": "churn",
                  "target": "churned", "estimator": "random_forest"},
        "evaluate": {"kind": "evaluate", "owner": "ml", "candidates": ["train"],
                     "champion": "churn@production",
                     "gates": [{"metric": "roc_auc", "min": 0.7},
                               {"beats_champion": {"metric": "roc_auc"}}]},
        "register": {"kind": "register", "owner": "platform", "evaluation": "evaluate",
                     "model": "churn", "alias": "staging"},
    },
    "deployments": {
        "churn-prod": {"model": "churn@production", "serve": {"port": 8080},
                       "strategy": "canary",
                       "steps": [{"weight": 0.1, "min_requests": 500},
                                 {"weight": 0.5, "min_requests": 1000}],
                       "guards": {"min_requests": 500, "error_rate": {"max": 0.01},
                                  "p99_ms": {"max": 250}, "prediction_shift": {"max": 0.1}}},
    },
}
FILES = {
    "data/churn.parquet.assay": "oid: abc\n",
    "requirements.txt": "numpy==2.1.0\nscikit-learn==1.5.2  # pinned\n",
}

Mutation = Callable[[dict[str, Any], TmpProject], None]


def _project(tmp_project: TmpProject, mutate: Mutation | None = None) -> TmpProject:
    config = copy.deepcopy(HEALTHY)
    tmp_project.gen(FILES)
    if mutate is not None:
        mutate(config, tmp_project)
    tmp_project.config(**config)
    return tmp_project


def _rule_findings(project: TmpProject, rule: str) -> list[tuple[str, str]]:
    report = diagnose(project.load())
    return [(f.level, f.message) for f in report.findings if f.rule.id == rule]


def _hold(p: TmpProject, *aliases: str, name: str = "churn", seed: int = 1) -> None:
    """Register a real package in the project's store and point ``aliases`` at it."""
    from assay.registry import register
    from assay.store import open_store
    from tests.registry.worlds import config, make_package, oid_of, report_for

    cache = p.root / ".assay" / "cache"
    package = make_package(p.root / "work", f"models/{name}{seed}", seed=seed)
    store = open_store(f"sqlite:///{p.root / '.assay' / 'assay.db'}")
    try:
        for alias in aliases:  # no policy in this config: the alias is set as asked
            register(store, name=name, cache_dir=cache, package_dir=package,
                     evaluation=report_for(oid_of(cache, package)), author="ana@example.com",
                     alias=alias, config=config(team=[], promotion={}))
            package = make_package(p.root / "work", f"models/{name}{seed}-{alias}", seed=seed)
    finally:
        store.close()


def _production_held(c: dict[str, Any], p: TmpProject) -> None:
    _hold(p, "production")


def _deployed_alias_held(c: dict[str, Any], p: TmpProject) -> None:
    c["promotion"]["live-eu"] = {"from": ["staging"], "deployed": True,
                                 "approvals": [{"count": 1, "roles": ["platform"]}]}
    c["monitoring"] = {"production": {"external": "https://grafana.example.com/d/churn"}}
    _hold(p, "live-eu")


def _drop_needs(c: dict[str, Any], p: TmpProject) -> None:
    del c["stages"]["train"]["needs"]


def _cmd_train_on_raw_file(c: dict[str, Any], p: TmpProject) -> None:
    c["stages"]["train"] = {"cmd": "python train.py", "owner": "ml", "needs": ["validate"],
                            "deps": ["train.py", "raw/customers.csv"], "outs": ["models/m"]}


def _declared_not_added(c: dict[str, Any], p: TmpProject) -> None:
    (p.root / "data/churn.parquet.assay").unlink()


def _no_gates(c: dict[str, Any], p: TmpProject) -> None:
    c["stages"]["evaluate"]["gates"] = []


def _register_from_train(c: dict[str, Any], p: TmpProject) -> None:
    c["stages"]["register"]["evaluation"] = "train"


def _no_approvals(c: dict[str, Any], p: TmpProject) -> None:
    c["promotion"]["production"]["approvals"] = []


def _no_promotion(c: dict[str, Any], p: TmpProject) -> None:
    del c["promotion"]


def _one_owner(c: dict[str, Any], p: TmpProject) -> None:
    for stage in c["stages"].values():
        stage["owner"] = "ana@example.com"


def _no_owner(c: dict[str, Any], p: TmpProject) -> None:
    del c["stages"]["evaluate"]["owner"]


def _unknown_owner(c: dict[str, Any], p: TmpProject) -> None:
    c["stages"]["evaluate"]["owner"] = "bob"


def _ci_without_sampling(c: dict[str, Any], p: TmpProject) -> None:
    c["profiles"]["ci"] = {"params": {"train.seed": 1}}


def _cmd_stage(resources: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"cmd": "python featurize.py", "owner": "data", "needs": ["validate"],
            "deps": ["featurize.py"], "outs": ["data/features.parquet"],
            "resources": resources, **extra}


def _many_cpus_in_ci(c: dict[str, Any], p: TmpProject) -> None:
    c["profiles"]["ci"] = {"params": {"train.seed": 1}}
    c["stages"]["train"]["profiles"] = ["default"]
    c["stages"]["featurize"] = _cmd_stage({"cpus": 8})


def _gpu_in_ci(c: dict[str, Any], p: TmpProject) -> None:
    c["profiles"]["ci"] = {"params": {"train.seed": 1}}
    c["stages"]["train"]["profiles"] = ["default"]
    c["stages"]["featurize"] = _cmd_stage({"gpus": 1})


def _monitor_without_alerts(c: dict[str, Any], p: TmpProject) -> None:
    c["monitoring"] = {"churn-drift": {"deployment": "churn-prod"}}


def _route_to_another_monitor(c: dict[str, Any], p: TmpProject) -> None:
    c["monitoring"] = {"churn-drift": {"deployment": "churn-prod"},
                       "eu-drift": {"deployment": "churn-prod"}}
    c["alerts"] = {"channels": {"ops": {"url": "https://hooks.example.com/a"}},
                   "routes": [{"channels": ["ops"], "monitors": ["eu-drift"]}]}


def _trigger_past_no_gates(c: dict[str, Any], p: TmpProject) -> None:
    c["triggers"] = {"retrain": {"data": "churn", "deploy": "churn-prod"}}
    c["promotion"]["production"]["gates"] = "none"


def _trigger_from_ungated_register(c: dict[str, Any], p: TmpProject) -> None:
    c["triggers"] = {"retrain": {"data": "churn", "deploy": "churn-prod"}}
    c["stages"]["evaluate"]["gates"] = []


def _gated_trigger(c: dict[str, Any], p: TmpProject) -> None:
    c["triggers"] = {"retrain": {"data": "churn", "deploy": "churn-prod"}}


def _monitor_with_alerts(c: dict[str, Any], p: TmpProject) -> None:
    c["monitoring"] = {"churn-drift": {"deployment": "churn-prod"}}
    c["alerts"] = {"channels": {"ops": {"url": "https://hooks.example.com/a"}},
                   "routes": [{"channels": ["ops"]}]}


def _unpinned(c: dict[str, Any], p: TmpProject) -> None:
    p.gen({"requirements.txt": "numpy\nscikit-learn>=1.4\n"})


def _no_lock(c: dict[str, Any], p: TmpProject) -> None:
    (p.root / "requirements.txt").unlink()


def _thresholds_only(c: dict[str, Any], p: TmpProject) -> None:
    c["stages"]["evaluate"]["gates"] = [{"metric": "roc_auc", "min": 0.7}]


def _accuracy_on_rare_target(c: dict[str, Any], p: TmpProject) -> None:
    p.gen({"data/holdout.csv": "x,churned\n" + "1,no\n" * 29 + "2,yes\n"})
    c["stages"]["evaluate"].update(
        datasets={"holdout": "data/holdout.csv"}, target="churned",
        gates=[{"metric": "accuracy", "min": 0.87}, {"beats_champion": {"metric": "roc_auc"}}])


def _fairness_with_accuracy(c: dict[str, Any], p: TmpProject) -> None:
    c["stages"]["evaluate"]["gates"] = [
        {"metric": "accuracy", "min": 0.87},
        {"metric": "demographic_parity_difference", "max": 0.1},
        {"non_inferiority": {"metric": "roc_auc", "margin": 0.01}}]


def _no_guards(c: dict[str, Any], p: TmpProject) -> None:
    del c["deployments"]["churn-prod"]["guards"]


def _direct(c: dict[str, Any], p: TmpProject) -> None:
    c["deployments"]["churn-prod"]["strategy"] = "direct"
    del c["deployments"]["churn-prod"]["steps"]


def _two_requests(c: dict[str, Any], p: TmpProject) -> None:
    c["deployments"]["churn-prod"]["steps"] = [{"weight": 0.1, "min_requests": 2},
                                               {"weight": 0.5, "min_requests": 2}]
    c["deployments"]["churn-prod"]["guards"] = {"min_requests": 2, "error_rate": {"max": 0.2}}


def _default_minimums(c: dict[str, Any], p: TmpProject) -> None:
    c["deployments"]["churn-prod"]["steps"] = [{"weight": 0.1}, {"weight": 0.5}]
    c["deployments"]["churn-prod"]["guards"] = {"error_rate": {"max": 0.01}}


def _one_prediction(c: dict[str, Any], p: TmpProject) -> None:
    c["deployments"]["churn-prod"]["steps"] = [{"weight": 0.5, "min_requests": 1}]
    c["deployments"]["churn-prod"]["guards"] = {"min_requests": 1,
                                                "prediction_shift": {"max": 0.1}}


def _two_labels(c: dict[str, Any], p: TmpProject) -> None:
    c["deployments"]["churn-prod"]["guards"] = {"live_quality": {"min_labels": 2}}


TRIGGERS: list[tuple[str, Mutation, str, str]] = [
    ("no-validation", _drop_needs, "error", "stage 'train' trains without a validation stage"),
    ("unversioned-data", _cmd_train_on_raw_file, "error",
     "stage 'train' trains on raw/customers.csv, which is neither versioned"),
    ("unversioned-data", _declared_not_added, "warn",
     "declared under datasets: but not added yet"),
    ("ungated-release", _no_gates, "error",
     "register stage 'register': its evaluation 'evaluate' is not a kind: evaluate stage with"),
    ("ungated-release", _register_from_train, "error", "its evaluation 'train' is not"),
    ("promotion-without-approvals", _no_approvals, "warn",
     "promotion to 'production' needs no approvals"),
    ("promotion-without-approvals", _no_promotion, "warn",
     "the pipeline registers models but no promotion policy guards production"),
    ("bus-factor", _one_owner, "warn", "one person (ana@example.com) owns every stage"),
    ("bus-factor", _no_owner, "warn", "stage(s) without an owner: evaluate"),
    ("bus-factor", _unknown_owner, "warn", "owned by 'bob', who is neither a team member"),
    ("heavy-ci", _ci_without_sampling, "warn",
     "stage 'train' trains at full size in the ci profile"),
    ("heavy-ci", _many_cpus_in_ci, "warn",
     "stage 'featurize' trains at full size in the ci profile"),
    ("heavy-ci", _gpu_in_ci, "warn", "stage 'featurize' trains at full size in the ci profile"),
    ("no-drift-monitoring", _production_held, "warn",
     "churn@production (v1) serves users, but no monitoring: entry for 'production' says "
     "where its drift is watched"),
    ("no-drift-monitoring", _deployed_alias_held, "warn",
     "churn@live-eu (v1) serves users, but no monitoring: entry for 'live-eu' says"),
    ("monitoring-without-alerts", _monitor_without_alerts, "warn",
     "monitor(s) 'churn-drift' find drift, but no route under alerts: sends their findings"),
    ("monitoring-without-alerts", _route_to_another_monitor, "warn",
     "monitor(s) 'churn-drift' find drift, but no route"),
    ("trigger-deploys-without-gate", _trigger_past_no_gates, "error",
     "trigger 'retrain' deploys to 'churn-prod' (churn@production), but the promotion policy "
     "of 'production' requires no gates"),
    ("trigger-deploys-without-gate", _trigger_from_ungated_register, "error",
     "no register stage of 'churn' takes it from a gated kind: evaluate stage"),
    ("unpinned-environment", _unpinned, "warn",
     "unpinned requirements (requirements.txt: numpy, scikit-learn>=1.4)"),
    ("unpinned-environment", _no_lock, "warn", "no lock file or pinned requirements"),
    ("gates-without-champion", _thresholds_only, "warn",
     "evaluate stage 'evaluate' gates on fixed thresholds only"),
    ("accuracy-only-gates", _accuracy_on_rare_target, "warn",
     "evaluate stage 'evaluate' gates usefulness on accuracy only, and 96.7% of 'holdout' is "
     "'no': a model that always answers 'no' scores 0.967"),
    ("fairness-without-usefulness", _fairness_with_accuracy, "warn",
     "evaluate stage 'evaluate' gates on demographic_parity_difference but on no usefulness "
     "metric: a constant model (parity gap 0) passes"),
    ("unguarded-deployment", _no_guards, "error",
     "deployment 'churn-prod' follows churn@production with no guards: nothing rolls a bad "
     "version back"),
    ("direct-to-production", _direct, "warn",
     "deployment 'churn-prod' swaps churn@production to a new version at once (strategy: "
     "direct)"),
    ("guard-minimum-too-small", _two_requests, "error",
     "deployment 'churn-prod': guard error_rate can never fail on 2 requests (even all 2 over "
     "its bound give p=0.04 >= 0.025)"),
    ("guard-minimum-too-small", _default_minimums, "warn",
     "deployment 'churn-prod': guard error_rate decides on 200 requests, but at an error rate of "
     "0.01 no event at all has probability 0.13 >= alpha 0.05; needs 299 requests"),
    ("guard-minimum-too-small", _one_prediction, "error",
     "deployment 'churn-prod': guard prediction_shift can never fail on 1 predictions"),
    ("guard-minimum-too-small", _two_labels, "error",
     "deployment 'churn-prod': guard live_quality can never fail on 2 labels"),
]


@pytest.mark.parametrize(
    ("rule", "mutate", "level", "message"), TRIGGERS,
    ids=[f"{t[0]}:{t[1].__name__.strip('_')}" for t in TRIGGERS],
)
def test_rule_triggers(
    tmp_project: TmpProject, rule: str, mutate: Mutation, level: str, message: str
) -> None:
    project = _project(tmp_project, mutate)
    found = _rule_findings(project, rule)
    assert [lv for lv, _ in found] == [level], found
    assert message in found[0][1]


def test_every_rule_has_a_triggering_case() -> None:
    assert {t[0] for t in TRIGGERS} == {rule.id for rule in ALL_RULES}


@pytest.mark.parametrize("rule", [r.id for r in ALL_RULES])
def test_healthy_project_does_not_trigger(tmp_project: TmpProject, rule: str) -> None:
    assert _rule_findings(_project(tmp_project), rule) == []


def _monitored(c: dict[str, Any], p: TmpProject) -> None:
    c["monitoring"] = {"production": {"external": "https://grafana.example.com/d/churn"}}
    _hold(p, "production")


def _monitored_by_assay(c: dict[str, Any], p: TmpProject) -> None:
    c["monitoring"] = {"churn-drift": {"deployment": "churn-prod"}}  # churn-prod follows production
    _hold(p, "production")


def _staging_only_held(c: dict[str, Any], p: TmpProject) -> None:
    _hold(p, "staging", "champion")


def _production_not_deployed(c: dict[str, Any], p: TmpProject) -> None:
    c["promotion"]["production"]["deployed"] = False
    _hold(p, "production")


def _registered_without_aliases(c: dict[str, Any], p: TmpProject) -> None:
    from assay.registry import register
    from assay.store import open_store
    from tests.registry.worlds import make_package, oid_of, report_for

    cache = p.root / ".assay" / "cache"
    package = make_package(p.root / "work", "models/a", seed=1)
    store = open_store(f"sqlite:///{p.root / '.assay' / 'assay.db'}")
    try:
        register(store, name="churn", cache_dir=cache, package_dir=package,
                 evaluation=report_for(oid_of(cache, package)), author="ana@example.com")
    finally:
        store.close()


def _unguarded_staging(c: dict[str, Any], p: TmpProject) -> None:
    c["deployments"]["churn-prod"]["model"] = "churn@staging"
    c["deployments"]["churn-prod"]["strategy"] = "direct"
    del c["deployments"]["churn-prod"]["steps"]
    del c["deployments"]["churn-prod"]["guards"]


def _production_not_served(c: dict[str, Any], p: TmpProject) -> None:
    c["promotion"]["production"]["deployed"] = False
    _unguarded_staging(c, p)
    c["deployments"]["churn-prod"]["model"] = "churn@production"


def _enough_for_the_bound(c: dict[str, Any], p: TmpProject) -> None:
    c["deployments"]["churn-prod"]["steps"] = [{"weight": 0.1, "min_requests": 299}]
    c["deployments"]["churn-prod"]["guards"] = {"min_requests": 299, "error_rate": {"max": 0.01}}


def _light_cmd_in_ci(c: dict[str, Any], p: TmpProject) -> None:
    c["profiles"]["ci"] = {"params": {"train.seed": 1}}  # no sampling: only lightness helps
    c["stages"]["train"]["profiles"] = ["default"]
    c["stages"]["featurize"] = _cmd_stage({"cpus": 1, "memory": "64GB"})


def _heavy_cmd_outside_ci(c: dict[str, Any], p: TmpProject) -> None:
    c["profiles"]["ci"] = {"params": {"train.seed": 1}}
    c["stages"]["train"]["profiles"] = ["default"]
    c["stages"]["featurize"] = _cmd_stage({"cpus": 8, "gpus": 2}, profiles=["default"])


def _heavy_cmd_with_ci_sampling(c: dict[str, Any], p: TmpProject) -> None:
    c["stages"]["featurize"] = _cmd_stage({"gpus": 1})  # ci keeps `train.sample: 0.1`


def _no_ci_profile(c: dict[str, Any], p: TmpProject) -> None:
    del c["profiles"]["ci"]
    c["stages"]["featurize"] = _cmd_stage({"cpus": 8})


@pytest.mark.parametrize(
    ("rule", "mutate"),
    [
        ("heavy-ci", _light_cmd_in_ci),
        ("heavy-ci", _heavy_cmd_outside_ci),
        ("heavy-ci", _heavy_cmd_with_ci_sampling),
        ("heavy-ci", _no_ci_profile),
        ("no-drift-monitoring", _monitored),
        ("monitoring-without-alerts", _monitor_with_alerts),
        ("monitoring-without-alerts", _monitored),
        ("trigger-deploys-without-gate", _gated_trigger),
        ("no-drift-monitoring", _monitored_by_assay),
        ("no-drift-monitoring", _staging_only_held),
        ("no-drift-monitoring", _production_not_deployed),
        ("no-drift-monitoring", _registered_without_aliases),
        ("unguarded-deployment", _unguarded_staging),
        ("direct-to-production", _unguarded_staging),
        ("unguarded-deployment", _production_not_served),
        ("direct-to-production", _production_not_served),
        ("guard-minimum-too-small", _enough_for_the_bound),
    ],
    ids=lambda v: v if isinstance(v, str) else v.__name__.strip("_"),
)
def test_rule_stays_quiet(tmp_project: TmpProject, rule: str, mutate: Mutation) -> None:
    assert _rule_findings(_project(tmp_project, mutate), rule) == []


def test_doctor_does_not_create_a_store(tmp_project: TmpProject) -> None:
    project = _project(tmp_project)
    assert diagnose(project.load()).findings == []
    assert not (project.root / ".assay" / "assay.db").exists()


def test_monitoring_entries_need_a_place(tmp_project: TmpProject) -> None:
    from assay.errors import ConfigError

    def empty(c: dict[str, Any], p: TmpProject) -> None:
        c["monitoring"] = {"production": {}}

    project = _project(tmp_project, empty)
    with pytest.raises(ConfigError, match=r"monitoring\.production: a monitoring entry takes "
                       r"one of external: .*, deployment: .* or dataset:"):
        project.load()


@pytest.mark.parametrize(
    "lock", ["uv.lock", "poetry.lock", "conda-lock.yml"], ids=["uv", "poetry", "conda"]
)
def test_lock_files_pin_the_environment(tmp_project: TmpProject, lock: str) -> None:
    def locked(c: dict[str, Any], p: TmpProject) -> None:
        p.gen({"requirements.txt": "numpy\n", lock: "# lock\n"})

    assert _rule_findings(_project(tmp_project, locked), "unpinned-environment") == []


def test_validation_named_stage_and_upstream_outs_count(tmp_project: TmpProject) -> None:
    def cmd_pipeline(c: dict[str, Any], p: TmpProject) -> None:
        c["stages"] = {
            "check_data": {"cmd": "python check.py", "owner": "data", "deps": ["raw/a.csv"],
                           "outs": ["reports/checked.json"], "description": "data validation"},
            "featurize": {"cmd": "python feat.py", "owner": "data", "deps": ["raw/a.csv"],
                          "outs": ["data/features.parquet"]},
            "train": {"cmd": "python train.py", "owner": "ml",
                      "deps": ["reports/checked.json", "data/features.parquet", "train.py"],
                      "outs": ["models/m"]},
        }
        p.gen({"raw/a.csv.assay": "oid: x\n"})

    project = _project(tmp_project, cmd_pipeline)
    assert _rule_findings(project, "no-validation") == []
    assert _rule_findings(project, "unversioned-data") == []


def test_cli_exit_codes_and_json(tmp_project: TmpProject) -> None:
    healthy = _project(tmp_project)
    result = healthy.invoke("doctor")
    assert result.code == 0, result.output
    assert result.stdout == "healthy: 16 rules, no findings\n"
    _hold(healthy, "production")
    warned = healthy.invoke("doctor")
    assert warned.code == 0, warned.output
    assert "warn  no-drift-monitoring" in warned.stdout
    assert "0 error(s), 1 warning(s) from 16 rules" in warned.stdout
    _drop_needs_config = copy.deepcopy(HEALTHY)
    del _drop_needs_config["stages"]["train"]["needs"]
    healthy.config(**_drop_needs_config)
    broken = healthy.invoke("doctor", "--json")
    assert broken.code == 1
    data = json.loads(broken.stdout)
    assert (data["healthy"], data["errors"], data["warnings"]) == (False, 1, 1)
    first = data["findings"][0]
    assert first["rule"] == "no-validation" and first["where"].startswith("assay.yaml:")
    assert first["why"] and first["fix"]
    text = healthy.invoke("doctor")
    assert "fix: Add a `kind: validate` stage" in text.stdout
    assert "`needs: [validate]`" in text.stdout


def test_doctor_on_a_bad_config_is_a_config_error(tmp_project: TmpProject) -> None:
    tmp_project.gen({"assay.yaml": "stages: [1, 2]\n"})
    result = tmp_project.invoke("doctor")
    assert result.code == 2
    assert result.stderr.startswith("error: ")


def test_bundled_example_is_healthy(tmp_path: Any) -> None:
    from tests.conftest import invoke

    assert invoke(["init", "--example", "churn", str(tmp_path / "ex")]).code == 0
    result = invoke(["doctor", "--json"], cwd=tmp_path / "ex")
    assert result.code == 0, result.output
    assert json.loads(result.stdout)["findings"] == []
