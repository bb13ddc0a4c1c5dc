"""The ``assay models`` face: same behaviour as the library, with exit codes and one-line errors."""

from __future__ import annotations

import json

import pytest

from tests.conftest import TmpProject
from tests.registry.worlds import ML, OUTSIDER, PLATFORM, POLICY, TEAM, make_package, report_for


@pytest.fixture
def project(tmp_project: TmpProject) -> TmpProject:
    tmp_project.config(
        team=TEAM,
        promotion=POLICY,
        models={"churn": {"intended_use": "Rank customers for retention calls.",
                          "limitations": ["Trained on one region only."]}},
    )
    tmp_project.env["ASSAY_USER"] = ML
    return tmp_project


def _register(project: TmpProject, seed: int, alias: str | None = "staging") -> None:
    from assay.objects import LocalCache

    package = make_package(project.root, f"models/m{seed}", seed=seed)
    oid = LocalCache(project.root / ".assay" / "cache").add_dir(package).oid
    report = project.root / f"reports/e{seed}/evaluation.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps(report_for(oid)))
    args = ["models", "register", f"models/m{seed}", "--name", "churn",
            "--evaluation", f"reports/e{seed}/evaluation.json"]
    result = project.invoke(*args, *(["--alias", alias] if alias else []))
    assert result.code == 0, result.output
    assert f"registered churn:{seed}" in result.stdout


def test_promotion_flow_through_the_cli(project: TmpProject) -> None:
    _register(project, 1)
    refused = project.invoke("models", "promote", "churn:1", "--to", "production")
    assert refused.code == 1
    assert refused.stderr.startswith(
        "error: Model 'churn' v1 lacks 1 approval from role 'platform'"
    )
    assert "run: assay models approve churn:1 --for production" in refused.stderr
    own = project.invoke("models", "approve", "churn:1", "--for", "production")
    assert own.code == 1 and "has role(s) ml" in own.stderr
    ok = project.invoke("models", "approve", "churn:1", "--for", "production", "--comment", "ok",
                        env={"ASSAY_USER": PLATFORM})
    assert ok.code == 0, ok.output
    assert "raj@example.com (platform) approved churn:1 for production" in ok.stdout
    twice = project.invoke("models", "approve", "churn:1", "--for", "production",
                           env={"ASSAY_USER": PLATFORM})
    assert twice.code == 2 and "already approved" in twice.stderr
    promoted = project.invoke("models", "promote", "churn:1", "--to", "production", "--json")
    assert promoted.code == 0, promoted.output
    assert json.loads(promoted.stdout)["version"] == 1
    shown = json.loads(project.invoke("models", "show", "churn@production", "--json").stdout)
    assert shown["aliases"] == ["production", "staging"]
    assert [a["actor"] for a in shown["approvals"]] == [PLATFORM]


def test_rollback_lineage_diff_card(project: TmpProject) -> None:
    _register(project, 1)
    _register(project, 2, alias=None)
    assert project.invoke("models", "promote", "churn:2", "--to", "staging").code == 0
    back = project.invoke("models", "rollback", "churn", "--alias", "staging")
    assert back.code == 0, back.output
    assert "rolled back churn@staging -> v1 (was v2)" in back.stdout
    listed = json.loads(project.invoke("models", "list", "--json").stdout)
    assert listed == [{"name": "churn", "created_at": listed[0]["created_at"],
                       "latest_version": 2, "versions": 2, "aliases": {"staging": 1}}]
    versions = project.invoke("models", "versions", "churn")
    assert versions.code == 0 and "v2" in versions.stdout
    tree = project.invoke("models", "lineage", "churn:1")
    assert tree.code == 0 and "data/churn.parquet" in tree.stdout
    mermaid = project.invoke("models", "lineage", "churn:1", "--format", "mermaid")
    assert mermaid.stdout.startswith("flowchart LR\n")
    assert 'al_staging>"@staging"]' in mermaid.stdout
    diff = json.loads(project.invoke("models", "diff", "churn:1", "churn:2", "--json").stdout)
    assert diff["params"] == [{"key": "seed", "a": 1, "b": 2, "changed": True, "delta": 1.0}]
    assert project.invoke("models", "diff", "churn:1", "churn:2").code == 0
    card = project.invoke("models", "card", "churn:1", "--html", "card.html")
    assert card.code == 0
    assert "Rank customers for retention calls." in card.stdout
    assert "- Trained on one region only." in card.stdout
    html = (project.root / "card.html").read_text()
    assert "<h2>Intended use</h2>" in html and "retention calls" in html


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["models", "show", "churn:9"], 2, "error: Model 'churn' has no version 9"),
        (["models", "show", "nope"], 2, "error: No registered model 'nope'"),
        (["models", "rollback", "churn", "--alias", "prod"], 2, "has no alias 'prod'"),
        (["models", "promote", "churn:1", "--to", "../x"], 2, "is not a valid alias"),
        (["models", "lineage", "churn:1", "--format", "dot"], 2, "--format must be tree or"),
        (["models", "card", "churn:1", "--html", "../../out.html"], 2, "Unsafe card file"),
        (["models", "reject", "churn:1", "--for", "production"], 1, "not a member of the team"),
    ],
    ids=["version", "model", "alias", "bad-alias", "format", "path", "outsider"],
)
def test_bad_input_is_one_clear_line(
    project: TmpProject, args: list[str], code: int, message: str
) -> None:
    _register(project, 1)
    result = project.invoke(*args, env={"ASSAY_USER": OUTSIDER})
    assert result.code == code, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_models_list_empty(project: TmpProject) -> None:
    result = project.invoke("models", "list")
    assert result.code == 0 and "No registered models yet" in result.stdout


def test_register_with_alias_applies_the_promotion_policy(project: TmpProject) -> None:
    from assay.objects import LocalCache

    package = make_package(project.root, "models/m1", seed=1)
    oid = LocalCache(project.root / ".assay" / "cache").add_dir(package).oid
    (project.root / "evaluation.json").write_text(json.dumps(report_for(oid)))
    args = ["models", "register", "models/m1", "--name", "churn", "--evaluation",
            "evaluation.json", "--alias", "staging"]
    outsider = project.invoke(*args, env={"ASSAY_USER": OUTSIDER})
    assert outsider.code == 0, outsider.output
    assert outsider.stdout == "registered churn:1\n"
    assert outsider.stderr == (
        "note: alias 'staging' was not set: eve@example.com is not a member of the team in "
        "assay.yaml; only members may promote\n"
    )
    shown = json.loads(project.invoke("models", "show", "churn:1", "--json").stdout)
    assert (shown["aliases"], shown["alias_history"]) == ([], [])
    member = project.invoke("models", "promote", "churn:1", "--to", "staging")
    assert member.code == 0 and "promoted churn@staging -> v1" in member.stdout
