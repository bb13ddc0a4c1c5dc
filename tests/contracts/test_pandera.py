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
