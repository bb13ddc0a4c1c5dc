"""``assay validate`` and ``assay contract infer`` through the CLI, results in the store."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import polars as pl
import pytest
import sqlalchemy as sa

from assay.contracts import contract_results_for
from tests.conftest import TmpProject, store_connection
from tests.contracts.conftest import people, write_contract


def _bad(project: TmpProject) -> None:
    frame = people().with_columns(pl.when(pl.col("id") % 10 == 0).then(pl.lit("paris"))
                                  .otherwise(pl.col("city")).alias("city"))
    frame.write_parquet(project.root / "data" / "bad.parquet")


def test_validate_a_registered_contract_passes(project: TmpProject) -> None:
    result = project.invoke("validate", "people")
    assert result.code == 0, result.output
    assert "contract 'people' passed on data/people.parquet: 200 rows" in result.stdout


def test_validate_without_arguments_runs_every_registered_contract(project: TmpProject) -> None:
    result = project.invoke("validate", "--json")
    assert result.code == 0, result.output
    assert json.loads(result.stdout)["contract"] == "people"


def test_failing_data_exits_1_with_reports(project: TmpProject) -> None:
    _bad(project)
    result = project.invoke("validate", "data/bad.parquet", "--contract", "people", "--html",
                            "out/r.html", "--markdown", "out/r.md", "--junit", "out/junit.xml",
                            env={"COLUMNS": "250"})
    assert result.code == 1
    assert "columns.city.allowed" in result.stdout and "20 of 200 rows fail" in result.stdout
    assert "error: contract 'people' (1 errors) failed; report: out/r.html" in result.stderr.replace("\n", " ")
    for name in ("r.html", "r.md", "junit.xml"):
        assert (project.root / "out" / name).stat().st_size > 0
    ET.parse(project.root / "out" / "junit.xml")


def test_json_output_is_machine_readable(project: TmpProject) -> None:
    _bad(project)
    result = project.invoke("validate", "data/bad.parquet", "-c", "people", "--json", "--sample-rows", "2")
    assert result.code == 1
    report = json.loads(result.stdout)
    failed = [c for c in report["checks"] if c["status"] == "fail" and c["severity"] == "error"]
    assert [c["id"] for c in failed] == ["columns.city.allowed"]
    assert len(failed[0]["samples"]) == 2 and failed[0]["failing_rows"] == 20


def test_warnings_do_not_fail(project: TmpProject) -> None:
    write_contract(project.root, "soft", {"columns": {"age": {"max": {"value": 30, "severity": "warn"}}}})
    result = project.invoke("validate", "people", "--contract", "contracts/soft.yaml",
                            env={"COLUMNS": "250"})
    assert result.code == 0 and "WARN" in result.stdout


def test_results_are_stored_with_hash_dataset_version_and_event(project: TmpProject) -> None:
    from assay.objects import hash_file
    from assay.store import open_store
    from assay.store.tables import dataset_versions

    digest = hash_file(project.root / "data" / "people.parquet")
    url = project.load().store_url
    store = open_store(url)
    with store_connection(store.url) as conn:
        conn.execute(dataset_versions.insert().values(
            name="people", path="data/people.parquet", hash=digest, kind="file", size=1, nfiles=1,
            created_at=0.0, actor="t") if "created_at" in dataset_versions.c else
            dataset_versions.insert().values(name="people", path="data/people.parquet", hash=digest,
                                             kind="file", size=1, nfiles=1))
        version = conn.execute(sa.select(dataset_versions.c.id)).scalar_one()
    assert project.invoke("validate", "people").code == 0
    rows = contract_results_for(url)
    assert len(rows) == 1
    row = rows[0]
    assert (row["contract"], row["data_hash"], row["dataset_version_id"], row["passed"]) == (
        "people", digest, version, True)
    assert row["report"]["rows"] == 200
    events = [e for e in store.events() if e.kind == "contract.validated"]
    assert events and events[0].details["result_id"] == row["id"]
    store.close()


def test_pointer_file_validates_its_data(project: TmpProject) -> None:
    (project.root / "data" / "people.parquet.assay").write_text("oid: x\n")
    result = project.invoke("validate", "data/people.parquet.assay", "--contract", "people")
    assert result.code == 0, result.output


@pytest.mark.parametrize(("args", "message"), [
    (["validate", "nope"], "No contract is registered for 'nope'"),
    (["validate", "people", "--contract", "peple"], "No contract 'peple'"),
    (["validate", "data/missing.parquet", "--contract", "people"], "data data/missing.parquet does not exist"),
    (["validate", "../x.parquet", "--contract", "people"], "x.parquet"),
], ids=["unknown-target", "unknown-contract", "missing-data", "outside-project"])
def test_usage_errors_exit_2(project: TmpProject, args: list[str], message: str) -> None:
    result = project.invoke(*args)
    assert result.code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_contract_typo_exits_2_with_suggestion(project: TmpProject) -> None:
    write_contract(project.root, "people", {"columns": {"id": {"unqiue": True}}})
    result = project.invoke("validate", "people")
    assert result.code == 2
    assert "people.yaml:3: columns.id.unqiue" in result.stderr and "did you mean 'unique'" in result.stderr


def test_bad_regex_exits_2(project: TmpProject) -> None:
    write_contract(project.root, "people", {"columns": {"email": {"regex": "[a-"}}})
    result = project.invoke("validate", "people")
    assert result.code == 2 and "columns.email.regex: regex '[a-' does not compile" in result.stderr


def test_missing_reference_exits_2(project: TmpProject) -> None:
    write_contract(project.root, "people", {"reference": "data/ref.parquet",
                                            "distribution": {"age": {}}})
    result = project.invoke("validate", "people")
    assert result.code == 2
    assert "reference data 'data/ref.parquet' is missing" in result.stderr


def test_infer_writes_a_contract_that_validates_the_same_data(project: TmpProject) -> None:
    result = project.invoke("contract", "infer", "people", "--out", "contracts/inferred.yaml")
    assert result.code == 0, result.output
    text = (project.root / "contracts" / "inferred.yaml").read_text()
    assert "unique: true" in text and "allowed:" in text and "max_null_fraction" in text
    check = project.invoke("validate", "people", "--contract", "inferred")
    assert check.code == 0, check.output
    again = project.invoke("contract", "infer", "people", "--out", "contracts/inferred.yaml")
    assert again.code == 2 and "--force" in again.stderr


def test_inferred_contract_catches_the_broken_batch(project: TmpProject) -> None:
    assert project.invoke("contract", "infer", "people", "--out", "contracts/inferred.yaml").code == 0
    _bad(project)
    assert project.invoke("validate", "data/bad.parquet", "--contract", "inferred").code == 1


def test_validate_as_a_real_process(project: TmpProject) -> None:
    _bad(project)
    proc = project.run("validate", "data/bad.parquet", "--contract", "people")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr


def test_results_are_recorded_on_every_store_backend(project_on: TmpProject) -> None:
    (project_on.root / "data").mkdir()
    people().write_parquet(project_on.root / "data" / "people.parquet")
    project_on.config(contracts={"people": {"path": "contracts/people.yaml", "data": "data/people.parquet"}})
    write_contract(project_on.root, "people", {"columns": {"age": {"max": 30}}})
    assert project_on.invoke("validate").code == 1
    assert project_on.invoke("validate").code == 1
    assert project_on.store_url is not None
    rows = contract_results_for(project_on.store_url, contract="people")
    assert [(r["passed"], r["errors"]) for r in rows] == [(False, 1), (False, 1)]
    assert rows[0]["id"] > rows[1]["id"] and rows[0]["report"]["checks"][0]["failing_rows"] == 156


def test_a_check_with_a_type_error_exits_2_naming_it(project: TmpProject) -> None:
    write_contract(project.root, "people", {"checks": [{"sql": "city > 5"}, {"row_count": {"min": 1}}]})
    result = project.invoke("validate", "people")
    assert result.code == 2, result.output
    assert "checks[0].sql (city > 5): cannot compare string with numeric type" in " ".join(
        result.stderr.split())
    assert "data.readable" not in result.output and "Traceback" not in result.output


def test_stored_results_stay_intact_after_bad_input(project: TmpProject) -> None:
    assert project.invoke("validate", "people").code == 0
    url = project.load().store_url
    before = contract_results_for(url)
    assert [(r["contract"], r["passed"]) for r in before] == [("people", True)]

    write_contract(project.root, "bad", {"checks": [{"sql": "city > 5"}]})
    assert project.invoke("validate", "people", "--contract", "bad").code == 2
    write_contract(project.root, "typo", {"columns": {"id": {"min": "abc"}}})
    assert project.invoke("validate", "people", "--contract", "typo").code == 2
    assert contract_results_for(url) == before  # a contract error records nothing

    (project.root / "data" / "empty.csv").write_text("")
    assert project.invoke("validate", "data/empty.csv", "--contract", "people").code == 1
    after = contract_results_for(url)
    assert after[1:] == before
    assert after[0]["report"]["checks"][0]["id"] == "data.readable"
    assert after[0]["passed"] is False


@pytest.mark.parametrize("args", [
    ["validate", "people", "--html", "../report.html"],
    ["validate", "people", "--junit", "/tmp/assay-junit-outside.xml"],
    ["validate", "people", "--markdown", "out/../../r.md"],
    ["contract", "infer", "people", "--out", "../inferred.yaml"],
], ids=["html-parent", "junit-absolute", "markdown-dotdot", "infer-out"])
def test_output_paths_outside_the_project_exit_2(project: TmpProject, args: list[str]) -> None:
    result = project.invoke(*args)
    assert result.code == 2, result.output
    assert "is outside the project" in " ".join(result.stderr.split())
    assert not (project.root.parent / "report.html").exists()
    assert not (project.root.parent / "inferred.yaml").exists()
    assert contract_results_for(project.load().store_url) == []  # nothing ran
