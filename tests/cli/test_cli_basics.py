from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TmpProject, invoke, run_assay

HEAVY = ["polars", "pandas", "sklearn", "fastapi", "ray", "numpy", "scipy", "pyarrow", "sqlalchemy.dialects.postgresql"]


@pytest.mark.parametrize("args", [["--help"], ["config", "--help"], ["init", "--help"]], ids=["root", "config", "init"])
def test_help_does_not_import_heavy_libraries(args: list[str]) -> None:
    code = (
        "import sys\n"
        "from assay.cli import run\n"
        f"rc = run({args!r})\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY=\n" in out.stdout, out.stdout[-500:]


def test_init_scaffolds_project(tmp_path: Path) -> None:
    result = invoke(["init", str(tmp_path / "p")])
    assert result.code == 0, result.output
    root = tmp_path / "p"
    assert (root / "assay.yaml").is_file()
    assert (root / ".assay" / "assay.db").is_file()
    assert "/.assay/" in (root / ".gitignore").read_text().splitlines()


def test_init_twice_is_usage_error(tmp_path: Path) -> None:
    assert invoke(["init", str(tmp_path)]).code == 0
    again = invoke(["init", str(tmp_path)])
    assert again.code == 2
    assert again.stderr.startswith("error: ") and "already exists" in again.stderr


def test_init_example_writes_churn_project(tmp_path: Path) -> None:
    result = invoke(["init", "--example", "churn", str(tmp_path / "c")])
    assert result.code == 0, result.output
    names = {p.name for p in (tmp_path / "c").iterdir()}
    assert {"assay.yaml", "params.yaml", "generate.py", "train.py", ".gitignore", ".assay"} <= names


def test_unknown_example(tmp_path: Path) -> None:
    result = invoke(["init", "--example", "nope", str(tmp_path)])
    assert result.code == 2
    assert "Unknown example 'nope'; available: churn" in result.stderr


def test_config_error_exits_2_with_one_line(tmp_project: TmpProject) -> None:
    tmp_project.gen({"assay.yaml": "project: x\nstagse: {}\n"})
    proc = tmp_project.run("config", "check")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {tmp_project.root / 'assay.yaml'}:2: stagse: unknown key 'stagse'; did you mean 'stages'?"
    ]
    assert "Traceback" not in proc.stderr


def test_debug_shows_traceback(tmp_project: TmpProject) -> None:
    tmp_project.gen({"assay.yaml": "project: x\nstagse: {}\n"})
    proc = tmp_project.run("--debug", "config", "check")
    assert proc.returncode == 2
    assert "Traceback" in proc.stderr


def test_unknown_command_is_usage_error(tmp_project: TmpProject) -> None:
    assert tmp_project.invoke("frobnicate").code == 2


def test_config_check_json(tmp_project: TmpProject) -> None:
    result = tmp_project.invoke("config", "check", "--json")
    assert result.code == 0, result.output
    assert json.loads(result.stdout)["project"] == "test"


def test_outside_project_is_usage_error(tmp_path: Path) -> None:
    proc = run_assay(["config", "check"], cwd=tmp_path)
    assert proc.returncode == 2
    assert "No assay.yaml" in proc.stderr and "assay init" in proc.stderr
