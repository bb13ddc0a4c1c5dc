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


def _unpinned(c: dict[str, Any], p: TmpProject) -> None:
    p.gen({"requirements.txt": "numpy\nscikit-learn>=1.4\n"})


def _no_lock(c: dict[str, Any], p: TmpProject) -> None:
    (p.root / "requirements.txt").unlink()


def _thresholds_only(c: dict[str, Any], p: TmpProject) -> None:
    c["stages"]["evaluate"]["gates"] = [{"metric": "roc_auc", "min": 0.7}]


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
    ("unpinned-environment", _unpinned, "warn",
     "unpinned requirements (requirements.txt: numpy, scikit-learn>=1.4)"),
    ("unpinned-environment", _no_lock, "warn", "no lock file or pinned requirements"),
    ("gates-without-champion", _thresholds_only, "warn",
     "evaluate stage 'evaluate' gates on fixed thresholds only"),
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


@pytest.mark.parametrize("rule", [r.id for r in ALL_RULES if r.id != "no-drift-monitoring"])
def test_healthy_project_does_not_trigger(tmp_project: TmpProject, rule: str) -> None:
    assert _rule_findings(_project(tmp_project), rule) == []


def test_production_without_monitoring_warns_and_says_it_comes_later(
    tmp_project: TmpProject,
) -> None:
    found = _rule_findings(_project(tmp_project), "no-drift-monitoring")
    assert found == [("warn", "production is deployed but no monitoring: section watches it for "
                      "drift (a warning for now: drift monitoring arrives with the monitoring "
                      "feature)")]


def test_no_deployed_alias_needs_no_monitoring(tmp_project: TmpProject) -> None:
    def staging_only(c: dict[str, Any], p: TmpProject) -> None:
        del c["promotion"]["production"]

    assert _rule_findings(_project(tmp_project, staging_only), "no-drift-monitoring") == []


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
    assert "no-drift-monitoring" in result.stdout
    assert "0 error(s), 1 warning(s) from 9 rules" in result.stdout
    _drop_needs_config = copy.deepcopy(HEALTHY)
    del _drop_needs_config["stages"]["train"]["needs"]
    healthy.config(**_drop_needs_config)
    broken = healthy.invoke("doctor", "--json")
    assert broken.code == 1
    data = json.loads(broken.stdout)
    assert (data["healthy"], data["errors"]) == (False, 1)
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
    rules = [f["rule"] for f in json.loads(result.stdout)["findings"]]
    assert rules == ["no-drift-monitoring"]
