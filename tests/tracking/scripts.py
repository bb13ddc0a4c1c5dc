"""Helpers for tracking tests: run a training script as a real process, read runs back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from tests.conftest import TmpProject

# Logs params, a loss curve, two final metrics, tags and an artifact: argv = model depth roc_auc
SCRIPT = """
import sys
import assay
with assay.start_run(name="explore", tags={"team": "growth"}):
    assay.log_params({"lr": 0.1, "model": sys.argv[1]})
    assay.log_param("depth", int(sys.argv[2]))
    for step in range(20):
        assay.log_metric("loss", 1.0 / (step + 1), step=step)
    assay.log_metrics({"roc_auc": float(sys.argv[3]), "accuracy": 0.8})
    assay.set_tag("stage", "dev")
    open("notes.txt", "w").write("hello")
    assay.log_artifact("notes.txt")
"""


def script_env(project: TmpProject) -> dict[str, str]:
    return {**os.environ, **project.env}


def python(project: TmpProject, code: str, *args: str,
           timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``code`` as ``script.py`` in the project with a real interpreter."""
    script = project.root / "script.py"
    script.write_text(code)
    return subprocess.run([sys.executable, str(script), *args], cwd=project.root,
                          env=script_env(project), capture_output=True, text=True,
                          timeout=timeout, check=False)


def list_json(project: TmpProject, *args: str) -> list[dict[str, Any]]:
    result = project.invoke("runs", "list", "--json", *args)
    assert result.code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def show_json(project: TmpProject, ref: str) -> list[dict[str, Any]]:
    result = project.invoke("runs", "show", ref, "--json")
    assert result.code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def history(project: TmpProject, stage_run_id: str, key: str) -> list[float]:
    result = project.invoke("runs", "metric", stage_run_id, key, "--json")
    assert result.code == 0, result.output
    return [point["value"] for point in json.loads(result.stdout)["history"]]
