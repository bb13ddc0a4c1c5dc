"""``assay run --check-repro STAGE``: rerun from the same inputs and compare."""

from __future__ import annotations

import json

from tests.conftest import TmpProject

DETERMINISTIC = {"cmd": "echo '{\"acc\": 0.5}' > m.json; echo model > model.txt",
                 "outs": ["model.txt"], "metrics": ["m.json"]}
NOISY = {"cmd": "python -c \"import json, random; json.dump({'acc': 0.5 + random.random() * 1e-3}, "
                "open('m.json', 'w'))\"; echo model > model.txt",
         "outs": ["model.txt"], "metrics": ["m.json"]}


def test_deterministic_stage_is_reproducible(tmp_project: TmpProject) -> None:
    tmp_project.config(stages={"train": DETERMINISTIC})
    assert tmp_project.invoke("run").code == 0
    lock_before = (tmp_project.root / "assay.lock").read_text()
    result = tmp_project.invoke("run", "--check-repro", "train", "--json")
    assert result.code == 0, result.output
    body = json.loads(result.stdout)
    assert body["reproducible"] is True
    stage = body["stages"][0]
    assert stage["outs"]["model.txt"]["identical"] is True
    assert stage["metrics"]["acc"] == {"recorded": 0.5, "rerun": 0.5, "delta": 0.0, "within": True}
    assert (tmp_project.root / "assay.lock").read_text() == lock_before


def test_noisy_metrics_fail_exact_check_but_pass_within_tolerance(tmp_project: TmpProject) -> None:
    tmp_project.config(stages={"train": NOISY})
    assert tmp_project.invoke("run").code == 0
    recorded = (tmp_project.root / "m.json").read_text()
    exact = tmp_project.invoke("run", "--check-repro", "train")
    assert exact.code == 1
    assert "NOT reproducible" in exact.stdout and "DIFFERS" in exact.stdout
    assert (tmp_project.root / "m.json").read_text() == recorded  # workspace put back
    loose = tmp_project.invoke("run", "--check-repro", "train", "--tolerance", "0.01")
    assert loose.code == 0, loose.output
    assert "reproducible" in loose.stdout


def test_check_repro_of_a_stale_stage_says_run_first(tmp_project: TmpProject) -> None:
    tmp_project.config(stages={"train": DETERMINISTIC})
    result = tmp_project.invoke("run", "--check-repro", "train")
    assert result.code == 2
    assert "is stale (never run); run `assay run train` first" in result.stderr
