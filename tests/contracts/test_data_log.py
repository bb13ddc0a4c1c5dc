"""Contract results are stored with the dataset version and shown by ``assay data log``."""

from __future__ import annotations

import json

import polars as pl

from tests.conftest import TmpProject
from tests.contracts.conftest import people


def test_data_log_shows_latest_contract_result_per_version(project: TmpProject) -> None:
    assert project.invoke("data", "add", "data/people.parquet", "--name", "people").code == 0
    assert project.invoke("validate", "people").code == 0

    broken = people().with_columns(city=pl.lit("paris"))
    broken.write_parquet(project.root / "data" / "people.parquet")
    assert project.invoke("data", "add", "data/people.parquet", "--name", "people").code == 0
    failed = project.invoke("validate", "people")
    assert failed.code == 1, failed.output

    log = project.invoke("data", "log", "people", "--json")
    assert log.code == 0, log.output
    versions = json.loads(log.stdout)
    assert [(v["contract"]["contract"], v["contract"]["passed"]) for v in versions] == [
        ("people", True),
        ("people", False),
    ]
    text = project.invoke("data", "log", "people").stdout
    assert "contract people: passed" in text and "contract people: FAILED" in text
