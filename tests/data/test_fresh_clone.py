"""A fresh clone (and so CI) on a fresh store: versioned references resolve from what is
committed (the pointer's history) plus the remote, and errors name ``assay data pull``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import polars as pl

from tests.conftest import TmpProject
from tests.contracts.conftest import people, write_contract

DRIFTED = ["distribution.age.drift", "distribution.city.drift", "distribution.city.new_categories"]


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                   cwd=root, check=True, capture_output=True)


def _origin(tmp_path: Path) -> tuple[TmpProject, dict[str, str]]:
    """A committed project whose data ``people`` has two versions (v1 younger, one city) and
    whose contract compares against ``people@v1``; both versions pushed to a folder remote."""
    root = tmp_path / "origin"
    root.mkdir()
    _git(root, "init", "-q")
    project = TmpProject(root)
    project.config(
        datasets={"people": "data/people.parquet"},
        contracts={"people": {"path": "contracts/people.yaml", "data": "people"}},
        remotes={"origin": str(tmp_path / "remote")},
        stages={"count": {"cmd": "wc -c data/people.parquet > count.txt",
                          "deps": ["data/people.parquet"], "outs": ["count.txt"]}},
    )
    (root / "data").mkdir()
    path = root / "data" / "people.parquet"
    people().with_columns(pl.col("age") - 30, pl.lit("oslo").alias("city")).write_parquet(path)
    assert project.invoke("data", "add", "data/people.parquet", "--name", "people").code == 0
    people().write_parquet(path)
    added = project.invoke("data", "add", "data/people.parquet", "--name", "people", "-m", "v2")
    assert added.code == 0 and "as 'people' v2" in added.stdout, added.output
    write_contract(root, "people", {"reference": "people@v1",
                                    "distribution": {"age": {"statistic": "psi"}, "city": {}}})
    pushed = project.invoke("data", "push")
    assert pushed.code == 0, pushed.output
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "data v2")
    log = json.loads(project.invoke("data", "log", "people", "--json").stdout)
    return project, {f"v{v['version']}": v["hash"] for v in log}


def _clone(origin: TmpProject, tmp_path: Path, store_url: str) -> TmpProject:
    _git(tmp_path, "clone", "-q", str(origin.root), "clone")
    return TmpProject(tmp_path / "clone", store_url=store_url)


def test_a_fresh_clone_validates_against_a_versioned_reference(
    tmp_path: Path, store_url: str
) -> None:
    origin, hashes = _origin(tmp_path)
    pointer = (origin.root / "data" / "people.parquet.assay").read_text()
    assert "version: 2\n" in pointer and hashes["v1"] in pointer
    clone = _clone(origin, tmp_path, store_url)

    ran = clone.invoke("run")
    assert ran.code == 2
    assert ran.stderr.strip().endswith(
        "tracked data (data/people.parquet.assay) not pulled into this workspace; "
        "run: assay data pull data/people.parquet"), ran.stderr
    early = clone.invoke("validate", "people")
    assert early.code == 2 and "run: assay data pull data/people.parquet" in early.stderr

    assert clone.invoke("data", "pull").code == 0
    log = json.loads(clone.invoke("data", "log", "people", "--json").stdout)
    assert {f"v{v['version']}": v["hash"] for v in log} == hashes  # numbered as committed

    result = clone.invoke("validate", "people", "--json")  # v1's objects come from the remote
    assert result.code == 1, result.output
    report = json.loads(result.stdout)
    assert sorted(c["id"] for c in report["checks"] if c["status"] == "fail") == DRIFTED
    assert report["reference"] == f"people@v1 (data/people.parquet v1, {hashes['v1'][:12]})"
    assert clone.invoke("run").code == 0


def test_re_adding_unchanged_data_records_it_in_a_store_that_lacks_it(
    tmp_path: Path, store_url: str
) -> None:
    origin, hashes = _origin(tmp_path)
    clone = _clone(origin, tmp_path, store_url)
    assert clone.invoke("data", "pull").code == 0
    other = tmp_path / "other.db"  # a second, empty store for the same workspace
    env = {"ASSAY_STORE_URL": f"sqlite:///{other}"}
    added = clone.invoke("data", "add", "data/people.parquet", "--name", "people", env=env)
    assert added.code == 0, added.output
    assert added.stdout.startswith(
        f"recorded data/people.parquet as 'people' v2 in this store (the data is unchanged) "
        f"[{hashes['v2'][:12]}]"), added.stdout
    log = json.loads(clone.invoke("data", "log", "people", "--json", env=env).stdout)
    assert {f"v{v['version']}": v["hash"] for v in log} == hashes
    again = clone.invoke("data", "add", "data/people.parquet", "--name", "people", env=env)
    assert again.stdout.startswith("unchanged data/people.parquet"), again.stdout


def test_a_pointer_from_before_versions_gains_its_version_on_re_add(
    tmp_project: TmpProject,
) -> None:
    data = tmp_project.root / "data.csv"
    data.write_text("a\n1\n")
    assert tmp_project.invoke("data", "add", "data.csv").code == 0
    pfile = tmp_project.root / "data.csv.assay"
    old = "".join(line for line in pfile.read_text().splitlines(keepends=True)
                  if not line.startswith(("version:", "history:", "  - ")))
    pfile.write_text(old)
    again = tmp_project.invoke("data", "add", "data.csv", env={"ASSAY_NO_FASTPATH": "1"})
    assert again.code == 0 and again.stdout.startswith("unchanged data.csv"), again.output
    assert "version: 1\n" in pfile.read_text() and "history:\n" in pfile.read_text()
