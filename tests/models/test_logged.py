"""log_model / load_model: packages in the cache, rows in the store, loading by any reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.linear_model import LogisticRegression
from sqlalchemy import select

import assay
from assay.errors import CorruptObject, ModelError
from assay.models import store_package
from assay.objects import LocalCache
from assay.store import open_store
from assay.store.tables import artifacts, logged_models
from tests.conftest import TmpProject, store_connection
from tests.models.worlds import FEATURES, churn_frame, fit_pipeline, new_stage_run, register_version


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return churn_frame(300)


def test_log_model_stores_the_package_and_records_it(project_on: TmpProject, frame: pl.DataFrame) -> None:
    model = fit_pipeline(LogisticRegression(), frame)
    project = project_on.load()
    logged = assay.log_model(
        model, "churn", input_example=frame.select(FEATURES).head(3), root=project.root,
        datasets=[{"name": "train", "path": "data/train.parquet", "oid": "x" * 64}],
    )
    assert logged.oid.endswith(".dir")
    assert LocalCache(project.cache_dir).verify(logged.oid)
    store = open_store(project.store_url)
    with store_connection(store.url) as conn:
        row = conn.execute(select(logged_models)).one()
    store.close()
    assert (row.name, row.hash, row.flavor, row.task) == ("churn", logged.oid, "sklearn", "classification")
    assert row.meta["lineage"]["datasets"][0]["name"] == "train"
    loaded = assay.load_model(str(logged.id), root=project.root)
    np.testing.assert_allclose(loaded.predict_proba(frame), model.predict_proba(frame.select(FEATURES)))


def test_a_model_logged_in_a_stage_run_is_an_artifact_and_loads_by_run_id(
    project_on: TmpProject, frame: pl.DataFrame, tmp_path: Path
) -> None:
    from assay.models import save_model

    project = project_on.load()
    run_id, stage_run_id = new_stage_run(project.store_url)
    package = save_model(
        fit_pipeline(LogisticRegression(), frame), tmp_path / "pkg", name="churn",
        input_example=frame.select(FEATURES).head(2),
    )
    logged = store_package(
        package, cache_dir=project.cache_dir, store_url=project.store_url,
        stage_run_id=stage_run_id, artifact_path="models/train",
    )
    store = open_store(project.store_url)
    with store_connection(store.url) as conn:
        art = conn.execute(select(artifacts)).one()
    store.close()
    assert (art.stage_run_id, art.kind, art.hash, art.path) == (stage_run_id, "model", logged.oid, "models/train")
    for ref in (run_id, stage_run_id, logged.oid):
        assert assay.load_model(ref, root=project.root).package.name == "churn"


def test_registry_versions_and_aliases_resolve_from_the_store(
    project_on: TmpProject, frame: pl.DataFrame
) -> None:
    project = project_on.load()
    logged = assay.log_model(
        fit_pipeline(LogisticRegression(), frame), "churn",
        input_example=frame.select(FEATURES).head(2), root=project.root,
    )
    register_version(project.store_url, "churn", 1, logged.oid, alias="production")
    by_version = assay.load_model("churn:1", root=project.root)
    by_alias = assay.load_model("churn@production", root=project.root)
    assert by_version.package.path == by_alias.package.path
    assert by_alias.package.path.is_relative_to(project.state_dir / "packages")
    with pytest.raises(ModelError, match="Model 'churn' has no alias 'staging'"):
        assay.load_model("churn@staging", root=project.root)
    with pytest.raises(ModelError, match="Model 'churn' has no version 7"):
        assay.load_model("churn:7", root=project.root)
    with pytest.raises(ModelError, match="No model matches 'nothing-here'"):
        assay.load_model("nothing-here", root=project.root)


def test_a_corrupt_cached_package_is_never_loaded(tmp_project: TmpProject, frame: pl.DataFrame) -> None:
    project = tmp_project.load()
    logged = assay.log_model(
        fit_pipeline(LogisticRegression(), frame), "churn",
        input_example=frame.select(FEATURES).head(2), root=project.root,
    )
    cache = LocalCache(project.cache_dir)
    entry = next(e for e in cache.manifest(logged.oid) if e.path == "model.skops")
    blob = cache.path_of(entry.oid)
    blob.chmod(0o644)
    blob.write_bytes(b"not a model")
    with pytest.raises(CorruptObject, match=r"model.skops is corrupt; run: assay fsck"):
        assay.load_model(logged.oid, root=project.root)


def test_log_model_refuses_a_path_outside_the_project(tmp_project: TmpProject, frame: pl.DataFrame) -> None:
    from assay.errors import UsageError

    with pytest.raises(UsageError, match=r"'..' is not allowed"):
        assay.log_model(
            fit_pipeline(LogisticRegression(), frame), "churn", path="../elsewhere",
            input_example=frame.select(FEATURES).head(2), root=tmp_project.root,
        )


def test_log_model_inside_a_tracking_run_attaches_to_its_stage_run(
    tmp_project: TmpProject, frame: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assay import tracking

    monkeypatch.chdir(tmp_project.root)
    with tracking.start_run(name="explore") as run:
        logged = assay.log_model(
            fit_pipeline(LogisticRegression(), frame), "churn",
            input_example=frame.select(FEATURES).head(2),
        )
        stage_run_id = run.stage_run_id
    project = tmp_project.load()
    store = open_store(project.store_url)
    with store_connection(store.url) as conn:
        row = conn.execute(select(logged_models)).one()
        art = conn.execute(select(artifacts).where(artifacts.c.kind == "model")).one()
    store.close()
    assert row.stage_run_id == stage_run_id == art.stage_run_id
    assert "run_id" not in logged.package.lineage  # the store row links the run, not the bytes
    assert assay.load_model(run.run_id, root=project.root).package.name == "churn"


def test_a_tampered_materialised_copy_is_replaced_from_the_cache(
    tmp_project: TmpProject, frame: pl.DataFrame
) -> None:
    project = tmp_project.load()
    logged = assay.log_model(
        fit_pipeline(LogisticRegression(), frame), "churn",
        input_example=frame.select(FEATURES).head(2), root=project.root,
    )
    first = assay.load_model(logged.oid, root=project.root)
    copy = first.package.path / "model.skops"
    copy.write_bytes(b"tampered")
    again = assay.load_model(logged.oid, root=project.root)
    assert again.package.path == first.package.path
    np.testing.assert_allclose(again.predict_proba(frame), first.predict_proba(frame))
