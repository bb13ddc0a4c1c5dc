"""A window is aggregated by the streaming engine, never collected: its decisions are those of
the direct computation on the rows held in memory (the contracts' value counts of every
column, the estimate by NumPy), and the newest N rows are found by timestamp histograms, not a
sort of the log."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tests.conftest import TmpProject
from tests.monitoring.worlds import live, make_project, training_frame, write_log


def _log(folder: Path) -> pl.DataFrame:
    """Every row the server logged, in memory, in the log's order."""
    frames = [pl.read_parquet(s) for s in sorted(folder.glob("segment-*.parquet"))]
    return pl.concat(frames).unnest("inputs")


@pytest.fixture
def world(tmp_project: TmpProject) -> TmpProject:
    return make_project(tmp_project)


def test_the_newest_rows_are_those_of_a_sort(world: TmpProject,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from assay.monitoring import _scan, scan_window

    # narrowed by histograms down to 50 timestamps, 4 buckets at a time
    monkeypatch.setattr(_scan, "_EXACT_ROWS", 50)
    monkeypatch.setattr(_scan, "_BUCKETS", 4)
    write_log(world.root, live(training_frame(5000, seed=1)), rows_per_request=7)
    folder = world.root / ".assay" / "predictions" / "toy"
    stamps = _log(folder).get_column("ts").sort(descending=True)
    for n in (1, 6, 7, 8, 700, 701, 4999, 5000, 6000):  # requests of 7 rows share their time
        got = scan_window(folder, "toy", rows=n).collect(engine="streaming")
        assert got.height == min(n, 5000), n
        assert got.get_column("ts").sort(descending=True).to_list() == stamps.head(n).to_list()


def test_a_streamed_window_decides_as_the_direct_computation(world: TmpProject) -> None:
    from assay.config import Project
    from assay.contracts import binned_counts, category_counts, compare_with_profile
    from assay.monitoring import reference_profile, resolve_reference, run_monitor
    from assay.monitoring._window import ColumnResult, correct
    from assay.store import open_store

    frame = live(training_frame(200_000, seed=3, shift=0.02)).with_columns(
        plan=pl.Series(np.random.default_rng(4).choice(["basic", "plus", "max"], 200_000)))
    write_log(world.root, frame, rows_per_request=1000)
    project = Project.load(world.root)
    with open_store(world.store_url or project.store_url) as store:
        run_monitor(project, store, "drift", actor="t")  # the prediction's baseline
        window = run_monitor(project, store, "drift", actor="t", rows=150_000)
        config = project.config.monitoring["drift"]
        deployment = project.config.deployments["toy-prod"]
        reference = resolve_reference(project, store, monitor="drift", text=None,
                                      deployment=deployment)
        profile = reference_profile(project, reference)
    from assay.monitoring._window import stored_baseline

    baseline = stored_baseline(project, "drift", reference)
    assert baseline is not None
    rows = _log(world.root / ".assay" / "predictions" / "toy").sort("ts").tail(150_000)
    direct = []
    for name in ("a", "b", "c", "plan", "prediction"):
        ref = baseline if name == "prediction" else profile.columns[name]
        col = pl.col(name)
        if ref.numeric:
            values = col.cast(pl.Float64)
            counts = binned_counts(values.filter(values.is_finite()), ref)
        else:
            counts = category_counts(col.drop_nulls())
        raw = rows.select(counts.alias("counts")).row(0)[0]
        _, _, current, drift = compare_with_profile(ref, raw, alpha=config.alpha)
        direct.append(ColumnResult(name, drift.status, statistic=drift.statistic,
                                   value=drift.value, p_value=drift.p_value,
                                   threshold=drift.threshold, values=int(sum(current))))
    corrected, verdict = correct(direct, alpha=config.alpha, correction=config.correction)

    def shown(columns: list[ColumnResult]) -> list[tuple[object, ...]]:
        return [(c.column, c.status, c.statistic, c.values) for c in columns]

    assert shown(window.columns) == shown(corrected)
    assert [c.p_value for c in window.columns] == pytest.approx(
        [c.p_value for c in corrected], rel=1e-9)
    assert [c.value for c in window.columns] == pytest.approx(
        [c.value for c in corrected], rel=1e-9)
    assert window.verdict == verdict == "drift"  # the unseen plan "max"
    assert window.rows == 150_000 and window.start == rows["ts"].min()
    confidence = rows.get_column("probabilities").arr.max().to_numpy()
    assert window.estimate is not None
    assert window.estimate["value"] == pytest.approx(float(np.mean(confidence)), rel=1e-12)
    assert window.estimate["rows"] == 150_000
