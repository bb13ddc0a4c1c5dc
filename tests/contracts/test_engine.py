"""The engine: every check type passes on good data and fails on bad data, in one query."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from assay.contracts import ContractReport, load_contract, run_contract, source_for
from assay.errors import ContractError, UsageError
from tests.contracts.conftest import people, write_contract


def run(tmp_path: Path, frame: pl.DataFrame, body: dict[str, Any], *, name: str = "data.parquet",
        reference: pl.DataFrame | None = None, **kwargs: Any) -> ContractReport:
    path = tmp_path / name
    if name.endswith(".parquet"):
        frame.write_parquet(path)
    elif name.endswith(".csv"):
        frame.write_csv(path)
    elif name.endswith(".ndjson"):
        frame.write_ndjson(path)
    else:
        frame.write_ipc(path)
    ref = None
    if reference is not None:
        reference.write_parquet(tmp_path / "ref.parquet")
        ref = source_for("ref.parquet", tmp_path)
    contract = load_contract(write_contract(tmp_path, "c", body))
    return run_contract(contract, source_for(name, tmp_path), reference=ref, **kwargs)


def by_id(report: ContractReport) -> dict[str, Any]:
    return {c.id: c for c in report.checks}


GOOD_AND_BAD = [
    ("dtype", {"id": {"dtype": "int64"}}, {"id": {"dtype": "str"}}),
    ("dtype-family", {"score": {"dtype": "float"}}, {"score": {"dtype": "integer"}}),
    ("nullable", {"id": {"nullable": False}}, {"score": {"nullable": False}}),
    ("null-fraction", {"score": {"max_null_fraction": 0.06}}, {"score": {"max_null_fraction": 0.01}}),
    ("unique", {"id": {"unique": True}}, {"city": {"unique": True}}),
    ("min", {"age": {"min": 20}}, {"age": {"min": {"value": 20, "inclusive": False}}}),
    ("max", {"age": {"max": 69}}, {"age": {"max": 60}}),
    ("max-exclusive", {"age": {"max": {"value": 70, "inclusive": False}}},
     {"age": {"max": {"value": 69, "inclusive": False}}}),
    ("min-date", {"start": {"min": "2026-01-01T00:00:00"}}, {"start": {"min": "2026-02-01"}}),
    ("allowed", {"city": {"allowed": ["oslo", "rome", "lima"]}}, {"city": {"allowed": ["oslo"]}}),
    ("regex", {"email": {"regex": "^user[0-9]+@example\\.com$"}}, {"email": {"regex": "^admin"}}),
    ("length", {"city": {"length": {"min": 4, "max": 4}}}, {"email": {"length": {"max": 10}}}),
    ("monotonic", {"id": {"monotonic": "strictly_increasing"}}, {"age": {"monotonic": "increasing"}}),
    ("monotonic-time", {"start": {"monotonic": "increasing"}}, {"start": {"monotonic": "decreasing"}}),
]


@pytest.mark.parametrize(("good", "bad"), [(g, b) for _, g, b in GOOD_AND_BAD],
                         ids=[i for i, _, _ in GOOD_AND_BAD])
def test_column_check_passes_on_good_data_and_fails_on_bad(
    tmp_path: Path, good: dict[str, Any], bad: dict[str, Any]
) -> None:
    passed = run(tmp_path, people(), {"columns": good, "extra_columns": "allow"})
    assert passed.passed, [c.message for c in passed.checks if c.failed]
    failed = run(tmp_path, people(), {"columns": bad, "extra_columns": "allow"})
    assert not failed.passed
    assert failed.errors == 1


TABLE = [
    ("row-count", {"row_count": {"min": 10, "max": 200}}, {"row_count": {"min": 201}}),
    ("compound-unique", {"unique": ["id", "city"]}, {"unique": ["city", "age"]}),
    ("polars-expr", {"expr": "pl.col('end') > pl.col('start')"}, {"expr": "pl.col('age') < 30"}),
    ("sql", {"sql": "age >= 20 AND city <> 'paris'"}, {"sql": "age < 30"}),
    ("compare", {"compare": "end >= start"}, {"compare": "start > end"}),
    ("freshness", {"freshness": {"column": "end", "max_age": "2d", "now": "2026-07-20T00:00:00"}},
     {"freshness": {"column": "end", "max_age": "2d", "now": "2026-08-20T00:00:00"}}),
]


@pytest.mark.parametrize(("good", "bad"), [(g, b) for _, g, b in TABLE], ids=[i for i, _, _ in TABLE])
def test_table_check_passes_on_good_data_and_fails_on_bad(
    tmp_path: Path, good: dict[str, Any], bad: dict[str, Any]
) -> None:
    assert run(tmp_path, people(), {"checks": [good]}).passed
    failed = run(tmp_path, people(), {"checks": [bad]})
    assert failed.errors == 1, [c.message for c in failed.checks]


def test_failing_rows_are_counted_with_fraction_and_samples(tmp_path: Path) -> None:
    report = run(tmp_path, people(), {"columns": {"age": {"max": 59}}}, sample_rows=3)
    check = by_id(report)["columns.age.max"]
    assert (check.failing_rows, check.failing_fraction) == (40, 0.2)
    assert check.observed == 69
    assert len(check.samples) == 3 and all(row["age"] > 59 for row in check.samples)
    assert check.owner is None and check.severity == "error"


def test_where_filter_limits_the_rows_checked(tmp_path: Path) -> None:
    body = {"columns": {"age": {"max": {"value": 30, "where": "city = 'oslo' AND age < 40"}}}}
    check = by_id(run(tmp_path, people(), body))["columns.age.max"]
    assert check.status == "fail"
    assert check.failing_rows == sum(1 for i in range(200) if i % 3 == 0 and 30 < 20 + i % 50 < 40)


def test_warn_severity_reports_without_failing_and_owner_defaults(tmp_path: Path) -> None:
    body = {"owner": "team@example.com", "extra_columns": "allow",
            "columns": {"age": {"max": {"value": 30, "severity": "warn", "owner": "ana@x.org"},
                                "min": 0}}}
    report = run(tmp_path, people(), body)
    checks = by_id(report)
    assert report.passed and report.warnings == 1
    assert checks["columns.age.max"].owner == "ana@x.org"
    assert checks["columns.age.min"].owner == "team@example.com"


def test_file_freshness_uses_the_files_age(tmp_path: Path) -> None:
    fresh = {"checks": [{"freshness": {"file": True, "max_age": "1h"}}]}
    assert run(tmp_path, people(), fresh).passed
    old = {"checks": [{"freshness": {"file": True, "max_age": "1h", "now": "2100-01-01T00:00:00"}}]}
    assert "old" in run(tmp_path, people(), old).checks[0].message


@pytest.mark.parametrize("name", ["d.parquet", "d.csv", "d.ndjson", "d.arrow"])
def test_every_format_is_read(tmp_path: Path, name: str) -> None:
    body = {"columns": {"id": {"unique": True, "min": 1}, "city": {"allowed": ["oslo", "rome", "lima"]}},
            "checks": [{"row_count": {"min": 200, "max": 200}}]}
    report = run(tmp_path, people(), body, name=name)
    assert report.passed and report.rows == 200


def test_remote_data_through_fsspec(tmp_path: Path) -> None:
    import fsspec

    fs = fsspec.filesystem("memory")
    with fs.open("/bench/people.parquet", "wb") as handle:
        people().write_parquet(handle)
    contract = load_contract(write_contract(tmp_path, "c", {"columns": {"id": {"unique": True}}}))
    report = run_contract(contract, source_for("memory://bench/people.parquet", tmp_path))
    assert report.passed and report.rows == 200 and report.engine == "streaming"


def test_streaming_engine_is_used_above_the_size_threshold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = pl.concat([people(5000)] * 4)
    assert run(tmp_path, frame, {"checks": [{"row_count": {"min": 1}}]}).engine == "in-memory"
    monkeypatch.setenv("ASSAY_STREAMING_BYTES", "1000")
    body = {"columns": {"id": {"unique": True}},
            "checks": [{"unique": ["id", "city"], "where": "age < 30"}, {"unique": ["email"]}]}
    report = run(tmp_path, frame, body)
    assert report.engine == "streaming"
    checks = by_id(report)
    # every row holding a repeated key fails; duplicated_keys counts the keys, extra_rows the
    # rows beyond the first of each key
    assert (checks["columns.id.unique"].failing_rows, checks["columns.id.unique"].details) == (
        20000, {"duplicated_keys": 5000, "extra_rows": 15000})
    # 1,000 rows with age < 30, 4 copies each
    assert (checks["checks[0].unique"].failing_rows, checks["checks[0].unique"].details) == (
        4000, {"duplicated_keys": 1000, "extra_rows": 3000})
    assert checks["checks[1].unique"].failing_rows == 20000
    in_memory = run(tmp_path, frame, body, streaming=False)
    assert [(c.id, c.failing_rows, c.details) for c in in_memory.checks] == [
        (c.id, c.failing_rows, c.details) for c in report.checks]


def test_a_folder_of_files_is_one_dataset(tmp_path: Path) -> None:
    (tmp_path / "parts").mkdir()
    people(100).write_parquet(tmp_path / "parts" / "a.parquet")
    people(100).with_columns(pl.col("id") + 100).write_parquet(tmp_path / "parts" / "b.parquet")
    contract = load_contract(write_contract(tmp_path, "c", {"columns": {"id": {"unique": True}}}))
    report = run_contract(contract, source_for("parts", tmp_path))
    assert report.passed and report.rows == 200 and report.engine == "streaming"


def test_everything_compiles_into_one_query(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    original = pl.LazyFrame.collect

    def counting(self: pl.LazyFrame, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pl.LazyFrame, "collect", counting)
    body = {"columns": {"id": {"unique": True, "min": 1, "max": 500}, "age": {"min": 0},
                        "city": {"allowed": ["oslo", "rome", "lima"], "length": {"max": 4}},
                        "email": {"regex": "@"}, "score": {"max_null_fraction": 0.2}},
            "checks": [{"row_count": {"min": 1}}, {"sql": "age > 0"}, {"compare": "end > start"}]}
    assert run(tmp_path, people(), body).passed
    assert len(calls) == 1


# -- bad input -------------------------------------------------------------------------------

def test_malformed_csv_lines_fail_the_readable_check(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3,4,5,6\n7,8\n")
    contract = load_contract(write_contract(tmp_path, "c", {"columns": {"a": {"min": 0}}}))
    report = run_contract(contract, source_for("bad.csv", tmp_path))
    assert not report.passed
    assert report.checks[0].id == "data.readable"
    assert "cannot read" in report.checks[0].message


def test_mixed_types_in_csv_fail_cleanly(tmp_path: Path) -> None:
    lines = "\n".join(["x"] + [str(i) for i in range(20_000)] + ["oops"])
    (tmp_path / "mixed.csv").write_text(lines + "\n")
    contract = load_contract(write_contract(tmp_path, "c", {"columns": {"x": {"min": 0}}}))
    report = run_contract(contract, source_for("mixed.csv", tmp_path))
    assert report.checks[0].id == "data.readable" and "oops" in report.checks[0].message


def test_wrong_column_type_fails_dtype_and_range_without_crashing(tmp_path: Path) -> None:
    frame = people().with_columns(pl.col("age").cast(pl.String))
    report = run(tmp_path, frame, {"columns": {"age": {"dtype": "int64", "min": 0}}})
    checks = by_id(report)
    assert checks["columns.age.dtype"].message == "column 'age' is string, expected int64"
    assert (checks["columns.age.min"].status, checks["columns.age.min"].message) == (
        "skipped", "skipped: wrong type (column 'age' is string, expected int64)")


def test_empty_file_is_reported_not_crashed(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    contract = load_contract(write_contract(tmp_path, "c", {"columns": {"a": {"min": 0}}}))
    report = run_contract(contract, source_for("empty.csv", tmp_path))
    assert report.checks[0].message.endswith("the file is empty (0 bytes)")


def test_zero_rows_fail_row_count_and_are_insufficient_for_distribution(tmp_path: Path) -> None:
    body = {"columns": {"score": {"max_null_fraction": 0.1}}, "checks": [{"row_count": {"min": 1}}],
            "distribution": {"score": {"statistic": "psi"}, "city": {}}}
    report = run(tmp_path, people().head(0), body, reference=people())
    checks = by_id(report)
    assert checks["checks[0].row_count"].status == "fail"
    assert checks["columns.score.max_null_fraction"].status == "insufficient"
    assert checks["distribution.score.drift"].status == "insufficient"
    assert checks["distribution.city.drift"].status == "insufficient"


def test_missing_and_extra_columns(tmp_path: Path) -> None:
    body = {"extra_columns": "error", "columns": {"id": {"min": 1}, "nope": {"min": 0}}}
    checks = by_id(run(tmp_path, people(), body))
    assert checks["columns.nope.exists"].message == "column 'nope' is missing from the data"
    assert checks["table.extra_columns"].status == "fail"
    assert "age" in checks["table.extra_columns"].message


def test_an_all_null_column(tmp_path: Path) -> None:
    frame = people().with_columns(pl.lit(None, dtype=pl.Float64).alias("score"))
    body = {"columns": {"score": {"max_null_fraction": 0.5, "min": 0}},
            "distribution": {"score": {"mean": {"min": 0}}}}
    checks = by_id(run(tmp_path, frame, body, reference=people()))
    assert checks["columns.score.max_null_fraction"].failing_fraction == 1.0
    assert checks["columns.score.min"].status == "pass"
    assert checks["distribution.score.mean"].status == "insufficient"
    assert checks["distribution.score.drift"].message == "no values to compare"


@pytest.mark.parametrize(("pattern", "reason"), [
    ("(unclosed", "unclosed group"),
    ("[a-", "unclosed character class"),
    ("^(?=user)", "look-around, including look-ahead and look-behind, is not supported"),
], ids=["group", "class", "look-around"])
def test_bad_regex_names_the_check_and_the_reason(tmp_path: Path, pattern: str, reason: str) -> None:
    message = f"columns.email.regex: regex {pattern!r} does not compile: {reason}"
    with pytest.raises(ContractError, match=f"^{re.escape(message)}$"):
        run(tmp_path, people(), {"columns": {"email": {"regex": pattern}}})


def test_bad_sql_and_bad_expression_name_the_check(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match=r"checks\[0\]\.sql: SQL"):
        run(tmp_path, people(), {"checks": [{"sql": "age >>>= 3 AND"}]})
    with pytest.raises(ContractError, match=r"checks\[0\]\.expr: expression .* is not valid Python"):
        run(tmp_path, people(), {"checks": [{"expr": "pl.col('a') >"}]})
    with pytest.raises(ContractError, match="must give a Polars expression"):
        run(tmp_path, people(), {"checks": [{"expr": "3"}]})


def test_expression_on_a_missing_column_fails_that_check(tmp_path: Path) -> None:
    report = run(tmp_path, people(), {"checks": [{"sql": "nope > 1"}, {"row_count": {"min": 1}}]})
    assert report.checks[0].status == "fail" and "cannot evaluate" in report.checks[0].message
    assert report.checks[1].status == "pass"


def test_missing_data_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"data nope\.parquet does not exist"):
        source_for("nope.parquet", tmp_path)
    with pytest.raises(UsageError, match="cannot tell the data format"):
        (tmp_path / "x.xlsx").write_text("")
        source_for("x.xlsx", tmp_path)


def test_paths_outside_the_project_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"escapes|outside|\.\."):
        source_for("../elsewhere.parquet", tmp_path)


def test_freshness_on_timezone_aware_column(tmp_path: Path) -> None:
    frame = people().with_columns(pl.col("end").dt.replace_time_zone("UTC"))
    body = {"checks": [{"freshness": {"column": "end", "max_age": "1d"}}]}
    report = run(tmp_path, frame, body, now=datetime(2026, 7, 20, 12, tzinfo=timezone.utc))
    assert report.passed, report.checks[0].message


# -- one bad check does not sink the others ----------------------------------------------------

def test_a_check_with_a_type_error_is_a_contract_error_naming_it(tmp_path: Path) -> None:
    body = {"columns": {"id": {"min": 1}},
            "checks": [{"sql": "city > 5"}, {"row_count": {"min": 1}},
                       {"name": "young", "expr": "pl.col('age') < 'x'"}]}
    with pytest.raises(ContractError, match=(
            r"Contract 'c': 2 check\(s\) cannot run on this data's column types: "
            r"checks\[0\]\.sql \(city > 5\): cannot compare string with numeric type \(i32\); "
            r"checks\.young \(pl\.col\('age'\) < 'x'\): cannot compare string with numeric")) as info:
        run(tmp_path, people(), body)
    assert info.value.checks == ["checks[0].sql", "checks.young"]  # type: ignore[attr-defined]


def test_a_type_error_in_a_where_filter_names_its_check(tmp_path: Path) -> None:
    body = {"columns": {"age": {"max": {"value": 60, "where": "city > 5"}}}}
    with pytest.raises(ContractError, match=r"columns\.age\.max \(<= 60\): cannot compare string"):
        run(tmp_path, people(), body)


def test_a_check_failing_on_the_values_fails_alone_and_the_rest_still_run(tmp_path: Path) -> None:
    body = {"columns": {"age": {"max": 59}},
            "checks": [{"expr": "pl.col('email').str.to_integer() > 0"}, {"row_count": {"min": 1}}]}
    checks = by_id(run(tmp_path, people(), body))
    assert checks["checks[0].expr"].status == "fail"
    assert checks["checks[0].expr"].message.startswith(
        "cannot evaluate on this data: strict integer parsing failed for 200 value(s)")
    assert (checks["columns.age.max"].status, checks["columns.age.max"].failing_rows) == ("fail", 40)
    assert checks["checks[1].row_count"].status == "pass"


def test_unreadable_data_is_still_reported_unreadable_next_to_valid_checks(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3,4,5,6\n7,8\n")
    body = {"columns": {"a": {"min": 0}}, "checks": [{"sql": "a >= 0"}]}
    report = run_contract(load_contract(write_contract(tmp_path, "c", body)),
                          source_for("bad.csv", tmp_path))
    assert [c.id for c in report.checks] == ["data.readable"]
    assert report.checks[0].message.startswith(f"cannot read {tmp_path / 'bad.csv'}: ")


# -- ISO-8601 text in CSV and NDJSON -------------------------------------------------------------

TIMES = {"columns": {"start": {"dtype": "datetime", "min": "2026-01-01T00:00:00"},
                     "day": {"dtype": "date", "max": "2026-12-31"}},
         "checks": [{"freshness": {"column": "start", "max_age": "1d",
                                   "now": "2026-07-20T00:00:00"}}]}


@pytest.mark.parametrize("name", ["t.ndjson", "t.csv"])
def test_declared_times_in_text_formats_are_parsed(tmp_path: Path, name: str) -> None:
    frame = people().select("id", "start", pl.col("start").dt.date().alias("day"))
    report = run(tmp_path, frame, TIMES, name=name)
    assert report.passed, [c.message for c in report.checks if c.failed]
    checks = by_id(report)
    assert checks["columns.start.min"].observed == datetime(2026, 1, 1)
    assert checks["checks[0].freshness"].observed == "2026-07-19T00:00:00+00:00"


def test_ndjson_times_with_offsets_become_utc(tmp_path: Path) -> None:
    lines = ['{"start": "2026-07-19T02:00:00+02:00", "day": "2026-07-19"}',
             '{"start": "2026-07-18T00:00:00Z", "day": "2026-07-18"}']
    (tmp_path / "z.ndjson").write_text("\n".join(lines) + "\n")
    contract = load_contract(write_contract(tmp_path, "c", TIMES))
    report = run_contract(contract, source_for("z.ndjson", tmp_path))
    assert report.passed, [c.message for c in report.checks if c.failed]
    assert by_id(report)["checks[0].freshness"].observed == "2026-07-19T00:00:00+00:00"


@pytest.mark.parametrize("name", ["bad.ndjson", "bad.csv"])
def test_text_that_is_not_a_time_fails_the_dtype_check_with_samples(tmp_path: Path, name: str) -> None:
    frame = people(20).select(
        "id", pl.when(pl.col("id") % 5 == 0).then(pl.lit("soon"))
        .otherwise(pl.col("start").dt.to_string("%Y-%m-%dT%H:%M:%S")).alias("start"),
        pl.col("start").dt.date().alias("day"))
    report = run(tmp_path, frame, TIMES, name=name)
    check = by_id(report)["columns.start.dtype"]
    assert (check.status, check.failing_rows) == ("fail", 4)
    assert check.message == "4 of 20 values of 'start' are not ISO-8601 date/times"
    assert [(row["id"], row["start"]) for row in check.samples] == [
        (5, "soon"), (10, "soon"), (15, "soon"), (20, "soon")]
    assert set(check.samples[0]) == {"id", "start", "day"}  # no hidden columns
    assert report.columns == ["id", "start", "day"]
    assert by_id(report)["columns.start.min"].status == "pass"


def test_exclusive_max_counts_rows_equal_to_the_bound(tmp_path: Path) -> None:
    body = {"columns": {"age": {"max": {"value": 69, "inclusive": False}}}}
    check = by_id(run(tmp_path, people(), body))["columns.age.max"]
    assert (check.expected, check.failing_rows, check.observed) == ("< 69", 4, 69)


def test_freshness_against_the_real_current_time(tmp_path: Path) -> None:
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    frame = pl.DataFrame({"seen": [now - timedelta(hours=5), now - timedelta(hours=1)]})
    fresh = run(tmp_path, frame, {"checks": [{"freshness": {"column": "seen", "max_age": "2h"}}]})
    check = fresh.checks[0]
    assert check.status == "pass"
    assert 3000 < check.details["age_s"] < 3900  # an hour old, measured against now
    stale = run(tmp_path, frame, {"checks": [{"freshness": {"column": "seen", "max_age": "30m"}}]})
    assert stale.checks[0].status == "fail"
    assert stale.checks[0].message == "newest seen is 60m old, older than 30m"


def test_file_freshness_of_remote_data(tmp_path: Path) -> None:
    import fsspec

    fs = fsspec.filesystem("memory")
    with fs.open("/fresh/people.parquet", "wb") as handle:
        people().write_parquet(handle)
    source = source_for("memory://fresh/people.parquet", tmp_path)
    recent = load_contract(write_contract(tmp_path, "c", {
        "checks": [{"freshness": {"file": True, "max_age": "1h"}}]}))
    check = run_contract(recent, source).checks[0]
    assert check.status == "pass" and check.details["age_s"] < 600
    later = load_contract(write_contract(tmp_path, "c", {
        "checks": [{"freshness": {"file": True, "max_age": "1h", "now": "2100-01-01T00:00:00"}}]}))
    check = run_contract(later, source).checks[0]
    assert check.status == "fail" and check.message.startswith("file is ")
    assert check.message.endswith("d old, older than 1h")
