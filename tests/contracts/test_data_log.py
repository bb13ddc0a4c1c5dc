"""Contract results are stored with the dataset version and shown by ``assay data log``."""

from __future__ import annotations

import json

import polars as pl

from tests.conftest import TmpProject
from tests.contracts.conftest import people, write_contract


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


def test_data_log_shows_the_latest_result_of_each_contract(project: TmpProject) -> None:
    assert project.invoke("data", "add", "data/people.parquet", "--name", "people").code == 0
    write_contract(project.root, "strict", {"columns": {"age": {"max": 30}}})
    assert project.invoke("validate", "people", "--contract", "strict").code == 1
    assert project.invoke("validate", "people").code == 0
    write_contract(project.root, "strict", {"columns": {"age": {"max": 100}}})
    assert project.invoke("validate", "people", "--contract", "strict").code == 0
    write_contract(project.root, "soft", {"columns": {"age": {"max": 30}}})
    assert project.invoke("validate", "people", "--contract", "soft").code == 1

    log = project.invoke("data", "log", "people", "--json")
    (version,) = json.loads(log.stdout)
    assert {name: r["passed"] for name, r in version["contracts"].items()} == {
        "people": True, "soft": False, "strict": True}
    assert (version["contract"]["contract"], version["contract"]["passed"]) == ("soft", False)
    text = project.invoke("data", "log", "people").stdout
    assert "contract people: passed, soft: FAILED, strict: passed" in text
