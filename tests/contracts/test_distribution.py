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
    # 5,000 values: the default is an effect size (wasserstein) on top of the KS test
    assert checks["distribution.x.drift"].message.startswith("wasserstein ")
    assert "ks p=" in checks["distribution.x.drift"].message
    assert checks["distribution.city.new_categories"].status == "fail"
    assert checks["distribution.x.mean"].status == "fail"
    assert checks["distribution.x.quantile_0.5"].status == "fail"
    assert checks["distribution.x.std"].status == "pass"
    assert checks["distribution.city.new_categories"].observed == ["paris"]
    assert checks["distribution.city.new_categories"].samples[0]["city"] == "paris"
    assert checks["distribution.city.share[oslo]"].status == "pass"
    assert checks["distribution.n.drift"].status == "pass"


def test_a_constant_reference_column_that_changes_drifts(tmp_path: Path) -> None:
    """A season column always 1 in the reference and always 2 now is drift; the same constant
    is not (compared as three categories: below, equal to, above the reference's value)."""
    reference = sample(500).with_columns(pl.lit(1.0).alias("x"))
    moved = sample(500).with_columns(pl.lit(2.0).alias("x"))
    same = sample(500).with_columns(pl.lit(1.0).alias("x"))
    body = {"distribution": {"x": {}}}
    check = by_id(run(tmp_path, moved, body, reference=reference))["distribution.x.drift"]
    assert check.status == "fail" and check.message.startswith("chi2 ")
    assert check.details["labels"] == ["< 1", "= 1", "> 1"]
    assert check.details["current_counts"] == [0.0, 0.0, 500.0]
    kept = by_id(run(tmp_path, same, body, reference=reference))["distribution.x.drift"]
    assert kept.status == "pass"


def test_rare_categories_a_small_reference_lacks_are_not_alarms(tmp_path: Path) -> None:
    """Two rows of a category a reference of 200 rows happened to lack: chance explains it
    (before the calibration, any unseen value failed the contract)."""
    rng = np.random.default_rng(3)
    names = [f"c{i}" for i in range(30)]
    shares = 1 / np.arange(1, 31)
    shares /= shares.sum()

    def draw(rows: int) -> pl.DataFrame:
        return pl.DataFrame({"city": rng.choice(names, size=rows, p=shares).tolist()})

    reference = draw(200)
    missing = sorted(set(names) - set(reference["city"].to_list()))
    assert missing  # the reference lacks some rare categories
    current = pl.concat([draw(198), pl.DataFrame({"city": [missing[0]] * 2})])
    check = by_id(run(tmp_path, current, {"distribution": {"city": {}}},
                      reference=reference))["distribution.city.new_categories"]
    assert check.status == "pass" and missing[0] in check.observed
    assert "rare values a reference of this size can lack" in check.message


def test_too_few_values_are_insufficient_never_drift(tmp_path: Path) -> None:
    check = by_id(run(tmp_path, sample(20, shift=40), {"distribution": {"x": {}}},
                      reference=sample(500)))["distribution.x.drift"]
    assert check.status == "insufficient" and "fewer than 30" in check.message


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


# -- integer-coded categories, exact reference categories, where --------------------------------

def _coded(rows: int, ones: float, *, seed: int = 0, codes: int = 2) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    flag = (rng.random(rows) < ones).astype(np.int8)
    return pl.DataFrame({"senior": flag, "plan": rng.integers(0, codes, rows)})


@pytest.mark.parametrize("with_reference", [True, False], ids=["reference", "no-reference"])
def test_category_share_of_an_integer_code(tmp_path: Path, with_reference: bool) -> None:
    body = {"distribution": {"senior": {"category_share": {"1": {"min": 0.1, "max": 0.2},
                                                           "0": {"min": 0.9}}}}}
    reference = _coded(5000, 0.16, seed=2) if with_reference else None
    checks = by_id(run(tmp_path, _coded(5000, 0.16, seed=1), body, reference=reference))
    one = checks["distribution.senior.share[1]"]
    assert one.status == "pass" and one.observed == pytest.approx(0.16, abs=0.015)
    zero = checks["distribution.senior.share[0]"]
    assert zero.status == "fail" and zero.message.startswith("share of '0' is 8")


def test_category_share_key_must_be_a_number_on_a_numeric_column(tmp_path: Path) -> None:
    body = {"distribution": {"senior": {"category_share": {"yes": {"max": 0.2}}}}}
    with pytest.raises(ContractError, match=r"distribution\.senior\.share\[yes\]: column 'senior' "
                                            r"holds numbers; a category_share key must be a number"):
        run(tmp_path, _coded(100, 0.2), body)


def test_unseen_integer_codes_are_found_against_the_exact_reference_values(tmp_path: Path) -> None:
    current = _coded(2000, 0.2, seed=1, codes=3).with_columns(
        pl.when(pl.int_range(pl.len()) % 100 == 0).then(7).otherwise(pl.col("plan")).alias("plan"))
    body = {"distribution": {"plan": {"new_categories": True, "drift": False}}}
    check = by_id(run(tmp_path, current, body, reference=_coded(2000, 0.2, seed=2, codes=3)))[
        "distribution.plan.new_categories"]
    assert (check.status, check.observed, check.failing_rows) == ("fail", [7], 20)
    assert check.message == "1 unseen values (7) in 20 rows"
    assert [row["plan"] for row in check.samples] == [7] * 5
    same = by_id(run(tmp_path, _coded(2000, 0.2, seed=1, codes=3), body,
                     reference=_coded(2000, 0.2, seed=2, codes=3)))
    assert same["distribution.plan.new_categories"].status == "pass"


def test_unseen_categories_on_a_float_column_is_a_contract_error(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match=r"distribution\.x\.new_categories: column 'x' is "
                                            r"float64; unseen categories apply to string"):
        run(tmp_path, sample(100), {"distribution": {"x": {"new_categories": True}}},
            reference=sample(100))


def test_rare_reference_categories_are_not_unseen_and_plots_are_capped(tmp_path: Path) -> None:
    # 1,500 categories: the first 1,000 common, the rest seen once in the reference
    common = [f"c{i:04d}" for i in range(1000) for _ in range(3)]
    rare = [f"c{i:04d}" for i in range(1000, 1500)]
    reference = pl.DataFrame({"city": common + rare})
    current = pl.DataFrame({"city": common + rare[::-1]})
    checks = by_id(run(tmp_path, current, {"distribution": {"city": {}}}, reference=reference))
    assert checks["distribution.city.new_categories"].status == "pass"
    drift = checks["distribution.city.drift"]
    assert drift.status == "pass" and drift.observed == pytest.approx(0.0, abs=1e-9)
    assert len(drift.details["labels"]) == 1001 and drift.details["labels"][-1] == "(other)"
    assert drift.details["reference_counts"][-1] == 500.0


def test_reference_reads_only_the_columns_it_needs(tmp_path: Path) -> None:
    # a column no distribution check reads is malformed after 20,000 rows
    lines = ["x,bad"] + [f"{i % 97},{i}" for i in range(20_000)] + ["5,oops"]
    (tmp_path / "ref.csv").write_text("\n".join(lines) + "\n")
    from assay.contracts import load_contract, run_contract, source_for
    from tests.contracts.conftest import write_contract

    pl.DataFrame({"x": [i % 97 for i in range(5000)]}).write_parquet(tmp_path / "d.parquet")
    contract = load_contract(write_contract(tmp_path, "c", {"distribution": {"x": {}}}))
    report = run_contract(contract, source_for("d.parquet", tmp_path),
                          reference=source_for("ref.csv", tmp_path))
    assert report.passed, [c.message for c in report.checks]


def test_where_limits_distribution_checks_to_the_matching_rows(tmp_path: Path) -> None:
    reference = sample(4000, seed=2)
    # rome drifts by +15, the other cities do not
    current = sample(4000, seed=1).with_columns(
        pl.when(pl.col("city") == "rome").then(pl.col("x") + 15).otherwise(pl.col("x")).alias("x"))
    everywhere = {"distribution": {"x": {"mean": {"max": 53}, "statistic": "psi"}}}
    checks = by_id(run(tmp_path, current, everywhere, reference=reference))
    assert checks["distribution.x.mean"].status == "fail"
    assert checks["distribution.x.drift"].status == "fail"
    elsewhere = {"distribution": {"x": {"mean": {"max": 53}, "statistic": "psi",
                                        "where": "city <> 'rome'"}}}
    checks = by_id(run(tmp_path, current, elsewhere, reference=reference))
    assert checks["distribution.x.mean"].status == "pass"
    assert checks["distribution.x.mean"].observed == pytest.approx(50, abs=1)
    assert checks["distribution.x.drift"].status == "pass"
    assert checks["distribution.x.drift"].where == "city <> 'rome'"
