"""The shipped churn example: its contract on the generator's clean, broken and drifted batches,
``assay contract infer`` on its data, and its ``kind: validate`` stage gating the pipeline."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from types import ModuleType

import pytest

from assay import examples
from assay.contracts import (
    ContractReport,
    contract_yaml,
    infer_contract,
    load_contract,
    run_contract,
    source_for,
)
from tests.conftest import TmpProject, invoke

ROWS = 20_000


def _generate(root: Path, *args: str) -> None:
    subprocess.run([sys.executable, "generate.py", "--rows", str(ROWS), *args], cwd=root,
                   check=True, capture_output=True, timeout=120)


def _generator(root: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("churn_generate", root / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example's files with a clean batch (and its reference), a broken and a drifted one."""
    root = tmp_path_factory.mktemp("churn")
    for rel, content in examples.files("churn").items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    _generate(root)
    _generate(root, "--broken", "--out", "data/broken.parquet")
    _generate(root, "--drift", "--out", "data/drift.parquet")
    return root


def _validate(root: Path, contract: str, data: str) -> ContractReport:
    spec = load_contract(root / "contracts" / f"{contract}.yaml")
    reference = source_for(str(spec.reference), root) if spec.reference else None
    return run_contract(spec, source_for(data, root), reference=reference)


def _errors(report: ContractReport) -> list[str]:
    return [c.id for c in report.checks if c.is_error]


def test_generator_keeps_the_first_clean_batch_as_the_reference(example: Path) -> None:
    reference = (example / "data" / "reference.parquet").read_bytes()
    assert reference == (example / "data" / "churn.parquet").read_bytes()
    _generate(example, "--seed", "8", "--out", "data/other.parquet")
    assert (example / "data" / "reference.parquet").read_bytes() == reference


def test_shipped_contract_passes_on_the_generated_data(example: Path) -> None:
    report = _validate(example, "churn", "data/churn.parquet")
    assert report.passed and report.warnings == 0, [c.message for c in report.checks if c.failed]
    assert report.reference is not None and report.reference.endswith("data/reference.parquet")
    assert report.rows == ROWS and len(report.checks) == 56


def test_shipped_contract_fails_the_broken_batch(example: Path) -> None:
    report = _validate(example, "churn", "data/broken.parquet")
    assert _errors(report) == [
        "columns.customer_id.unique",
        "columns.customer_id.min",
        "columns.tenure_months.nullable",
        "columns.monthly_charges.min",
        "columns.contract.allowed",
        "checks[1].unique",
        "distribution.contract.new_categories",
    ]


def test_shipped_contract_fails_the_drifted_batch_on_drift(example: Path) -> None:
    report = _validate(example, "churn", "data/drift.parquet")
    assert _errors(report) == ["distribution.monthly_charges.drift", "distribution.contract.drift"]
    warned = sorted(c.id for c in report.checks if c.failed and c.severity == "warn")
    assert warned == ["distribution.payment_method.drift",
                      "distribution.payment_method.new_categories"]


def test_inferred_contract_passes_on_the_data_and_on_a_later_batch(example: Path) -> None:
    contract = infer_contract(source_for("data/churn.parquet", example), name="inferred")
    columns = contract["columns"]
    assert columns["senior_citizen"] == {"dtype": "int8", "nullable": False, "allowed": [0, 1]}
    assert columns["churned"]["allowed"] == [0, 1]
    assert columns["last_active"]["max"] > "2026-11-01T00:00:00"  # widened by the margin
    (example / "contracts" / "inferred.yaml").write_text(contract_yaml(contract, source="x"))
    report = _validate(example, "inferred", "data/churn.parquet")
    assert report.passed and report.warnings == 0, [c.message for c in report.checks if c.failed]

    generate = _generator(example)
    later = generate.generate(ROWS, seed=8, as_of=generate.AS_OF + timedelta(days=2))
    later.write_parquet(example / "data" / "later.parquet")
    report = _validate(example, "inferred", "data/later.parquet")
    assert report.passed and report.warnings == 0, [c.message for c in report.checks if c.failed]
    assert not _validate(example, "inferred", "data/broken.parquet").passed


@pytest.mark.slow
def test_example_pipeline_stops_at_validate_on_a_drifted_batch(tmp_path: Path) -> None:
    root = tmp_path / "churn"
    assert invoke(["init", "--example", "churn", root]).code == 0
    project = TmpProject(root)
    _generate(root)
    assert project.run("run", "validate").returncode == 0

    _generate(root, "--drift", "--out", "data/churn.parquet")  # the drifted batch lands
    proc = project.run("run")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "error: contract 'churn' (2 errors) failed; report: reports/validate/validate/report.html" \
        in output
    assert "1 failed, 6 skipped" in output
    assert not (root / "data" / "train.parquet").exists()  # prepare never ran
    report = json.loads((root / "reports" / "validate" / "validate" / "report.json").read_text())
    assert [c["id"] for c in report["checks"] if c["status"] == "fail" and c["severity"] == "error"] \
        == ["distribution.monthly_charges.drift", "distribution.contract.drift"]
