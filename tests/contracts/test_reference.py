"""The reference of distribution checks may be a recorded dataset version, read from the cache."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from assay.config import PlanContext
from assay.contracts import KIND, ValidateOptions
from tests.conftest import TmpProject
from tests.contracts.conftest import people, write_contract


def _older(frame: pl.DataFrame) -> pl.DataFrame:
    """Version 1: the same people thirty years younger (age drifts between the versions)."""
    return frame.with_columns(pl.col("age") - 30, pl.lit("oslo").alias("city"))


@pytest.fixture
def versioned(project: TmpProject) -> TmpProject:
    """``people`` recorded twice: v1 (younger, one city), v2 (the current data)."""
    path = project.root / "data" / "people.parquet"
    _older(people()).write_parquet(path)
    assert project.invoke("data", "add", "data/people.parquet", "--name", "people").code == 0
    people().write_parquet(path)
    assert project.invoke("data", "add", "data/people.parquet", "--name", "people").code == 0
    return project


def _validate(project: TmpProject, reference: Any) -> tuple[int, dict[str, Any], str]:
    write_contract(project.root, "people", {
        "reference": reference,
        "distribution": {"age": {"statistic": "psi"}, "city": {}},
    })
    result = project.invoke("validate", "people", "--json")
    report = json.loads(result.stdout) if result.stdout.startswith("{") else {}
    return result.code, report, result.stderr


def _failed(report: dict[str, Any]) -> list[str]:
    return sorted(c["id"] for c in report["checks"] if c["status"] == "fail")


def _hash_of(project: TmpProject, version: int) -> str:
    log = project.invoke("data", "log", "people", "--json")
    return str(json.loads(log.stdout)[version - 1]["hash"])


DRIFTED = ["distribution.age.drift", "distribution.city.drift", "distribution.city.new_categories"]


@pytest.mark.parametrize(("reference", "shown"), [
    ("people@v1", "people@v1"),
    ("people@1", "people@1"),
    ({"dataset": "people", "version": 1}, "people@1"),
    ({"dataset": "people", "version": "v1"}, "people@v1"),
], ids=["at-v1", "at-1", "mapping", "mapping-v1"])
def test_a_recorded_version_is_the_reference(versioned: TmpProject, reference: Any,
                                             shown: str) -> None:
    code, report, _ = _validate(versioned, reference)
    assert code == 1
    assert _failed(report) == DRIFTED
    assert report["reference"] == f"{shown} (data/people.parquet v1, {_hash_of(versioned, 1)[:12]})"


def test_a_hash_prefix_names_a_version_and_the_latest_version_passes(versioned: TmpProject) -> None:
    code, report, _ = _validate(versioned, f"people@{_hash_of(versioned, 1)[:10]}")
    assert code == 1 and _failed(report) == DRIFTED
    code, report, _ = _validate(versioned, "people@v2")
    assert code == 0 and _failed(report) == []


@pytest.mark.parametrize(("reference", "message"), [
    ("people@v9", "reference 'people@v9' does not exist: Dataset 'people' has no version v9 (1..2)"),
    ("nobody@v1", "reference 'nobody@v1' does not exist: No dataset named 'nobody'"),
    ("people@ffff", "reference 'people@ffff' does not exist: Revision 'ffff' of dataset 'people' "
     "matches no version"),
], ids=["unknown-version", "unknown-dataset", "unknown-hash"])
def test_a_missing_version_is_a_contract_error(versioned: TmpProject, reference: str,
                                               message: str) -> None:
    code, _, stderr = _validate(versioned, reference)
    assert code == 2
    assert message in " ".join(stderr.split())
    assert "Traceback" not in stderr


@pytest.mark.parametrize(("version", "message"), [
    ("-1", "is not a version number (1, v1) or a hash prefix"),
    ("v0", "is not a version number (1, v1) or a hash prefix"),
], ids=["relative", "zero"])
def test_only_immutable_versions_are_accepted_in_the_mapping(versioned: TmpProject, version: str,
                                                             message: str) -> None:
    code, _, stderr = _validate(versioned, {"dataset": "people", "version": version})
    assert code == 2 and message in " ".join(stderr.split())


def _object_path(project: TmpProject, digest: str) -> Path:
    return project.root / ".assay" / "cache" / digest[:2] / digest[2:]


def test_a_corrupt_cached_version_is_refused_and_named(versioned: TmpProject) -> None:
    digest = _hash_of(versioned, 1)
    obj = _object_path(versioned, digest)
    os.chmod(obj, 0o644)
    obj.write_bytes(obj.read_bytes()[:-10] + b"0123456789")
    code, report, stderr = _validate(versioned, "people@v1")
    assert code == 1 and report == {}
    assert f"reference people@v1 (data/people.parquet v1): cache object {digest} is corrupt; run: assay fsck" \
        in " ".join(stderr.split())
    rows = versioned.invoke("data", "log", "people", "--json")
    assert all(v["contract"] is None for v in json.loads(rows.stdout))  # nothing recorded


def test_a_version_missing_from_the_cache_says_how_to_get_it(versioned: TmpProject) -> None:
    digest = _hash_of(versioned, 1)
    obj = _object_path(versioned, digest)
    os.chmod(obj, 0o644)
    obj.unlink()
    code, _, stderr = _validate(versioned, "people@v1")
    assert code == 1
    assert f"object {digest} is not in the cache; check out the pointer file" in " ".join(stderr.split())


def test_a_folder_dataset_version_is_a_reference(project: TmpProject) -> None:
    parts = project.root / "data" / "parts"
    parts.mkdir()
    _older(people(100)).write_parquet(parts / "a.parquet")
    _older(people(100)).write_parquet(parts / "b.parquet")
    assert project.invoke("data", "add", "data/parts", "--name", "parts").code == 0
    code, report, stderr = _validate(project, "parts@v1")
    assert code == 1, stderr
    assert _failed(report) == DRIFTED
    assert report["reference"].startswith("parts@v1 (data/parts v1, ")


def test_a_versioned_reference_is_not_a_path_dep_of_the_validate_stage(versioned: TmpProject) -> None:
    write_contract(versioned.root, "people", {"reference": "people@v1",
                                              "distribution": {"age": {}}})
    ctx = PlanContext(root=versioned.root, stage="validate", matrix={}, outs_of=lambda _: [],
                      instances_of=lambda _: [])
    plan = KIND.plan(ValidateOptions(contract="people"), ctx)
    assert plan.deps == ["data/people.parquet", "contracts/people.yaml"]
    by_path = KIND.plan(ValidateOptions(contract="people", reference="data/people.parquet"), ctx)
    assert by_path.deps == ["data/people.parquet", "contracts/people.yaml", "data/people.parquet"]
