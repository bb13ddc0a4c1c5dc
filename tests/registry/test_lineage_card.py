"""Lineage (library, both backends), Mermaid, diffs and model cards."""

from __future__ import annotations

import time
from pathlib import Path

from assay.registry import diff, lineage, lineage_mermaid, model_card, promote, register
from assay.store import Store
from tests.conftest import store_connection
from tests.models.worlds import new_stage_run
from tests.registry.worlds import ML, config, make_package, oid_of, report_for

DATA_OID = "d" * 64


def _record_dataset_and_deployment(store: Store) -> None:
    from assay.store.tables import dataset_versions, rollouts

    now = time.time()
    with store_connection(store.url) as conn:
        conn.execute(dataset_versions.insert().values(
            name="churn", path="data/churn.parquet", hash=DATA_OID, kind="file", size=10,
            nfiles=1, actor=ML, created_at=now,
        ))
        conn.execute(rollouts.insert().values(
            deployment="local", model="churn", version=1, strategy="direct",
            state="completed", weight=1.0, actor=ML, details={}, started_at=now,
            updated_at=now, ended_at=now,
        ))


def test_lineage_links_data_run_stages_model_aliases_and_deployments(
    store: Store, store_url: str, cache_dir: Path, tmp_path: Path
) -> None:
    run_id, _ = new_stage_run(store_url, "train")
    package = make_package(tmp_path, "models/a", seed=1, run_id=run_id, data_oid=DATA_OID)
    result = register(store, name="churn", cache_dir=cache_dir, package_dir=package,
                      evaluation=report_for(oid_of(cache_dir, package)), author="someone-else",
                      alias="staging", config=config(team=[], promotion={}))
    assert result.version.run_id == run_id
    assert result.version.author == "tester@example.com"  # the actor of the training run
    _record_dataset_and_deployment(store)
    graph = lineage(store, "churn:1")
    assert graph["run"]["id"] == run_id and graph["run"]["actor"] == "tester@example.com"
    assert [s["stage"] for s in graph["stage_runs"]] == ["train"]
    assert graph["datasets"][0]["oid"] == DATA_OID
    assert [v["name"] for v in graph["datasets"][0]["versions"]] == ["churn"]
    assert graph["aliases"] == ["staging"]
    assert [d["target"] for d in graph["deployments"]] == ["local"]
    assert graph["evaluation"]["stage"] == "evaluate"
    assert graph["code"]["git_commit"] == f"{1:040d}"
    mermaid = lineage_mermaid(graph)
    assert mermaid.splitlines()[:2] == ["flowchart LR", '  mv["churn:1"]']
    for edge in ("ds0 --> st0", "run --> st0", "st0 --> mv", "ev --> mv", "mv --> al_staging",
                 "mv --> dep1"):
        assert f"  {edge}" in mermaid.splitlines()


def test_diff_covers_params_metrics_data_environment(
    store: Store, cache_dir: Path, tmp_path: Path
) -> None:
    for seed, auc, data in ((1, 0.8, "a" * 64), (2, 0.85, "b" * 64)):
        package = make_package(tmp_path, f"models/m{seed}", seed=seed, data_oid=data,
                               params={"seed": seed, "hyperparams": {"C": seed}})
        register(store, name="churn", cache_dir=cache_dir, package_dir=package,
                 evaluation=report_for(oid_of(cache_dir, package), auc=auc), author=ML)
    result = diff(store, "churn:1", "churn:2")
    changed = {s: [r["key"] for r in result[s] if r["changed"]] for s in
               ("params", "metrics", "data", "environment")}
    assert changed == {
        "params": ["hyperparams.C", "seed"],
        "metrics": ["holdout/all/roc_auc", "holdout/new_customers/roc_auc"],
        "data": ["churn"],
        "environment": ["git_commit", "model_hash"],
    }
    auc = next(r for r in result["metrics"] if r["key"] == "holdout/all/roc_auc")
    assert round(auc["delta"], 6) == 0.05


def test_model_card_has_every_section_and_escapes_html(
    store: Store, cache_dir: Path, tmp_path: Path
) -> None:
    package = make_package(tmp_path, "models/a", seed=1)
    register(store, name="churn", cache_dir=cache_dir, package_dir=package,
             evaluation=report_for(oid_of(cache_dir, package)), author=ML)
    cfg = config(models={"churn": {"intended_use": "Retention <script>alert(1)</script>",
                                   "limitations": "Synthetic data only."}})
    promote(store, cfg, "churn:1", to="staging", actor=ML)
    card = model_card(store, cfg, "churn:1")
    markdown = card.to_markdown()
    headings = [line for line in markdown.splitlines() if line.startswith("## ")]
    assert headings == [
        "## Overview", "## Intended use", "## Known limitations", "## Training data",
        "## Metrics per dataset and slice", "## Fairness", "## Gates", "## Lineage",
    ]
    assert "| holdout | new_customers | 0.6500 | 0.7500 |" in markdown
    assert "| roc_auc >= 0.75 | holdout | all | 0.8000 | >= 0.7500 | passed |" in markdown
    assert "- holdout: column gender, demographic_parity_difference 0.0300" in markdown
    html = card.to_html()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<td class='pass'>passed</td>" in html


def test_card_without_config_says_what_to_add(store: Store, cache_dir: Path, tmp_path: Path) -> None:
    package = make_package(tmp_path, "models/a", seed=1)
    register(store, name="churn", cache_dir=cache_dir, package_dir=package, author=ML)
    markdown = model_card(store, config(), "churn:1").to_markdown()
    assert "_Not stated: add it under `models: {NAME: {...}}` in assay.yaml._" in markdown
    assert "_No evaluation recorded._" in markdown


PREPARED = "c" * 64


def _pipeline_run(store: Store, stages: list[str]) -> str:
    """A finished run with one stage run per stage, as the runner records them."""
    import uuid

    from assay.store.tables import runs, stage_runs

    run_id, now = str(uuid.uuid4()), time.time()
    with store_connection(store.url) as conn:
        conn.execute(runs.insert().values(
            id=run_id, kind="pipeline", trigger="manual", status="succeeded", actor=ML,
            git_commit="f" * 40, started_at=now,
        ))
        for i, stage in enumerate(stages):
            conn.execute(stage_runs.insert().values(
                id=str(uuid.uuid4()), run_id=run_id, stage=stage, status="succeeded",
                started_at=now + i,
            ))
    return run_id


def _trained_from_versioned_data(store: Store, cache_dir: Path, tmp_path: Path) -> None:
    """churn:1 trained by a pipeline: prepare read churn v2, train read the prepared file."""
    from assay.store.tables import dataset_versions

    with store_connection(store.url) as conn:
        for oid in ("0" * 64, DATA_OID):  # churn v1, then v2 (the one trained on)
            conn.execute(dataset_versions.insert().values(
                name="churn", path="data/churn.parquet", hash=oid, kind="file", size=10,
                nfiles=1, actor=ML, created_at=time.time(),
            ))
    run_id = _pipeline_run(store, ["validate", "prepare", "train", "evaluate", "register"])
    datasets = [
        {"name": "data/train.parquet", "version": None, "hash": PREPARED, "oid": PREPARED,
         "path": "data/train.parquet", "role": "train", "stage": None},
        {"name": "churn", "version": 2, "hash": DATA_OID, "oid": DATA_OID,
         "path": "data/churn.parquet", "role": "upstream", "stage": "prepare"},
    ]
    package = make_package(tmp_path, "models/a", seed=1, run_id=run_id, datasets=datasets)
    register(store, name="churn", cache_dir=cache_dir, package_dir=package,
             evaluation=report_for(oid_of(cache_dir, package)), author=ML,
             alias="staging", config=config(team=[], promotion={}))


def test_lineage_shows_the_dataset_versions_a_pipeline_trained_on(
    store: Store, cache_dir: Path, tmp_path: Path
) -> None:
    _trained_from_versioned_data(store, cache_dir, tmp_path)
    graph = lineage(store, "churn:1")
    assert [(d["name"], d["version"], d["role"], d["stage"]) for d in graph["datasets"]] == [
        ("data/train.parquet", None, "train", None),
        ("churn", 2, "upstream", "prepare"),
    ]
    assert [v["version"] for v in graph["datasets"][1]["versions"]] == [2]
    mermaid = lineage_mermaid(graph).splitlines()
    assert '  ds0[("data/train.parquet cccccccccccc")]' in mermaid
    assert '  ds1[("churn v2  data/churn.parquet dddddddddddd")]' in mermaid
    # each dataset points at the stage run that read it; the model comes out of train
    assert [line for line in mermaid if "-->" in line] == [
        "  run --> st0", "  run --> st1", "  run --> st2", "  run --> st3", "  run --> st4",
        "  ds0 --> st2", "  ds1 --> st1", "  st2 --> mv", "  st3 --> ev", "  ev --> mv",
        "  mv --> al_staging",
    ]
    card = model_card(store, config(), "churn:1").to_markdown()
    assert "| churn | v2 | data/churn.parquet | dddddddddddddddd | upstream of prepare |" in card
    assert "| data/train.parquet | not recorded | data/train.parquet | cccccccccccccccc | train |" \
        in card


def test_lineage_cli_prints_data_then_run_then_model_then_aliases(
    store: Store, store_url: str, cache_dir: Path, tmp_path: Path
) -> None:
    from tests.conftest import invoke

    _trained_from_versioned_data(store, cache_dir, tmp_path)
    (tmp_path / "assay.yaml").write_text("project: t\n")
    result = invoke(["models", "lineage", "churn:1"], cwd=tmp_path,
                    env={"ASSAY_STORE_URL": store_url, "COLUMNS": "200"})
    assert result.code == 0, result.output
    run_id = lineage(store, "churn:1")["run_id"]
    lines = [line.strip("│├└─ ") for line in result.stdout.splitlines()]
    assert lines[:14] == [
        "lineage of churn:1",
        "dataset versions",
        "data/train.parquet  cccccccccccc  (train, not a recorded version)",
        "churn v2  data/churn.parquet  dddddddddddd  (read by prepare)",
        f"run {run_id} (succeeded, by ana@example.com, commit ffffffffffff)",
        "stage runs",
        "validate: succeeded",
        "prepare: succeeded",
        "train: succeeded",
        "evaluate: succeeded",
        "register: succeeded",
        lines[11],  # the package hash
        f"code {1:040d}  env eeeeeeeeeeeeeeee",
        "evaluation evaluate: train passed",
    ]
    assert lines[11].startswith("model churn:1  package ") and lines[11].endswith(" train")
    assert lines[14] == "aliases: @staging"
    assert lines[15].startswith("promote @staging by ana@example.com ")
    assert lines[16:] == ["deployments: none"]
