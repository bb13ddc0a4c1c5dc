"""Fixtures for the CI tests: the churn example project, and the validators' executables."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import invoke

SCHEMAS = Path(__file__).parent / "schemas"
SEMAPHORE_SCHEMA = SCHEMAS / "semaphore-pipeline-v1.0.json"


def tool(name: str) -> str:
    """A validator installed by the dev extra, beside this interpreter (never skipped: a test
    that cannot validate must fail)."""
    found = Path(sys.executable).parent / name
    path = str(found) if found.exists() else shutil.which(name)
    assert path, f"{name} is not installed; run: pip install -e '.[dev]'"
    return path


def validate(kind: str, path: Path) -> subprocess.CompletedProcess[str]:
    """Run the validator for ``kind`` (github, gitlab, semaphore) on ``path``, offline. A
    GitHub workflow must pass actionlint and SchemaStore's workflow schema (vendored by
    check-jsonschema)."""
    if kind == "github":
        schema = subprocess.run([tool("check-jsonschema"), "--builtin-schema",
                                 "vendor.github-workflows", str(path)],
                                capture_output=True, text=True, check=False, timeout=120)
        if schema.returncode != 0:
            return schema
        args = [tool("actionlint"), "-no-color", "-shellcheck=", "-pyflakes=", str(path)]
    elif kind == "gitlab":
        args = [tool("check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci", str(path)]
    else:
        args = [tool("check-jsonschema"), "--schemafile", str(SEMAPHORE_SCHEMA), str(path)]
    return subprocess.run(args, capture_output=True, text=True, check=False, timeout=120)


@pytest.fixture
def churn(tmp_path: Path) -> Path:
    """The churn example project (assay init --example churn), not run."""
    root = tmp_path / "churn"
    assert invoke(["init", "--example", "churn", str(root)]).code == 0
    return root
