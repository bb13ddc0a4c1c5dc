from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import TmpProject


def write_table(path: Path, rows: int = 50, *, extra: bool = False) -> None:
    import polars as pl

    frame = pl.DataFrame(
        {
            "id": list(range(rows)),
            "amount": [float(i) * 1.5 for i in range(rows)],
            "plan": ["basic" if i % 3 else "pro" for i in range(rows)],
        }
    )
    if extra:
        frame = frame.with_columns(pl.lit(1).alias("flag"))
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        frame.write_csv(path)
    else:
        frame.write_parquet(path)


@pytest.fixture
def data_project(tmp_project: TmpProject) -> TmpProject:
    """A project with a folder remote next to it and some data files."""
    tmp_project.config(remotes={"origin": "../remote"}, default_remote="origin")
    write_table(tmp_project.root / "data" / "table.parquet")
    tmp_project.gen({f"data/images/img{i}.bin": bytes([i]) * (100 + i) for i in range(6)})
    tmp_project.gen({"data/images/labels/l.txt": "cat\n"})
    return tmp_project
