"""train -> evaluate -> register through a real ``assay run``, then promotion on the CLI."""

from __future__ import annotations

import json

import pytest

from tests.conftest import TmpProject
from tests.models.worlds import churn_frame
from tests.registry.worlds import ML, PLATFORM, POLICY, TEAM


@pytest.mark.slow
def test_pipeline_registers_selected_model_then_promotes(tmp_project: TmpProject) -> None:
    root = tmp_project.root
    (root / "data").mkdir()
    churn_frame(600, seed=1).write_parquet(root / "data" / "train.parquet")
    churn_frame(300, seed=2).write_parquet(root / "data" / "holdout.parquet")
    tmp_project.config(
        team=TEAM,
        promotion=POLICY,
        stages={
            "train": {"kind": "train", "estimator": "logistic_regression",
                      "data": "data/train.parquet", "target": "churned",
                      "features": ["tenure_months", "monthly_charges", "contract"]},
            "evaluate": {"kind": "evaluate", "candidates": ["train"],
                         "datasets": {"holdout": "data/holdout.parquet"}, "target": "churned",
                         "gates": [{"metric": "roc_auc", "min": 0.55, "dataset": "holdout"}],
                         "bootstrap": {"resamples": 20}},
            "register": {"kind": "register", "evaluation": "evaluate", "model": "churn",
                         "alias": "staging"},
        },
    )
    env = {"ASSAY_USER": ML}
    run = tmp_project.run("run", env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "registered churn:1 with alias staging" in run.stdout + run.stderr
    shown = json.loads(tmp_project.run("models", "show", "churn@staging", "--json", env=env).stdout)
    assert shown["version"] == 1 and shown["gates_passed"] is True
    assert shown["author"] == ML and shown["run_id"]
    refused = tmp_project.run("models", "promote", "churn:1", "--to", "production", env=env)
    assert refused.returncode == 1
    assert "lacks 1 approval from role 'platform'" in refused.stderr
    approved = tmp_project.run("models", "approve", "churn:1", "--for", "production",
                               env={"ASSAY_USER": PLATFORM})
    assert approved.returncode == 0, approved.stderr
    assert tmp_project.run("models", "promote", "churn:1", "--to", "production",
                           env=env).returncode == 0
    graph = json.loads(tmp_project.run("models", "lineage", "churn:1", "--json", env=env).stdout)
    assert [s["stage"] for s in graph["stage_runs"]] == ["train", "evaluate", "register"]
    assert graph["datasets"][0]["path"] == "data/train.parquet"
    assert sorted(graph["aliases"]) == ["production", "staging"]


@pytest.mark.slow
def test_register_is_cached_per_store_so_a_new_store_gets_the_version(
    tmp_project: TmpProject,
) -> None:
    root = tmp_project.root
    (root / "data").mkdir()
    churn_frame(400, seed=1).write_parquet(root / "data" / "train.parquet")
    churn_frame(200, seed=2).write_parquet(root / "data" / "holdout.parquet")
    tmp_project.config(stages={
        "train": {"kind": "train", "estimator": "logistic_regression",
                  "data": "data/train.parquet", "target": "churned",
                  "features": ["tenure_months", "monthly_charges", "contract"]},
        "evaluate": {"kind": "evaluate", "candidates": ["train"],
                     "datasets": {"holdout": "data/holdout.parquet"}, "target": "churned",
                     "bootstrap": {"resamples": 10}},
        "register": {"kind": "register", "evaluation": "evaluate", "model": "churn"},
    })

    def stages(*args: str) -> dict[str, str]:
        done = tmp_project.run("run", "--json", *args)
        assert done.returncode == 0, done.stdout + done.stderr
        return {s["stage"]: s["status"] for s in json.loads(done.stdout)["stages"]}

    def versions() -> list[int]:
        shown = tmp_project.run("models", "versions", "churn", "--json")
        return [v["version"] for v in json.loads(shown.stdout)] if shown.returncode == 0 else []

    assert stages()["register"] == "succeeded" and versions() == [1]
    # retraining gives the same package (byte-reproducible): registering it again is a no-op
    assert stages("--force")["register"] == "succeeded"
    assert versions() == [1]
    # A fresh clone with its own local store: the cache and the lock say everything is done,
    # but the registry is empty; only the store-bound stage runs again.
    for suffix in ("", "-wal", "-shm"):
        (root / ".assay" / f"assay.db{suffix}").unlink(missing_ok=True)
    status = tmp_project.run("status")
    assert "another metadata store" in status.stdout, status.stdout
    assert stages() == {"train": "up-to-date", "evaluate": "up-to-date",
                        "register": "succeeded"}
    assert versions() == [1]
    assert stages()["register"] == "up-to-date"
