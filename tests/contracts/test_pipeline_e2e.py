"""``assay run`` with a ``kind: validate`` stage gating a downstream ``cmd`` stage."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import TmpProject
from tests.contracts.conftest import people

pytestmark = pytest.mark.slow


def test_a_failing_contract_stops_downstream_stages_and_names_the_report(project: TmpProject) -> None:
    project.config(
        datasets={"people": "data/people.parquet"},
        contracts={"people": {"path": "contracts/people.yaml", "data": "people"}},
        stages={
            "validate": {"kind": "validate", "contract": "people"},
            "train": {"cmd": "python -c \"open('trained.txt', 'w').write('ok')\"",
                      "deps": ["data/people.parquet"], "outs": ["trained.txt"], "needs": ["validate"]},
        },
    )
    first = project.run("run")
    assert first.returncode == 0, first.stdout + first.stderr
    assert (project.root / "trained.txt").is_file()
    report = json.loads((project.root / "reports/validate/validate/report.json").read_text())
    assert report["passed"] is True

    (project.root / "trained.txt").unlink()
    people().with_columns(pl.lit("paris").alias("city")).write_parquet(project.root / "data" / "people.parquet")
    second = project.run("run")
    assert second.returncode == 1
    output = second.stdout + second.stderr
    logs = "\n".join(p.read_text() for p in Path(project.root, ".assay", "logs").rglob("*.log"))
    assert "reports/validate/validate/report.html" in output + logs
    summary = [line for line in output.splitlines() if line.startswith("error: stage 'validate' failed")]
    assert summary and "report: reports/validate/validate/report.html" in summary[0], output
    assert not (project.root / "trained.txt").exists()
