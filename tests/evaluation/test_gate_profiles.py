"""Profile-specific gate bounds: ``profiles: {ci: {...}}`` on a gate applies under
``assay run --profile ci`` only, and other profiles' bounds stay out of the stage's cache key."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from assay.errors import AssayError
from assay.evaluation import EvaluateOptions
from assay.pipeline import build_dag
from tests.conftest import TmpProject


def _project(project: TmpProject, ci_bound: float, nightly_bound: float = 0.3,
             profiles: tuple[str, ...] = ("ci", "nightly")) -> TmpProject:
    project.gen({"data/holdout.csv": "a,y\n1,0\n2,1\n"})
    return project.config(
        stages={
            "train": {"cmd": "echo", "outs": ["models/m"]},
            "evaluate": {
                "kind": "evaluate", "candidates": ["train"],
                "datasets": {"holdout": "data/holdout.csv"}, "target": "y",
                "gates": [
                    {"metric": "roc_auc", "min": 0.7},
                    {"metric": "demographic_parity_difference", "max": 0.1,
                     "profiles": {"ci": {"max": ci_bound}, "nightly": {"max": nightly_bound}}},
                ],
            },
        },
        profiles={name: {"params": {}} for name in profiles},
    )


def _definition(project: TmpProject, profile: str | None) -> dict[str, Any]:
    return build_dag(project.load(), profile=profile, read_store=False).stages[
        "evaluate"].definition()


def test_other_profiles_bounds_stay_out_of_the_cache_key(tmp_project: TmpProject) -> None:
    before = {p: _definition(_project(tmp_project, 0.2), p) for p in (None, "ci", "nightly")}
    after = {p: _definition(_project(tmp_project, 0.25), p) for p in (None, "ci", "nightly")}
    assert before[None] == after[None]  # the plain run never uses the ci bound
    assert before["nightly"] == after["nightly"]
    assert before["ci"] != after["ci"]
    assert before["ci"]["options"]["gates"][1]["profiles"] == {"ci": {"max": 0.2}}
    assert before[None]["options"]["gates"][1]["profiles"] == {}


def test_a_run_under_a_profile_uses_its_bounds() -> None:
    options = EvaluateOptions.model_validate({
        "candidates": ["train"], "datasets": {"h": "h.csv"}, "target": "y",
        "gates": [
            {"metric": "demographic_parity_difference", "max": 0.1, "profiles": {"ci": {"max": 0.2}}},
            {"non_inferiority": {"metric": "roc_auc", "margin": 0.01},
             "profiles": {"ci": {"margin": 0.05}}},
            {"metric": "roc_auc", "min": 0.7},
        ]})
    ci = options.for_profile("ci")
    assert [g.max for g in ci.gates] == [0.2, None, None]
    assert ci.gates[1].non_inferiority is not None and ci.gates[1].non_inferiority.margin == 0.05
    plain = options.for_profile(None)
    assert plain.gates[0].max == 0.1 and plain.gates[1].non_inferiority.margin == 0.01  # type: ignore[union-attr]
    assert all(g.profiles == {} for g in [*ci.gates, *plain.gates])


@pytest.mark.parametrize(
    ("gate", "message"),
    [
        ({"metric": "roc_auc", "min": 0.7, "profiles": {"ci": {"margin": 0.1}}},
         "profiles.ci.margin does not apply to a metric gate"),
        ({"metric": "roc_auc", "min": 0.7, "profiles": {"ci": {"max": 0.9}}},
         "profiles.ci.max: the gate has no max to replace"),
        ({"beats_baseline": {"metric": "roc_auc"}, "profiles": {"ci": {"min_delta": 0.1}}},
         "profiles.ci.min_delta does not apply to a beats_baseline gate"),
    ],
    ids=["margin-on-metric", "max-without-max", "min-delta-on-baseline"],
)
def test_a_bound_the_gate_does_not_have_is_refused(gate: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        EvaluateOptions.model_validate({"candidates": ["t"], "datasets": {"h": "h.csv"},
                                        "target": "y", "gates": [gate]})


def test_an_unknown_profile_in_a_gate_is_refused_when_planning(tmp_project: TmpProject) -> None:
    project = _project(tmp_project, 0.2, profiles=("ci",))
    with pytest.raises(AssayError, match=r"gates\[1\].profiles: unknown profile 'nightly'"):
        build_dag(project.load(), read_store=False)
