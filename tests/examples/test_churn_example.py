"""The bundled churn example's scripts produce data a model can be judged on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import yaml

from assay import examples


def _write_example(root: Path) -> None:
    for rel, content in examples.files("churn").items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def test_generate_is_deterministic(tmp_path: Path) -> None:
    _write_example(tmp_path)
    for out in ("a.parquet", "b.parquet"):
        subprocess.run([sys.executable, "generate.py", "--rows", "2000", "--out", out],
                       cwd=tmp_path, check=True, capture_output=True)
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def test_split_is_representative_of_the_data(tmp_path: Path) -> None:
    _write_example(tmp_path)
    run = {"cwd": tmp_path, "check": True, "capture_output": True}
    subprocess.run([sys.executable, "generate.py", "--rows", "20000"], **run)  # type: ignore[call-overload]
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    params["prepare"]["sample"] = 1.0
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    subprocess.run([sys.executable, "prepare.py"], **run)  # type: ignore[call-overload]

    def share(name: str) -> float:
        frame = pl.read_parquet(tmp_path / "data" / f"{name}.parquet")
        return float((frame["contract"] == "month-to-month").mean())  # type: ignore[arg-type]

    overall = share("churn")
    for part in ("train", "holdout", "benchmark"):
        assert abs(share(part) - overall) < 0.04, (part, share(part), overall)
