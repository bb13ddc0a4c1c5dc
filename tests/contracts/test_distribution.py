"""Distribution checks against a reference profile, and the reports that show them."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from assay.contracts import to_html, to_json, to_junit, to_markdown
from assay.errors import ContractError
from tests.contracts.test_engine import by_id, run


def sample(rows: int, *, shift: float = 0.0, seed: int = 0, cities: list[str] | None = None) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    names = cities or ["oslo", "rome", "lima"]
    return pl.DataFrame({
        "x": rng.normal(50 + shift, 10, rows),
        "n": rng.integers(0, 5, rows),
        "city": [names[i] for i in rng.integers(0, len(names), rows)],
    })


BODY = {"distribution": {
    "x": {"mean": {"min": 45, "max": 55}, "std": {"max": 12}, "quantiles": {0.5: {"min": 45, "max": 55}}},
    "n": {"statistic": "chi2"},
    "city": {"category_share": {"oslo": {"max": 0.5}}},
}}


def test_same_distribution_passes_every_statistic(tmp_path: Path) -> None:
    for statistic in ("psi", "ks", "js", "wasserstein"):
        body = {"distribution": {**BODY["distribution"], "x": {"statistic": statistic}}}
        report = run(tmp_path, sample(5000, seed=1), body, reference=sample(5000, seed=2))
        assert report.passed, [c.message for c in report.checks if c.failed]


def test_shifted_numbers_and_new_categories_fail(tmp_path: Path) -> None:
    current = sample(5000, shift=15, seed=1, cities=["oslo", "rome", "lima", "paris"])
    checks = by_id(run(tmp_path, current, BODY, reference=sample(5000, seed=2)))
    assert checks["distribution.x.drift"].status == "fail"
    assert "psi" in checks["distribution.x.drift"].message
    assert checks["distribution.x.mean"].status == "fail"
    assert checks["distribution.x.quantile_0.5"].status == "fail"
    assert checks["distribution.x.std"].status == "pass"
    assert checks["distribution.city.new_categories"].observed == ["paris"]
    assert checks["distribution.city.new_categories"].samples[0]["city"] == "paris"
    assert checks["distribution.city.share[oslo]"].status == "pass"
    assert checks["distribution.n.drift"].status == "pass"


def test_constant_reference_is_insufficient_not_drift(tmp_path: Path) -> None:
    reference = sample(100).with_columns(pl.lit(3.0).alias("x"))
    check = by_id(run(tmp_path, sample(100), {"distribution": {"x": {}}}, reference=reference))[
        "distribution.x.drift"]
    assert (check.status, check.message) == ("insufficient", "reference column is constant")


def test_drift_without_reference_is_insufficient(tmp_path: Path) -> None:
    check = by_id(run(tmp_path, sample(100), {"distribution": {"x": {"statistic": "psi"}}}))[
        "distribution.x.drift"]
    assert check.status == "insufficient" and "no reference" in check.message


def test_unreadable_reference_is_a_contract_error(tmp_path: Path) -> None:
    (tmp_path / "ref.csv").write_text("")
    from assay.contracts import load_contract, run_contract, source_for
    from tests.contracts.conftest import write_contract

    sample(10).write_parquet(tmp_path / "d.parquet")
    contract = load_contract(write_contract(tmp_path, "c", {"distribution": {"x": {}}}))
    with pytest.raises(ContractError, match=r"reference .*ref\.csv: the file is empty"):
        run_contract(contract, source_for("d.parquet", tmp_path), reference=source_for("ref.csv", tmp_path))


def test_reports_in_every_format(tmp_path: Path) -> None:
    current = sample(2000, shift=15, seed=1, cities=["oslo", "rome", "lima", "paris"])
    report = run(tmp_path, current, {**BODY, "columns": {"n": {"max": {"value": 3, "severity": "warn"}}}},
                 reference=sample(2000, seed=2))
    data = json.loads(to_json(report))
    assert data["passed"] is False and data["errors"] == report.errors and len(data["checks"]) == len(report.checks)
    page = to_html(report)
    assert page.count("data:image/png;base64,") == 3  # x, n and city drift plots
    assert "http://" not in page and "https://" not in page  # self-contained
    markdown = to_markdown(report)
    assert "| :x: | `distribution.x.drift` |" in markdown
    suite = ET.fromstring(to_junit(report)).find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert len(cases) == len(report.checks)
    assert int(suite.get("failures", "0")) == report.errors == sum(
        1 for c in cases if c.find("failure") is not None)
    warned = next(c for c in cases if c.get("name") == "columns.n.max")
    assert warned.find("failure") is None and "WARNING" in (warned.findtext("system-out") or "")
