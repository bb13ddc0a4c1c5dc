"""``assay monitor NAME``: a window of the prediction log against the reference, decided by the
contracts' drift engine, stored per window (both store backends), with its CLI exit codes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl
import pytest

from assay.errors import MonitoringError
from tests.conftest import TmpProject
from tests.monitoring.worlds import live, make_project, training_frame, write_log


def _run(project: TmpProject, **kwargs: object) -> object:
    from assay.config import Project
    from assay.monitoring import run_monitor
    from assay.store import open_store

    loaded = Project.load(project.root)
    with open_store(project.store_url or loaded.store_url) as store:
        return run_monitor(loaded, store, "drift", actor="tester@example.com", **kwargs)


def _statuses(window: object) -> dict[str, str]:
    return {c.column: c.status for c in window.columns}  # type: ignore[attr-defined]


@pytest.fixture
def world(tmp_project: TmpProject) -> TmpProject:
    return make_project(tmp_project)


def test_a_window_from_the_reference_distribution_does_not_drift(world: TmpProject) -> None:
    write_log(world.root, live(training_frame(2000, seed=1)))
    window = _run(world)
    assert window.verdict == "no_drift"  # type: ignore[attr-defined]
    assert _statuses(window) == {"a": "no_drift", "b": "no_drift", "c": "no_drift",
                                 "prediction": "insufficient_data"}  # the first: the baseline
    assert window.rows == 2000 and window.versions == ["1"]  # type: ignore[attr-defined]
    assert "train@v1" not in window.reference  # type: ignore[attr-defined]
    assert "training data of toy:1" in window.reference  # type: ignore[attr-defined]
    decided = {c.column: c for c in window.columns}  # type: ignore[attr-defined]
    assert decided["a"].statistic == "wasserstein" and decided["a"].values == 2000
    assert decided["b"].statistic == "wasserstein" and decided["b"].p_value is not None


def test_a_shifted_input_is_found_and_the_cli_exits_1(world: TmpProject) -> None:
    write_log(world.root, live(training_frame(2000, seed=1)))  # the prediction's baseline
    assert world.invoke("monitor", "drift").code == 0
    write_log(world.root, live(training_frame(2000, seed=2, shift=0.5)))
    done = world.invoke("monitor", "drift", "--window-rows", "2000", "--json")
    assert done.code == 1, done.output
    report = json.loads(done.stdout)
    statuses = {c["column"]: c["status"] for c in report["columns"]}
    assert report["verdict"] == "drift" and statuses["a"] == "drift"
    assert statuses["b"] == statuses["c"] == "no_drift"
    assert statuses["prediction"] == "drift"  # the answers moved with a
    assert report["rows"] == 2000 and report["id"] == 2


def test_the_table_shows_every_column(world: TmpProject) -> None:
    write_log(world.root, live(training_frame(2000, seed=1)))
    done = world.invoke("monitor", "drift")
    assert done.code == 0, done.output
    lines = done.stdout.splitlines()
    header = next(line for line in lines if line.lstrip().startswith("column"))
    assert header.split() == ["column", "statistic", "value", "p-value", "values", "status",
                              "note"]
    row_a = next(line for line in lines if line.lstrip().startswith("a "))
    assert row_a.split()[1] == "wasserstein" and row_a.split()[-1] == "no_drift"
    assert "verdict: no_drift" in done.stdout and "window #1 stored" in done.stdout


def test_the_second_window_does_not_read_the_reference(world: TmpProject) -> None:
    from assay.config import Project
    from assay.monitoring._reference import profile_path

    write_log(world.root, live(training_frame(2000, seed=1)))
    first = _run(world)
    loaded = Project.load(world.root)
    assert profile_path(loaded, first.reference_hash).is_file()  # type: ignore[attr-defined]
    # the reference is gone from the workspace and from the object cache
    (world.root / "data" / "train.parquet").unlink()
    import shutil

    shutil.rmtree(loaded.cache_dir)
    second = _run(world)
    assert second.verdict == "no_drift"  # type: ignore[attr-defined]
    inputs = slice(0, 3)  # the same window, so the same decisions (the prediction now has
    # the first window as its baseline)
    assert [c.to_dict() for c in second.columns][inputs] == [  # type: ignore[attr-defined]
        c.to_dict() for c in first.columns][inputs]  # type: ignore[attr-defined]


def test_a_reference_that_is_gone_before_its_profile_names_the_fix(world: TmpProject) -> None:
    from assay.config import Project

    write_log(world.root, live(training_frame(200, seed=1)))
    import shutil

    shutil.rmtree(Project.load(world.root).cache_dir)
    with pytest.raises(MonitoringError, match=r"not in the cache; .*assay data pull"):
        _run(world)
    done = world.invoke("monitor", "drift")
    assert done.code == 2 and len(done.stderr.strip().splitlines()) == 1, done.output


def test_a_named_dataset_version_is_the_reference(tmp_project: TmpProject) -> None:
    world = make_project(tmp_project, reference="train@v1")
    write_log(world.root, live(training_frame(500, seed=1)))
    window = _run(world)
    assert window.reference.startswith("train@v1 (data/train.parquet, ")  # type: ignore[attr-defined]
    assert window.verdict == "no_drift"  # type: ignore[attr-defined]


def test_a_small_window_is_insufficient_data_and_never_an_alert(world: TmpProject) -> None:
    write_log(world.root, live(training_frame(20, seed=1)))
    done = world.invoke("monitor", "drift", "--json")
    assert done.code == 0, done.output
    report = json.loads(done.stdout)
    assert report["verdict"] == "insufficient_data"
    assert {c["status"] for c in report["columns"]} == {"insufficient_data"}
    assert "20 values (fewer than 30)" in report["columns"][0]["reason"]


def test_missing_and_retyped_columns_are_schema_mismatches(tmp_project: TmpProject) -> None:
    world = make_project(tmp_project, columns=["a", "b", "c", "plan", "nowhere"])
    frame = live(training_frame(500, seed=1)).with_columns(pl.col("b").cast(pl.String))
    write_log(world.root, frame)
    window = _run(world)
    decided = {c.column: c for c in window.columns}  # type: ignore[attr-defined]
    assert {k: c.status for k, c in decided.items()} == {
        "a": "no_drift", "b": "schema_mismatch", "c": "no_drift", "plan": "schema_mismatch",
        "nowhere": "schema_mismatch", "prediction": "insufficient_data"}
    assert decided["b"].reason == "column 'b' is String here but numeric in the reference"
    assert decided["plan"].reason == "column 'plan' is missing from the prediction log"
    assert decided["nowhere"].reason == "column 'nowhere' is not in the reference"
    assert window.verdict == "schema_mismatch"  # type: ignore[attr-defined]
    assert world.invoke("monitor", "drift").code == 1  # a failed check, like drift


def test_null_and_infinite_values_are_not_compared(world: TmpProject) -> None:
    frame = live(training_frame(300, seed=1)).with_columns(
        pl.when(pl.int_range(pl.len()) % 3 == 0).then(math.inf).otherwise(pl.col("a"))
        .alias("a"),
        pl.lit(None, dtype=pl.Float64).alias("c"))
    write_log(world.root, frame)
    window = _run(world)
    decided = {c.column: c for c in window.columns}  # type: ignore[attr-defined]
    assert decided["a"].values == 200 and decided["a"].status == "no_drift"
    assert decided["c"].status == "insufficient_data"
    assert decided["c"].reason == "no values to compare"


def test_a_missing_log_is_a_one_line_error_and_an_empty_one_insufficient(
        world: TmpProject) -> None:
    done = world.invoke("monitor", "drift")
    assert done.code == 2, done.output
    assert done.stderr.strip().count("\n") == 0
    assert "no prediction log for model 'toy'" in done.stderr
    assert "assay serve --deployment" in done.stderr
    (world.root / ".assay" / "predictions" / "toy").mkdir(parents=True)
    empty = world.invoke("monitor", "drift", "--json")
    assert empty.code == 0, empty.output
    assert json.loads(empty.stdout)["verdict"] == "insufficient_data"
    write_log(world.root, live(training_frame(500, seed=1)))
    recent = world.invoke("monitor", "drift", "--since", "2026-01-01T00:00", "--json")
    assert json.loads(recent.stdout)["rows"] == 500
    later = world.invoke("monitor", "drift", "--since", "2999-01-01T00:00", "--json")
    assert later.code == 0 and json.loads(later.stdout)["rows"] == 0


def test_usage_errors_exit_2(world: TmpProject) -> None:
    write_log(world.root, live(training_frame(100, seed=1)))
    for args, words in (
        (("monitor", "nope"), "no monitor 'nope'"),
        (("monitor", "drift", "--since", "soon"), "--since 'soon'"),
        (("monitor", "drift", "--since", "1h", "--window-rows", "5"), "one of --window-rows"),
        (("monitor", "history"), "assay monitor history NAME"),
    ):
        done = world.invoke(*args)
        assert done.code == 2, (args, done.output)
        assert words in done.stderr, (args, done.stderr)


def test_the_html_report_plots_each_column(world: TmpProject, tmp_path: Path) -> None:
    write_log(world.root, live(training_frame(500, seed=1)))
    report = tmp_path / "drift.html"
    done = world.invoke("monitor", "drift", "--html", report)
    assert done.code == 0, done.output
    page = report.read_text()
    assert page.count("<img alt=") == 3 and "data:image/png;base64," in page
    assert "assay monitor drift: no_drift" in page


def test_a_shadow_variants_rows_are_not_the_traffic(world: TmpProject) -> None:
    write_log(world.root, live(training_frame(400, seed=1)))
    write_log(world.root, live(training_frame(300, seed=2, shift=2.0)), version="2",
              variant="shadow")
    window = _run(world)
    assert (window.rows, window.versions, window.verdict) == (  # type: ignore[attr-defined]
        400, ["1"], "no_drift")


def test_another_servers_traffic_of_the_model_is_not_the_deployments(world: TmpProject) -> None:
    """A plain `assay serve churn@production` writes to the same folder as the deployment's
    server: its rows (here shifted) are not the deployment's traffic."""
    write_log(world.root, live(training_frame(400, seed=1)))
    write_log(world.root, live(training_frame(300, seed=2, shift=2.0)), deployment=None)
    write_log(world.root, live(training_frame(300, seed=3, shift=2.0)), deployment="other")
    window = _run(world)
    assert (window.rows, window.verdict) == (400, "no_drift")  # type: ignore[attr-defined]


def test_nested_values_are_a_schema_mismatch_not_a_traceback() -> None:
    from assay.contracts import ColumnProfile
    from assay.monitoring._window import ColumnResult, column_cells

    schema = dict(pl.DataFrame({"prediction": [[0.1, 0.9]] * 40}).schema)
    ref = ColumnProfile("prediction", False, [40.0], labels=["1"], categories=["1"])
    decided = column_cells(schema, "prediction", ref, role="prediction")
    assert isinstance(decided, ColumnResult)
    assert (decided.status, decided.reason) == (
        "schema_mismatch", "column 'prediction' holds List(Float64) values, which are not compared")


def test_an_unknown_reference_names_the_fix(tmp_project: TmpProject) -> None:
    world = make_project(tmp_project, reference="train@v7")
    write_log(world.root, live(training_frame(100, seed=1)))
    done = world.invoke("monitor", "drift")
    assert done.code == 2, done.output
    assert "reference 'train@v7' is not a recorded dataset version" in done.stderr
    assert done.stderr.strip().count("\n") == 0


def test_feedback_labels_give_the_windows_realised_accuracy(world: TmpProject) -> None:
    frame = live(training_frame(300, seed=1))
    truth = (frame["a"] + frame["c"] * 0.5 > 0).cast(pl.Int64).to_list()  # the model's answers
    labels: dict[int, object] = {i: truth[i] for i in range(200)}
    labels.update({i: 1 - truth[i] for i in range(150, 200)})  # 50 of 200 answers were wrong
    labels[10] = None  # a label that scores nothing
    write_log(world.root, frame, rows_per_request=1, labels=labels)
    write_log(world.root, live(training_frame(100, seed=2)), rows_per_request=100,
              labels={0: 1})  # a request of 100 rows: its label cannot say which row
    done = world.invoke("monitor", "drift", "--json")
    assert done.code == 0, done.output
    assert json.loads(done.stdout)["quality"] == {"metric": "accuracy", "value": 149 / 199,
                                                  "labels": 199}
    table = world.invoke("monitor", "drift")
    assert "live accuracy: 0.7487 on 199 labelled requests (feedback)" in table.stdout


def test_no_labels_no_quality(world: TmpProject) -> None:
    write_log(world.root, live(training_frame(100, seed=1)))
    assert _run(world).quality is None  # type: ignore[attr-defined]


def test_a_duration_window_skips_segments_closed_before_it(world: TmpProject) -> None:
    import time

    from assay.monitoring import scan_window

    def rows(**window: float) -> int:
        lf = scan_window(folder, "toy", **window)  # type: ignore[arg-type]
        return int(lf.select(pl.len()).collect(engine="streaming").item())

    write_log(world.root, live(training_frame(100, seed=1)))
    folder = world.root / ".assay" / "predictions" / "toy"
    old = sorted(folder.glob("segment-*.parquet"))
    time.sleep(0.05)
    start = time.time()
    write_log(world.root, live(training_frame(50, seed=2)))
    for segment in old:  # unreadable now: a window that opened it would fail
        segment.write_bytes(b"not parquet")
    assert rows(seconds=time.time() - start + 0.01) == 50
    with pytest.raises(MonitoringError, match=r"the prediction log at .* cannot be read"):
        rows(rows=1000)
