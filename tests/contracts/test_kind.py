"""``kind: validate``: plan gives deps/outs, run gates with exit codes and reports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest

from assay.config import PlanContext, StageContext
from assay.contracts import KIND, ValidateOptions
from assay.errors import ValidationFailed
from tests.conftest import TmpProject
from tests.contracts.conftest import people, write_contract


def _plan_ctx(root: Path, stage: str = "validate") -> PlanContext:
    return PlanContext(root=root, stage=stage, matrix={}, outs_of=lambda _: [], instances_of=lambda _: [])


def _run_ctx(project: TmpProject, stage: str = "validate") -> StageContext:
    return StageContext(
        root=project.root, stage=stage, group=None, matrix={}, params={}, profile=None,
        run_id="run-1", stage_run_id="stage-run-1", store_url=project.load().store_url,
        upstream_outs={}, report_dir=project.root / ".assay" / "reports" / "run-1" / stage,
    )


def test_plan_lists_data_contract_and_reference_as_deps_and_reports_as_outs(project: TmpProject) -> None:
    write_contract(project.root, "people", {"reference": "data/people.parquet", "distribution": {"age": {}}})
    plan = KIND.plan(ValidateOptions(contract="people"), _plan_ctx(project.root))
    assert plan.deps == ["data/people.parquet", "contracts/people.yaml", "data/people.parquet"]
    assert plan.outs == ["reports/validate/validate/report.json", "reports/validate/validate/report.html"]
    other = KIND.plan(ValidateOptions(contract="contracts/people.yaml", data="data/other.parquet"),
                      _plan_ctx(project.root, "check@batch=1"))
    assert other.deps[0] == "data/other.parquet"
    assert other.outs[0] == "reports/validate/check_batch_1/report.json"


def test_run_passes_and_writes_reports(project: TmpProject, capsys: pytest.CaptureFixture[str]) -> None:
    assert KIND.run(ValidateOptions(contract="people"), _run_ctx(project)) == 0
    report = json.loads((project.root / "reports/validate/validate/report.json").read_text())
    assert report["passed"] is True
    assert (project.root / "reports/validate/validate/report.html").is_file()
    assert "passed" in capsys.readouterr().out


def test_run_fails_with_the_report_path(project: TmpProject) -> None:
    people().with_columns(pl.lit("paris").alias("city")).write_parquet(project.root / "data" / "bad.parquet")
    options = ValidateOptions(contract="people", data="data/bad.parquet")
    with pytest.raises(ValidationFailed, match=re.escape(
            "contract 'people' (1 errors) failed; report: reports/validate/validate/report.html")):
        KIND.run(options, _run_ctx(project))


def test_options_reject_typos() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="contrct"):
        ValidateOptions.model_validate({"contrct": "people"})


def test_kind_is_registered_as_an_entry_point() -> None:
    from importlib.metadata import entry_points

    found = [ep for ep in entry_points(group="assay.stage_kinds") if ep.name == "validate"]
    assert found and found[0].load() is KIND


def test_plots_false_writes_the_html_report_without_plots(project: TmpProject) -> None:
    write_contract(project.root, "people", {"reference": "data/people.parquet",
                                            "distribution": {"age": {}}})
    for plots in (True, False):
        assert KIND.run(ValidateOptions(contract="people", plots=plots), _run_ctx(project)) == 0
        html = (project.root / "reports/validate/validate/report.html").read_text()
        assert ("data:image/png;base64," in html) is plots
        assert ("Plots left out" in html) is not plots
