"""Data whose column types changed, and data without values, give per-check statuses, never an
aborted contract: a wrong type fails the ``dtype`` check and skips what needs the type; no rows
or all nulls say so ("no rows", "all values are null"); the CLI and the validate stage exit 1.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from assay.contracts import ContractReport, load_contract, run_contract, source_for
from tests.conftest import TmpProject
from tests.contracts.conftest import write_contract

N = 40

GOOD = pl.DataFrame({
    "n": list(range(1, N + 1)),
    "x": [i / 4 for i in range(N)],
    "s": [["a", "b", "c"][i % 3] for i in range(N)],
    "d": [date(2026, 1, 1) + timedelta(days=i) for i in range(N)],
})

CONTRACT: dict[str, Any] = {
    "reference": "ref.parquet",
    "columns": {
        "n": {"dtype": "int64", "nullable": False, "unique": True, "min": 1, "max": 1000,
              "allowed": list(range(1, N + 1)), "monotonic": "increasing"},
        "x": {"dtype": "float64", "min": 0, "max": 100, "max_null_fraction": 0.5},
        "s": {"dtype": "string", "allowed": ["a", "b", "c"], "length": {"max": 1}},
        "d": {"dtype": "date", "min": "2025-01-01", "monotonic": "increasing"},
    },
    "checks": [
        {"row_count": {"min": 1}},
        {"sql": "n > 0"},
        {"expr": "pl.col('x') >= 0"},
        {"compare": "n >= x"},
        {"freshness": {"column": "d", "max_age": "100000d"}},
    ],
    "distribution": {"n": {"mean": {"min": 0}, "quantiles": {0.5: {"min": 0}}},
                     "x": {"threshold": 0.5}, "s": {"category_share": {"a": {"max": 0.9}}},
                     "d": {}},
}

# the checks each column's wrong type takes out (they need the declared type)
NEEDS_TYPE = {
    "n": ["columns.n.min", "columns.n.max", "columns.n.allowed", "columns.n.monotonic",
          "checks[1].sql", "checks[3].compare", "distribution.n.mean",
          "distribution.n.quantile_0.5", "distribution.n.drift"],
    "x": ["columns.x.min", "columns.x.max", "checks[2].expr", "checks[3].compare",
          "distribution.x.drift"],
    "s": ["columns.s.allowed", "distribution.s.drift", "distribution.s.share[a]",
          "distribution.s.new_categories"],
    "d": ["columns.d.min", "columns.d.monotonic", "checks[4].freshness", "distribution.d.drift",
          "distribution.d.new_categories"],
}

CHANGES = {
    "int to str": ("n", [f"#{i}" for i in range(N)], "string", "int64"),
    "float to str": ("x", [f"{i}.5kg" for i in range(N)], "string", "float64"),
    "str to int": ("s", list(range(N)), "int64", "string"),
    "int to bool": ("n", [i % 2 == 0 for i in range(N)], "boolean", "int64"),
    "date to str": ("d", [f"day {i}" for i in range(N)], "string", "date"),
}


def _write(frame: pl.DataFrame, path: Path) -> None:
    if path.suffix == ".csv":
        frame.write_csv(path)
    else:
        frame.write_parquet(path)


def _validate(tmp_path: Path, frame: pl.DataFrame, fmt: str,
              body: dict[str, Any] | None = None) -> ContractReport:
    GOOD.write_parquet(tmp_path / "ref.parquet")
    _write(frame, tmp_path / f"data.{fmt}")
    contract = load_contract(write_contract(tmp_path, "c", body or CONTRACT))
    return run_contract(contract, source_for(f"data.{fmt}", tmp_path),
                        reference=source_for("ref.parquet", tmp_path))


def _statuses(report: ContractReport) -> dict[str, tuple[str, str]]:
    return {c.id: (c.status, c.message) for c in report.checks}


def test_the_contract_passes_on_good_data(tmp_path: Path) -> None:
    for fmt in ("csv", "parquet"):
        report = _validate(tmp_path, GOOD, fmt)
        assert report.passed and report.skipped == 0, _statuses(report)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("change", list(CHANGES), ids=list(CHANGES))
def test_a_changed_type_fails_dtype_and_skips_what_needs_the_type(
        tmp_path: Path, change: str, fmt: str) -> None:
    column, values, got, want = CHANGES[change]
    report = _validate(tmp_path, GOOD.with_columns(pl.Series(column, values)), fmt)
    statuses = _statuses(report)

    dtype_check = statuses[f"columns.{column}.dtype"]
    if change == "date to str" and fmt == "csv":  # CSV text declared a date: every value fails
        assert dtype_check == ("fail", f"{N} of {N} values of 'd' are not ISO-8601 dates")
    else:
        reason = f"column '{column}' is {got}, expected {want}"
        assert dtype_check == ("fail", reason)
        skipped = {i: s for i, s in statuses.items() if s[0] == "skipped"}
        # column and distribution checks need the type; a table check is skipped only if it
        # cannot run on the new type (a bool compares with numbers: evaluated)
        assert set(skipped.values()) == {("skipped", f"skipped: wrong type ({reason})")}
        assert set(skipped) <= set(NEEDS_TYPE[column])
        assert {i for i in NEEDS_TYPE[column] if not i.startswith("checks[")} <= set(skipped)
    assert not report.passed
    others = {i: s for i, s in statuses.items() if not i.startswith(f"columns.{column}.")
              and i not in NEEDS_TYPE[column] and not i.startswith(f"distribution.{column}.")}
    assert all(status in ("pass", "insufficient") for status, _ in others.values()), others


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("column", list(NEEDS_TYPE))
def test_an_all_null_column_is_untyped_not_wrong(tmp_path: Path, column: str, fmt: str) -> None:
    frame = GOOD.with_columns(pl.lit(None).alias(column))  # Null dtype; empty cells in CSV
    statuses = _statuses(_validate(tmp_path, frame, fmt))
    assert [i for i, s in statuses.items() if s[0] == "skipped"] == []
    if column == "s" and fmt == "csv":  # CSV cells are text: a text column, without values
        assert statuses["columns.s.dtype"] == ("pass", "")
        assert statuses["distribution.s.share[a]"] == ("insufficient", "no values")
        return
    assert statuses[f"columns.{column}.dtype"] == (
        "insufficient", "all values are null: the type cannot be checked")
    for check, (status, message) in statuses.items():
        if check.startswith(f"distribution.{column}."):
            assert (status, message) == ("insufficient", "all values are null"), check
    if column == "n":
        assert statuses["columns.n.nullable"] == ("fail", f"{N} of {N} rows fail (100.00%)")
    if column == "x":
        assert statuses["columns.x.max_null_fraction"][0] == "fail"


def test_an_all_null_column_without_a_declared_type_says_so(tmp_path: Path) -> None:
    body = {"reference": "ref.parquet", "columns": {"x": {"min": 0, "allowed": [1, 2]}},
            "checks": [{"sql": "x > 0"}], "distribution": {"x": {"mean": {"min": 0}}}}
    nothing = ("insufficient", "all values are null")
    # Parquet: a Null column, known before the query (its value checks have nothing to check,
    # a comparison in SQL runs over nulls); CSV: empty text cells, found when a check cannot
    # run on text (an allowed-values check can, and passes: no value is outside)
    expected = {
        "parquet": {"columns.x.allowed": nothing, "checks[0].sql": ("pass", "")},
        "csv": {"columns.x.allowed": ("pass", ""), "checks[0].sql": nothing},
    }
    for fmt, differ in expected.items():
        statuses = _statuses(_validate(tmp_path, GOOD.with_columns(pl.lit(None).alias("x")),
                                       fmt, body))
        assert {check: statuses[check] for check in differ} == differ
        for check in ("columns.x.min", "distribution.x.mean", "distribution.x.drift"):
            assert statuses[check] == nothing, (fmt, check)


def test_a_header_only_csv_reports_every_check(tmp_path: Path) -> None:
    body = {**CONTRACT, "columns": {**CONTRACT["columns"], "free": {"min": 0, "regex": "^a"}},
            "checks": [*CONTRACT["checks"], {"expr": "pl.col('free') > 0"}]}
    (tmp_path / "data.csv").write_text("n,x,s,d,free\n")
    GOOD.write_parquet(tmp_path / "ref.parquet")
    contract = load_contract(write_contract(tmp_path, "c", body))
    report = run_contract(contract, source_for("data.csv", tmp_path),
                          reference=source_for("ref.parquet", tmp_path))
    statuses = _statuses(report)
    assert report.rows == 0 and not report.passed and report.errors == 1
    assert statuses["checks[0].row_count"] == ("fail", "0 rows, expected >= 1")
    for name in ("n", "x", "s", "d"):
        assert statuses[f"columns.{name}.dtype"] == (
            "insufficient", "no rows: the type cannot be checked")
    assert statuses["columns.free.min"] == ("insufficient", "no rows")
    assert statuses["columns.free.regex"] == ("insufficient", "no rows")
    assert statuses["columns.x.max_null_fraction"] == ("insufficient", "no rows")
    for check in ("columns.n.min", "columns.n.allowed", "columns.n.unique", "columns.n.nullable",
                  "columns.s.length", "checks[1].sql", "checks[2].expr", "checks[3].compare"):
        assert statuses[check] == ("pass", ""), check  # nothing to fail on
    assert statuses["checks[5].expr"] == ("insufficient", "no rows")
    assert statuses["checks[4].freshness"] == ("insufficient", "column 'd' has no values")
    distribution = {i: s for i, s in statuses.items() if i.startswith("distribution.")}
    assert distribution and set(distribution.values()) == {("insufficient", "no rows")}


@pytest.mark.parametrize(("content", "reason"), [
    (b"", "the file is empty (0 bytes)"),
    (b"\n", "empty CSV"),
    (b"\xef\xbb\xbf", "empty CSV"),
    (b"\xef\xbb\xbf\n", "empty CSV"),
    (b"\r\n\r\n", "empty CSV"),
], ids=["0 bytes", "newline", "bom", "bom newline", "blank lines"])
def test_an_empty_file_fails_as_unreadable_with_one_line(tmp_project: TmpProject, content: bytes,
                                                         reason: str) -> None:
    tmp_project.gen({"data.csv": content, "contracts/c.yaml": {"columns": {"n": {"min": 0}}}})
    result = tmp_project.invoke("validate", "data.csv", "--contract", "contracts/c.yaml",
                                "--json")
    assert result.code == 1, result.output
    report = json.loads(result.stdout)
    assert [(c["id"], c["status"]) for c in report["checks"]] == [("data.readable", "fail")]
    assert report["checks"][0]["message"].endswith(reason)
    assert result.stderr == "error: contract 'c' (1 errors) failed\n"


# -- through the CLI and the validate stage -------------------------------------------------


def _project(tmp_project: TmpProject, frame_or_text: pl.DataFrame | str, fmt: str) -> TmpProject:
    data = tmp_project.root / "data" / f"d.{fmt}"
    data.parent.mkdir()
    if isinstance(frame_or_text, str):
        data.write_text(frame_or_text)
    else:
        _write(frame_or_text, data)
    GOOD.write_parquet(tmp_project.root / "ref.parquet")
    tmp_project.config(datasets={"d": f"data/d.{fmt}"},
                       contracts={"c": {"path": "contracts/c.yaml", "data": "d"}},
                       stages={"check": {"kind": "validate", "contract": "c"}})
    write_contract(tmp_project.root, "c", CONTRACT)
    return tmp_project


CLI_CASES = {
    "int to str csv": (GOOD.with_columns(pl.Series("n", [f"#{i}" for i in range(N)])), "csv"),
    "str to int parquet": (GOOD.with_columns(pl.Series("s", list(range(N)))), "parquet"),
    "all null parquet": (GOOD.with_columns(pl.lit(None).alias("x")), "parquet"),
    "header only csv": ("n,x,s,d\n", "csv"),
}


@pytest.mark.parametrize("case", list(CLI_CASES), ids=list(CLI_CASES))
def test_validate_exits_1_with_per_check_results(tmp_project: TmpProject, case: str) -> None:
    project = _project(tmp_project, *CLI_CASES[case])
    result = project.invoke("validate", "--json")
    assert result.code == 1, result.output
    report = json.loads(result.stdout)
    assert report["errors"] >= 1 and {c["status"] for c in report["checks"]} <= {
        "pass", "fail", "insufficient", "skipped"}
    assert result.stderr.startswith("error: contract 'c' (") and result.stderr.count("\n") == 1


@pytest.mark.slow
@pytest.mark.parametrize("case", ["int to str csv", "header only csv"])
def test_the_validate_stage_fails_with_the_report_not_a_crash(tmp_project: TmpProject,
                                                               case: str) -> None:
    project = _project(tmp_project, *CLI_CASES[case])
    done = project.run("run")
    assert done.returncode == 1, done.stderr
    report = json.loads((project.root / "reports/validate/check/report.json").read_text())
    assert report["passed"] is False and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "error: stage 'check' failed: exited with code 1: contract 'c' (1 errors) failed; report: "
        "reports/validate/check/report.html")
    failed = [c["id"] for c in report["checks"] if c["status"] == "fail"]
    assert failed == (["columns.n.dtype"] if case == "int to str csv"
                      else ["checks[0].row_count"])
