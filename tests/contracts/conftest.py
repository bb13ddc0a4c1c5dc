"""Small real data for contract tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from tests.conftest import TmpProject


def people(rows: int = 200) -> pl.DataFrame:
    """A small deterministic table with one of each column type."""
    start = datetime(2026, 1, 1)
    return pl.DataFrame({
        "id": list(range(1, rows + 1)),
        "age": [20 + (i % 50) for i in range(rows)],
        "score": [None if i % 20 == 0 else (i % 10) / 10 for i in range(rows)],
        "city": [["oslo", "rome", "lima"][i % 3] for i in range(rows)],
        "email": [f"user{i}@example.com" for i in range(rows)],
        "start": [start + timedelta(days=i) for i in range(rows)],
        "end": [start + timedelta(days=i + 1) for i in range(rows)],
    })


@pytest.fixture
def project(tmp_project: TmpProject) -> TmpProject:
    """A project with data/people.parquet, a dataset entry and a registered contract."""
    data = tmp_project.root / "data"
    data.mkdir()
    people().write_parquet(data / "people.parquet")
    tmp_project.config(
        datasets={"people": "data/people.parquet"},
        contracts={"people": {"path": "contracts/people.yaml", "data": "people"}},
    )
    write_contract(tmp_project.root, "people", {
        "owner": "data@example.com",
        "columns": {"id": {"dtype": "int64", "unique": True, "nullable": False, "min": 1},
                    "city": {"allowed": ["oslo", "rome", "lima"]}},
    })
    return tmp_project


def write_contract(root: Path, name: str, body: dict[str, Any]) -> Path:
    path = root / "contracts" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path
