"""The bundled churn example end to end on a small data size, as real processes: generate ->
version the data -> assay run (validate, prepare, train x3, evaluate, register) -> approve ->
promote, with assay doctor before and after production is held."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_assay

AUTHOR = "demo@example.com"  # ml and platform roles in the example's team:
PLATFORM = "plat@example.com"


def _assay(root: Path, *args: str, user: str = AUTHOR) -> subprocess.CompletedProcess[str]:
    # `python prepare.py` (a cmd stage) must find this interpreter, as under `make demo`
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return run_assay(list(args), cwd=root, env={"ASSAY_USER": user, "PATH": path}, timeout=600)


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.slow
def test_example_trains_registers_and_promotes_with_approval(tmp_path: Path) -> None:
    root = tmp_path / "churn"
    _ok(_assay(tmp_path, "init", "--example", "churn", str(root)))
    subprocess.run([sys.executable, "generate.py", "--rows", "5000"], cwd=root, check=True,
                   capture_output=True)
    _ok(_assay(root, "data", "add", "data/churn.parquet"))

    run = _assay(root, "run", "-j", "2")
    output = _ok(run) + run.stderr
    assert "registered churn:1 with alias staging" in output
    registration = json.loads((root / "reports/register/registration.json").read_text())
    assert (registration["version"], registration["aliases"]) == (1, ["staging"])
    shown = json.loads(_ok(_assay(root, "models", "show", "churn@staging", "--json")))
    assert (shown["version"], shown["gates_passed"], shown["author"]) == (1, True, AUTHOR)
    evaluation = json.loads((root / "reports/evaluate/evaluation.json").read_text())
    assert shown["model_hash"] == evaluation["selected"]["oid"]

    doctor = json.loads(_ok(_assay(root, "doctor", "--json")))
    assert doctor["findings"] == []  # nothing holds production yet

    refused = _assay(root, "models", "promote", "churn:1", "--to", "production")
    assert refused.returncode == 1
    assert "lacks 1 approval from role 'platform'" in refused.stderr
    own = _assay(root, "models", "approve", "churn:1", "--for", "production")
    assert own.returncode == 1
    assert own.stderr == (
        "error: demo@example.com is the author of churn:1 and the policy for production forbids "
        "approving one's own model; ask another member to approve\n"
    )
    _ok(_assay(root, "models", "approve", "churn:1", "--for", "production", user=PLATFORM))
    assert "promoted churn@production -> v1" in _ok(
        _assay(root, "models", "promote", "churn:1", "--to", "production")
    )
    shown = json.loads(_ok(_assay(root, "models", "show", "churn:1", "--json")))
    assert shown["aliases"] == ["production", "staging"]
    assert [(a["actor"], a["decision"]) for a in shown["approvals"]] == [(PLATFORM, "approve")]

    graph = json.loads(_ok(_assay(root, "models", "lineage", "churn:1", "--json")))
    upstream = [(d["name"], d["version"], d["stage"]) for d in graph["datasets"]
                if d["role"] == "upstream"]
    assert ("churn", 1, "prepare") in upstream
    assert {s["stage"] for s in graph["stage_runs"]} >= {"validate", "prepare", "evaluate"}

    doctor = json.loads(_ok(_assay(root, "doctor", "--json")))
    assert [(f["rule"], f["message"]) for f in doctor["findings"]] == [(
        "no-drift-monitoring",
        "churn@production (v1) serves users, but no monitoring: entry for 'production' says "
        "where its drift is watched",
    )]
