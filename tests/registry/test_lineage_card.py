"""Lineage (library, both backends), Mermaid, diffs and model cards."""

from __future__ import annotations

import time
from pathlib import Path

from assay.registry import diff, lineage, lineage_mermaid, model_card, promote, register
from assay.store import Store
from tests.models.worlds import new_stage_run
from tests.registry.worlds import ML, config, make_package, oid_of, report_for

DATA_OID = "d" * 64


def _record_dataset_and_deployment(store: Store) -> None:
    from assay.store.tables import dataset_versions, deployments

    now = time.time()
    with store.write() as conn:
        conn.execute(dataset_versions.insert().values(
            name="churn", path="data/churn.parquet", hash=DATA_OID, kind="file", size=10,
            nfiles=1, actor=ML, created_at=now,
        ))
        conn.execute(deployments.insert().values(
            name="churn", version=1, target="local", state="serving", traffic=1.0, details={},
            created_at=now, updated_at=now,
        ))


def test_lineage_links_data_run_stages_model_aliases_and_deployments(
    store: Store, store_url: str, cache_dir: Path, tmp_path: Path
) -> None:
    run_id, _ = new_stage_run(store_url, "train")
    package = make_package(tmp_path, "models/a", seed=1, run_id=run_id, data_oid=DATA_OID)
    result = register(store, name="churn", cache_dir=cache_dir, package_dir=package,
                      evaluation=report_for(oid_of(cache_dir, package)), author="someone-else",
                      alias="staging", policies={})
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
    for edge in ("ds0 --> run", "run --> st0", "st0 --> mv", "ev --> mv", "mv --> al_staging",
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
