"""Uniqueness: a strictly monotonic column proves a key unique without a distinct count; every
answer equals the plain distinct count's (the CSV path, which always counts)."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay.contracts import ContractReport, load_contract, run_contract, source_for
from tests.contracts.conftest import write_contract

_names = itertools.count()


def check(folder: Path, frame: pl.DataFrame, body: dict[str, Any], suffix: str) -> ContractReport:
    name = f"d{next(_names)}{suffix}"
    path = folder / name
    frame.write_parquet(path) if suffix == ".parquet" else frame.write_csv(path)
    contract = load_contract(write_contract(folder, f"c{next(_names)}", body))
    return run_contract(contract, source_for(name, folder), streaming=False)


def verdict(report: ContractReport, check_id: str) -> tuple[str, int | None]:
    found = next(c for c in report.checks if c.id == check_id)
    return found.status, found.failing_rows


def truth(values: list[Any]) -> int:
    """Non-null rows whose value occurs more than once (the unique check's failing rows)."""
    present = [v for v in values if v is not None]
    return sum(1 for v in present if present.count(v) > 1)


CASES = {
    "increasing": [1, 2, 3, 10],
    "decreasing": [9, 5, 2, -4],
    "a repeat in order": [1, 2, 2, 3],
    "unordered unique": [3, 1, 2, 9],
    "unordered repeat": [3, 1, 3, 9],
    "nulls between": [1, None, 2, 5],
    "a repeat across a null": [1, None, 1, 5],
    "one row": [7],
}


@pytest.mark.parametrize("values", list(CASES.values()), ids=list(CASES))
@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_single_column_unique_matches_a_plain_distinct_count(
    tmp_path: Path, values: list[Any], suffix: str
) -> None:
    frame = pl.DataFrame({"id": values}, schema={"id": pl.Int64})
    report = check(tmp_path, frame, {"columns": {"id": {"unique": True}}}, suffix)
    duplicates = truth(values)
    assert verdict(report, "columns.id.unique") == ("fail" if duplicates else "pass", duplicates)


def test_timestamps_and_floats_prove_uniqueness_too(tmp_path: Path) -> None:
    start = datetime(2026, 1, 1)
    frame = pl.DataFrame({
        "ts": [start + timedelta(seconds=i) for i in range(5)],
        "x": [0.5, 1.5, 2.5, float("nan"), 4.5],  # a NaN step proves nothing: counted instead
        "small": pl.Series([1, 2, 3, 4, 4], dtype=pl.Int8),
        "big": pl.Series([2**64 - 1, 1, 2, 3, 4], dtype=pl.UInt64),  # no proof: counted
    })
    report = check(tmp_path, frame, {"columns": {
        "ts": {"unique": True}, "x": {"unique": True}, "small": {"unique": True},
        "big": {"unique": True}}}, ".parquet")
    assert [verdict(report, f"columns.{c}.unique") for c in ("ts", "x", "small", "big")] == [
        ("pass", 0), ("pass", 0), ("fail", 2), ("pass", 0)]


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_a_compound_key_holding_a_monotonic_column_is_unique(tmp_path: Path, suffix: str) -> None:
    frame = pl.DataFrame({"id": [1, 2, 3, 4], "city": ["a", "a", "b", "b"],
                          "day": [1, 1, 1, 1]})
    report = check(tmp_path, frame, {"checks": [{"unique": ["city", "id"]},
                                                {"unique": ["city", "day"]}]}, suffix)
    assert verdict(report, "checks[0].unique") == ("pass", 0)
    assert verdict(report, "checks[1].unique") == ("fail", 4)  # (a, 1) twice, (b, 1) twice
    found = next(c for c in report.checks if c.id == "checks[1].unique")
    assert found.details == {"duplicated_keys": 2, "extra_rows": 2}
    assert found.samples == [{"id": 1, "city": "a", "day": 1}, {"id": 2, "city": "a", "day": 1},
                             {"id": 3, "city": "b", "day": 1}, {"id": 4, "city": "b", "day": 1}]


keys = st.lists(st.one_of(st.none(), st.integers(-3, 3)), min_size=1, max_size=30)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ids=keys, other=st.data())
def test_every_key_gets_the_distinct_counts_answer(tmp_path: Path, ids: list[Any],
                                                   other: st.DataObject) -> None:
    ordered = other.draw(st.booleans())
    if ordered:
        ids = sorted(ids, key=lambda v: (v is None, v))
    cities = other.draw(st.lists(st.sampled_from("ab"), min_size=len(ids), max_size=len(ids)))
    frame = pl.DataFrame({"id": ids, "city": cities}, schema={"id": pl.Int64, "city": pl.String})
    body = {"columns": {"id": {"unique": True}}, "checks": [{"unique": ["id", "city"]}]}
    fast, plain = (check(tmp_path, frame, body, s) for s in (".parquet", ".csv"))
    for check_id in ("columns.id.unique", "checks[0].unique"):
        assert verdict(fast, check_id) == verdict(plain, check_id)
    assert verdict(fast, "columns.id.unique")[1] == truth(ids)


@pytest.mark.parametrize("streaming", [False, True], ids=["in-memory", "streaming"])
def test_failing_rows_are_the_rows_holding_a_repeated_key_as_pandera_counts_them(
        tmp_path: Path, streaming: bool) -> None:
    import pandera.errors
    import pandera.polars as pa

    ids = [0] * 501 + list(range(1, 1000))  # one key on 501 rows
    frame = pl.DataFrame({"id": ids, "x": list(range(len(ids)))})
    frame.write_parquet(tmp_path / "d.parquet")
    contract = load_contract(write_contract(tmp_path, "c", {"columns": {"id": {"unique": True}}}))
    report = run_contract(contract, source_for("d.parquet", tmp_path), streaming=streaming)
    found = next(c for c in report.checks if c.id == "columns.id.unique")
    assert (found.failing_rows, found.details) == (501, {"duplicated_keys": 1, "extra_rows": 500})
    assert found.message == "1 key on more than one row: 501 of 1,500 rows"
    assert found.samples == [{"id": 0, "x": x} for x in range(5)]
    schema = pa.DataFrameSchema({"id": pa.Column(pl.Int64, unique=True)})
    with pytest.raises(pandera.errors.SchemaErrors, match="unique") as raised:
        schema.validate(frame, lazy=True)
    assert raised.value.failure_cases.height == found.failing_rows


def test_streaming_uniqueness_splits_the_hashes_into_passes_with_the_same_answer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from assay.contracts import _tables

    ids: list[int | None] = [i % 37 if i % 5 == 0 else 1000 + i for i in range(400)]
    ids[1::50] = [None] * 8  # nulls: not keys alone, but (null, a) repeats in the compound key
    cities = ["ab"[i % 2] for i in range(400)]
    frame = pl.DataFrame({"id": ids, "city": cities})
    frame.write_parquet(tmp_path / "d.parquet")
    body = {"columns": {"id": {"unique": True}}, "checks": [{"unique": ["id", "city"]}]}
    contract = load_contract(write_contract(tmp_path, "c", body))

    def answers(streaming: bool) -> list[tuple[str, int | None, dict[str, Any]]]:
        report = run_contract(contract, source_for("d.parquet", tmp_path), streaming=streaming)
        return [(c.id, c.failing_rows, c.details) for c in report.checks if c.kind == "unique"]

    passes: list[int] = []
    original = pl.LazyFrame.collect

    def counting(self: pl.LazyFrame, *args: Any, **kwargs: Any) -> pl.DataFrame:
        if kwargs.get("engine") == "streaming" and "% " in self.explain():
            passes.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(_tables, "PASS_KEYS", 64)  # 400 rows: 7 passes for id
    monkeypatch.setattr(pl.LazyFrame, "collect", counting)
    assert answers(streaming=True) == answers(streaming=False)
    # (id, city) repeats only where id repeats or is null: 80 + 8 rows, 2 passes
    assert len(passes) == 7 + 2
    present = [i for i in ids if i is not None]
    in_memory = answers(streaming=False)
    assert in_memory[0][1:] == (sum(1 for i in present if present.count(i) > 1),
                                {"duplicated_keys": 37, "extra_rows": 80 - 37})
    assert in_memory[1][2]["duplicated_keys"] > 0  # (None, "b") at least
