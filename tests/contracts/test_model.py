"""Contract files: parsing errors name the file, line and key, with a suggestion."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from assay.contracts import load_contract, parse_duration
from assay.errors import ConfigError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "contracts" / "people.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_short_and_long_forms_parse_to_the_same_rules(tmp_path: Path) -> None:
    contract = load_contract(_write(tmp_path, (
        "owner: a@b.c\ncolumns:\n  age:\n    min: 0\n"
        "    max: {value: 120, inclusive: false, severity: warn, where: \"city = 'x'\"}\n"
        "  city:\n")))
    assert contract.name == "people"
    age = contract.columns["age"]
    assert age.min is not None and (age.min.value, age.min.inclusive, age.min.severity) == (0, True, "error")
    assert age.max is not None and (age.max.value, age.max.inclusive, age.max.severity) == (120, False, "warn")
    assert contract.columns["city"].dtype is None


def test_typo_in_a_check_names_file_line_and_suggests(tmp_path: Path) -> None:
    path = _write(tmp_path, "columns:\n  id:\n    dtype: int64\n    unqiue: true\n")
    with pytest.raises(ConfigError, match=r"people\.yaml:4: columns\.id\.unqiue: .*did you mean 'unique'"):
        load_contract(path)


def test_unknown_table_check_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "checks:\n  - row_cont: {min: 1}\n")
    with pytest.raises(ConfigError, match=r"people\.yaml:2: checks\.0\.row_cont: .*did you mean 'row_count'"):
        load_contract(path)


def test_table_check_needs_exactly_one_kind(tmp_path: Path) -> None:
    path = _write(tmp_path, "checks:\n  - {sql: 'a > 1', expr: 'pl.col(\"a\") > 1'}\n")
    with pytest.raises(ConfigError, match="exactly one of"):
        load_contract(path)


def test_bad_duration_and_bad_fraction(tmp_path: Path) -> None:
    path = _write(tmp_path, "checks:\n  - freshness: {column: t, max_age: soon}\n")
    with pytest.raises(ConfigError, match="'soon' is not a duration"):
        load_contract(path)
    path = _write(tmp_path, "columns:\n  a: {max_null_fraction: 1.5}\n")
    with pytest.raises(ConfigError, match=r"people\.yaml:2: columns\.a\.max_null_fraction"):
        load_contract(path)


def test_missing_contract_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_contract(tmp_path / "nope.yaml")


@pytest.mark.parametrize(("text", "expected"), [("90m", timedelta(minutes=90)), ("2d", timedelta(days=2)),
                                                ("1.5h", timedelta(minutes=90)), ("1w", timedelta(days=7))])
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(("text", "match"), [
    ("columns:\n  a: {min: abc}\n", r"people\.yaml:2: columns\.a\.min.*'abc' is neither a number "
                                     r"nor an ISO date/time"),
    ("columns:\n  a:\n    max: {value: soon, inclusive: false}\n",
     r"people\.yaml:3: columns\.a\.max\.value.*'soon' is neither a number nor an ISO date/time"),
    ("reference: {dataset: churn, version: -1}\n", r"is not a version number \(1, v1\)"),
    ("reference: {datset: churn}\n", r"people\.yaml:1: reference.*datset"),
], ids=["min-abc", "max-long-form", "relative-version", "reference-typo"])
def test_a_value_of_the_wrong_type_is_a_contract_error(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_contract(_write(tmp_path, text))


def test_numbers_written_as_text_and_iso_times_are_bounds(tmp_path: Path) -> None:
    contract = load_contract(_write(tmp_path, (
        "columns:\n  a: {min: '5', max: 2026-01-01T00:00:00}\n  b: {min: '2026-01-01'}\n"
        "distribution:\n  c: {category_share: {1: {max: 0.5}}}\n  d: {category_share: {true: {min: 0.1}}}\n")))
    assert contract.columns["a"].min is not None and contract.columns["a"].min.value == 5.0
    assert contract.columns["b"].min is not None and contract.columns["b"].min.value == "2026-01-01"
    assert list(contract.distribution["c"].category_share or {}) == ["1"]
    assert list(contract.distribution["d"].category_share or {}) == ["true"]


@pytest.mark.parametrize(("text", "message"), [
    ("distribution:\n  x: {statistic: chi2, threshold: 0.01}\n",
     r"people\.yaml:2: distribution\.x: .*chi2 is a test with no effect size: drop threshold"),
    ("drift: {alpha: 0.05, correction: holm}\n",
     r"people\.yaml:1: drift\.correction: .*'bh', 'bonferroni' or 'none'"),
    ("drift: {alpha: 0.7}\n", r"people\.yaml:1: drift\.alpha: .*less than 0\.5"),
])
def test_drift_options_are_checked_with_their_line(tmp_path: Path, text: str,
                                                   message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_contract(_write(tmp_path, text))
