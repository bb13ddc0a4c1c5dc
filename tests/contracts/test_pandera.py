"""Pandera schemas (Polars backend) run as contracts and report in the same format."""

from __future__ import annotations

import json

import polars as pl
import pytest

from tests.conftest import TmpProject
from tests.contracts.conftest import people

pytest.importorskip("pandera.polars")

SCHEMA = '''
import polars as pl
import pandera.polars as pa

schema = pa.DataFrameSchema({
    "id": pa.Column(pl.Int64, pa.Check.ge(1), unique=True),
    "city": pa.Column(pl.String, pa.Check.isin(["oslo", "rome", "lima"])),
})
not_a_schema = 3
'''


@pytest.fixture
def pandera_project(project: TmpProject) -> TmpProject:
    project.gen({"schemas.py": SCHEMA})
    project.config(datasets={"people": "data/people.parquet"},
                   contracts={"legacy": {"pandera": "schemas:schema", "data": "people"},
                              "broken": {"pandera": "schemas:not_a_schema", "data": "people"},
                              "missing": {"pandera": "nope_module:schema", "data": "people"}})
    return project


def test_pandera_schema_passes_and_fails_like_a_contract(pandera_project: TmpProject) -> None:
    ok = pandera_project.invoke("validate", "--contract", "legacy", "--json")
    assert ok.code == 0, ok.output
    assert json.loads(ok.stdout)["engine"] == "pandera"
    bad = people().with_columns(pl.when(pl.col("id") < 4).then(pl.lit("paris")).otherwise(pl.col("city")).alias("city"))
    bad.write_parquet(pandera_project.root / "data" / "bad.parquet")
    failed = pandera_project.invoke("validate", "data/bad.parquet", "--contract", "legacy", "--json")
    assert failed.code == 1
    report = json.loads(failed.stdout)
    check = next(c for c in report["checks"] if c["status"] == "fail")
    assert check["column"] == "city" and check["failing_rows"] == 3
    assert check["samples"][0]["city"] == "paris"


@pytest.mark.parametrize(("contract", "message"), [
    ("broken", "not a pandera.polars DataFrameSchema"),
    ("missing", "cannot import module 'nope_module'"),
])
def test_bad_pandera_references_exit_2(pandera_project: TmpProject, contract: str, message: str) -> None:
    result = pandera_project.invoke("validate", "--contract", contract)
    assert result.code == 2 and message in result.stderr


def test_every_pandera_check_is_reported_exactly_once(pandera_project: TmpProject) -> None:
    bad = people().with_columns(
        pl.when(pl.col("id") < 4).then(pl.lit("paris")).otherwise(pl.col("city")).alias("city"),
        pl.when(pl.col("id") == 5).then(0).otherwise(pl.col("id")).alias("id"))
    bad.write_parquet(pandera_project.root / "data" / "bad.parquet")
    failed = pandera_project.invoke("validate", "data/bad.parquet", "--contract", "legacy",
                                    "--json", "--junit", "junit.xml")
    assert failed.code == 1, failed.output
    report = json.loads(failed.stdout)
    statuses = {c["id"]: c["status"] for c in report["checks"]}
    assert len(statuses) == len(report["checks"])  # no id twice
    assert statuses == {
        "columns.id.dtype": "pass",
        "columns.id.nullable": "pass",
        "columns.id.unique": "pass",
        "columns.id.greater_than_or_equal_to(1)": "fail",
        "columns.city.dtype": "pass",
        "columns.city.nullable": "pass",
        "columns.city.isin(['oslo', 'rome', 'lima'])": "fail",
    }
    check = next(c for c in report["checks"] if c["id"] == "columns.id.greater_than_or_equal_to(1)")
    assert check["failing_rows"] == 1 and check["samples"] == [
        {**{k: v for k, v in people().row(4, named=True).items() if k not in ("start", "end")},
         "id": 0, "start": "2026-01-05T00:00:00", "end": "2026-01-06T00:00:00"}]
    import xml.etree.ElementTree as ET

    cases = ET.parse(pandera_project.root / "junit.xml").getroot().iter("testcase")
    names = [c.get("name") for c in cases]
    assert sorted(names) == sorted(statuses)
