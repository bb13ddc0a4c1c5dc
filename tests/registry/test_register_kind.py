"""kind: register, with a hand-made stage context and through a real ``assay run`` pipeline."""

from __future__ import annotations

import json
import re

import pytest

from assay.config import PlanContext
from assay.errors import GateFailed, RegistryError
from assay.registry import RegisterOptions, alias_history, get_version, versions
from assay.registry._register_kind import KIND
from assay.store import open_store
from tests.conftest import TmpProject
from tests.models.worlds import stage_context
from tests.registry.worlds import ML, OUTSIDER, POLICY, TEAM, make_package, report_for


def _store_url(project: TmpProject) -> str:
    return f"sqlite:///{project.root / '.assay' / 'assay.db'}"


def _evaluated(project: TmpProject, *, passed: bool = True) -> None:
    from assay.objects import LocalCache

    package = make_package(project.root, "models/train", seed=1)
    oid = LocalCache(project.root / ".assay" / "cache").add_dir(package).oid
    out = project.root / "reports" / "evaluate" / "evaluation.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report_for(oid, passed=passed)))


def _run(project: TmpProject, **options: str) -> int:
    ctx = stage_context(project.root, _store_url(project), "register",
                        upstream_outs={"evaluate": ["reports/evaluate"]})
    opts = RegisterOptions.model_validate({"evaluation": "evaluate", "model": "churn", **options})
    return KIND.run(opts, ctx)


def test_plan_needs_the_evaluation_and_writes_a_report_dir(tmp_project: TmpProject) -> None:
    ctx = PlanContext(root=tmp_project.root, stage="register", matrix={},
                      outs_of=lambda name: ["reports/evaluate"], instances_of=lambda name: [])
    plan = KIND.plan(RegisterOptions(evaluation="evaluate", model="churn"), ctx)
    assert (plan.deps, plan.outs, plan.needs) == (
        ["reports/evaluate"], ["reports/register"], ["evaluate"]
    )


def test_registers_the_selected_candidate_with_alias_and_card(
    tmp_project: TmpProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSAY_USER", ML)
    tmp_project.config(team=TEAM, promotion=POLICY,
                       models={"churn": {"intended_use": "retention calls"}})
    _evaluated(tmp_project)
    assert _run(tmp_project, alias="staging") == 0
    assert _run(tmp_project, alias="staging") == 0  # idempotent
    store = open_store(_store_url(tmp_project))
    try:
        assert [v.version for v in versions(store, "churn")] == [1]
        mv = get_version(store, "churn@staging")
        assert mv.evaluation["stage"] == "evaluate" and mv.gates_passed
        assert [(m.alias, m.actor) for m in alias_history(store, "churn")] == [("staging", ML)]
    finally:
        store.close()
    out = tmp_project.root / "reports" / "register"
    summary = json.loads((out / "registration.json").read_text())
    assert (summary["version"], summary["aliases"], summary["created"]) == (1, ["staging"], False)
    assert "retention calls" in (out / "card.md").read_text()
    assert (out / "card.html").read_text().startswith("<!doctype html>")


def test_guarded_alias_is_not_set_and_says_what_is_missing(
    tmp_project: TmpProject, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSAY_USER", ML)
    tmp_project.config(team=TEAM, promotion=POLICY)
    _evaluated(tmp_project)
    assert _run(tmp_project, alias="production") == 0
    captured = capsys.readouterr()
    assert "registered churn:1\n" in captured.out
    assert captured.err == (
        "note: alias 'production' was not set: Model 'churn' v1 is not in staging; production "
        "accepts versions only from staging; run: assay models promote churn:1 --to staging; "
        "Model 'churn' v1 lacks 1 approval from role 'platform' (the author ana@example.com may "
        "not approve); run: assay models approve churn:1 --for production\n"
    )
    summary = json.loads((tmp_project.root / "reports/register/registration.json").read_text())
    assert (summary["alias"], summary["aliases"]) == (None, [])


def test_a_non_member_running_the_stage_does_not_move_the_alias(
    tmp_project: TmpProject, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSAY_USER", OUTSIDER)
    tmp_project.config(team=TEAM, promotion=POLICY)
    _evaluated(tmp_project)
    assert _run(tmp_project, alias="staging") == 0
    assert capsys.readouterr().err == (
        "note: alias 'staging' was not set: eve@example.com is not a member of the team in "
        "assay.yaml; only members may promote\n"
    )
    store = open_store(_store_url(tmp_project))
    try:
        assert get_version(store, "churn:1").aliases == ()
        assert alias_history(store, "churn") == []
        assert store.events(kind="model.promoted") == []
    finally:
        store.close()


def test_no_selected_candidate_raises_gate_failed(tmp_project: TmpProject) -> None:
    _evaluated(tmp_project, passed=False)
    with pytest.raises(GateFailed, match="no candidate passed its gates; nothing to register"):
        _run(tmp_project)


def test_missing_evaluation_is_a_clear_error(tmp_project: TmpProject) -> None:
    ctx = stage_context(tmp_project.root, _store_url(tmp_project), "register",
                        upstream_outs={"evaluate": ["reports/evaluate"]})
    with pytest.raises(RegistryError, match=re.escape("'evaluate' wrote no evaluation.json")):
        KIND.run(RegisterOptions(evaluation="evaluate", model="churn"), ctx)


def test_bad_options_are_rejected() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        RegisterOptions.model_validate({"evaluation": "e", "model": "m", "alais": "x"})
