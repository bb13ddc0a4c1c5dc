"""A model is never loaded (to serve or evaluate it) from a corrupt cache object: the object is
quarantined and named, and logging the model again heals the cache."""

from __future__ import annotations

import polars as pl
import pytest
from sklearn.linear_model import LogisticRegression

import assay
from assay.errors import CorruptObject
from assay.objects import LocalCache
from tests.conftest import TmpProject
from tests.data.test_integrity import mangle
from tests.models.worlds import FEATURES, churn_frame, fit_pipeline


@pytest.mark.parametrize("kind", ["truncated", "flipped-byte", "other-object"])
def test_a_corrupt_model_object_is_quarantined_not_loaded(tmp_project: TmpProject,
                                                          kind: str) -> None:
    frame: pl.DataFrame = churn_frame(120)
    project = tmp_project.load()
    model = fit_pipeline(LogisticRegression(), frame)
    logged = assay.log_model(model, "churn", input_example=frame.select(FEATURES).head(2),
                             root=project.root)
    cache = LocalCache(project.cache_dir)
    entry = next(e for e in cache.manifest(logged.oid) if e.path == "model.skops")
    blob = cache.path_of(entry.oid)
    bad = mangle(blob.read_bytes(), kind, b"{}")
    blob.chmod(0o644)
    blob.write_bytes(bad)
    quarantined = project.state_dir / "quarantine" / entry.oid
    with pytest.raises(CorruptObject, match=rf"model.skops is corrupt; run: assay fsck \(the "
                                            rf"object was quarantined to {quarantined}\)"):
        assay.load_model(logged.oid, root=project.root)
    assert quarantined.read_bytes() == bad and not cache.exists(entry.oid)
    again = assay.log_model(model, "churn", input_example=frame.select(FEATURES).head(2),
                            root=project.root)
    assert again.oid == logged.oid
    assert assay.load_model(logged.oid, root=project.root).predict(frame.select(FEATURES)) \
        is not None
