"""Fixtures for pipeline tests: small projects with real stages (shell commands)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TmpProject

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def _machine_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Per-machine caches (the environment fingerprint memo) for this test session only."""
    return tmp_path_factory.mktemp("xdg-cache")


@pytest.fixture(autouse=True)
def _test_kinds(monkeypatch: pytest.MonkeyPatch, _machine_cache: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(_machine_cache))
    monkeypatch.setenv("ASSAY_EXTRA_KINDS",
                       "tests.pipeline.kinds_fixture:KIND,tests.pipeline.kinds_fixture:PICK,"
                       "tests.pipeline.kinds_fixture:PROBE")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    monkeypatch.delenv("CI", raising=False)
    from assay.pipeline import _kinds

    _kinds._LOADED.clear()


def three_stages(project: TmpProject, **extra: Any) -> TmpProject:
    """prep -> train (matrix over model) -> report; every command counts its runs in runs.log."""
    project.gen({"params.yaml": {"seed": 7, "prep": {"rows": 10}, "train": {"trees": 5}}})
    stages: dict[str, Any] = {
        "prep": {
            "cmd": "echo prep >> runs.log && mkdir -p data && seq ${params.prep.rows} > data/prep.txt",
            "params": ["prep.rows"],
            "outs": ["data/prep.txt"],
        },
        "train": {
            "matrix": {"model": ["rf", "lr"]},
            "cmd": "echo ${stage} >> runs.log && mkdir -p models && "
                   "(cat data/prep.txt; echo ${matrix.model}) > models/${stage_slug}.txt && "
                   "echo '{\"acc\": 0.75}' > models/${stage_slug}.json",
            "deps": ["data/prep.txt"],
            "params": ["train.trees"],
            "outs": ["models/${stage_slug}.txt"],
            "metrics": ["models/${stage_slug}.json"],
        },
        "report": {
            "cmd": "echo report >> runs.log && cat models/*.txt > report.txt",
            "needs": ["train"],
            "outs": ["report.txt"],
        },
    }
    for name, changes in extra.items():
        stages[name] = {**stages.get(name, {}), **changes}
    project.config(stages=stages, profiles={"ci": {"params": {"prep.rows": 3}}})
    return project


def runs_log(project: TmpProject) -> list[str]:
    path = project.root / "runs.log"
    return path.read_text().split() if path.exists() else []


def lock(project: TmpProject) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((project.root / "assay.lock").read_text())
    return data
