"""``infer_contract``: a profiled contract validates the data it came from."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest
import yaml

from assay.contracts import contract_yaml, infer_contract, load_contract, run_contract, source_for
from tests.contracts.conftest import people


def _round_trip(tmp_path: Path, frame: pl.DataFrame, name: str) -> dict[str, object]:
    path = tmp_path / name
    if name.endswith(".csv"):
        frame.write_csv(path)
    else:
        frame.write_parquet(path)
    source = source_for(name, tmp_path)
    contract = infer_contract(source, name="x", owner="me@example.com", data=name)
    text = contract_yaml(contract, source=name)
    (tmp_path / "x.yaml").write_text(text)
    report = run_contract(load_contract(tmp_path / "x.yaml"), source)
    assert report.passed and report.warnings == 0, [c.message for c in report.checks if c.failed]
    return yaml.safe_load(text)


@pytest.mark.parametrize("name", ["p.parquet", "p.csv"])
def test_inferred_contract_validates_its_own_data(tmp_path: Path, name: str) -> None:
    frame = people().with_columns(
        pl.lit(None, dtype=pl.Float64).alias("empty"),
        pl.col("start").dt.replace_time_zone("UTC").alias("aware"),
        pl.lit(date(2026, 1, 1)).alias("day"),
        (pl.col("id") % 2 == 0).alias("flag"),
    )
    contract = _round_trip(tmp_path, frame, name)
    columns = contract["columns"]
    assert isinstance(columns, dict)
    assert columns["id"] == {"dtype": "int64", "nullable": False, "unique": True, "min": 0, "max": 220}
    assert columns["city"]["allowed"] == ["lima", "oslo", "rome"]
    assert columns["score"]["max_null_fraction"] == pytest.approx(0.076, abs=1e-4)
    assert columns["email"]["length"] == {"min": 17, "max": 19}


def test_inferring_empty_data_gives_a_contract_it_passes(tmp_path: Path) -> None:
    _round_trip(tmp_path, people().head(0), "e.parquet")


def test_margin_never_goes_below_zero_for_non_negative_columns(tmp_path: Path) -> None:
    frame = pl.DataFrame({"x": [0.5, 1.0, 100.0], "when": [datetime(2026, 1, 1)] * 3})
    contract = _round_trip(tmp_path, frame, "m.parquet")
    assert contract["columns"]["x"]["min"] == 0.0  # type: ignore[index]


def test_time_ranges_are_widened_by_the_margin(tmp_path: Path) -> None:
    frame = pl.DataFrame({
        "at": [datetime(2026, 1, 1), datetime(2026, 1, 11)],
        "day": [date(2026, 1, 1), date(2026, 1, 21)],
        "odd": [datetime(2026, 1, 1, 0, 0, 0, 1), datetime(2026, 1, 1, 0, 0, 10, 1)],
    })
    columns = _round_trip(tmp_path, frame, "t.parquet")["columns"]
    assert isinstance(columns, dict)
    assert (columns["at"]["min"], columns["at"]["max"]) == ("2025-12-31T00:00:00", "2026-01-12T00:00:00")
    assert (columns["day"]["min"], columns["day"]["max"]) == ("2025-12-30", "2026-01-23")
    # whole seconds, rounded away from the data
    assert (columns["odd"]["min"], columns["odd"]["max"]) == ("2025-12-31T23:59:59", "2026-01-01T00:00:12")


def test_zero_one_flags_get_allowed_values_not_a_range(tmp_path: Path) -> None:
    frame = pl.DataFrame({
        "flag": [0, 1, 1, 0],
        "flag_with_nulls": [0, None, 1, 1],
        "three": [0, 1, 2, 2],
        "ones": [1, 1, 1, 1],
    })
    columns = _round_trip(tmp_path, frame, "f.parquet")["columns"]
    assert isinstance(columns, dict)
    assert columns["flag"] == {"dtype": "int64", "nullable": False, "allowed": [0, 1]}
    assert columns["flag_with_nulls"]["allowed"] == [0, 1]
    assert (columns["three"]["min"], columns["three"]["max"]) == (0, 3)
    assert "allowed" not in columns["ones"]
