"""Data quality of a window against the reference dataset's contract: its row checks (ranges,
nulls, allowed values, types) run over the window's inputs in the window's one pass; a window
that fails an error check exits 1 and lists the failed checks, with their failing rows; a clean
window passes; ``contract: false`` checks none."""

from __future__ import annotations

import json
from typing import Any

import polars as pl
import pytest
import yaml

from tests.conftest import TmpProject
from tests.monitoring.test_live import _send
from tests.monitoring.worlds import live, make_project, training_frame, write_log
from tests.serving.worlds import serving

CONTRACT = {
    "columns": {
        "a": {"dtype": "float64", "min": -6, "max": 6},
        "b": {"dtype": "int64", "allowed": list(range(10)), "unique": True},
        "c": {"nullable": False, "max": {"value": 100, "severity": "warn"}},
        "plan": {"allowed": ["basic"]},  # not an input of the model: not in the log
    },
    "checks": [{"row_count": {"min": 1_000_000}}],
}


def _with_contract(world: TmpProject, *, monitor: dict[str, Any] | None = None) -> TmpProject:
    path = world.root / "assay.yaml"
    config = yaml.safe_load(path.read_text())
    config["contracts"] = {"train-rules": {"data": "train"}}
    config["monitoring"]["drift"].update(monitor or {})
    world.gen({"assay.yaml": yaml.safe_dump(config, sort_keys=False),
               "contracts/train-rules.yaml": yaml.safe_dump(CONTRACT, sort_keys=False)})
    return world


def _dirty(n: int, seed: int) -> pl.DataFrame:
    """``n`` rows like the training data, then 7 rows with a out of range, 5 with b an unknown
    code and 3 with c null (and 2 with c above the warn-only bound)."""
    frame = live(training_frame(n, seed=seed))
    bad = frame.head(17).with_row_index("i").with_columns(
        a=pl.when(pl.col("i") < 7).then(pl.lit(50.0)).otherwise(pl.col("a")),
        b=pl.when(pl.col("i").is_between(7, 11)).then(pl.lit(42)).otherwise(pl.col("b")),
        c=pl.when(pl.col("i").is_between(12, 14)).then(pl.lit(None, pl.Float64))
        .when(pl.col("i") >= 15).then(pl.lit(500.0)).otherwise(pl.col("c")),
    ).drop("i")
    return pl.concat([frame, bad])


def _checks(report: dict[str, Any]) -> dict[str, tuple[bool, int | None]]:
    return {c["check"]: (c["passed"], c["failed_rows"]) for c in report["quality_checks"]}


def test_a_served_window_with_bad_rows_fails_its_contract_with_the_counts(
        tmp_project: TmpProject) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    # a model that answers rows with missing values, so the server logs them
    world = _with_contract(make_project(tmp_project, estimator=HistGradientBoostingClassifier(
        max_iter=10, random_state=0)))
    folder = world.root / ".assay" / "predictions" / "toy"
    frame = _dirty(400, seed=5)
    with serving(world.root, "--deployment", "toy-prod", "--log-segment-seconds", "0.5") as server:
        _send(server, frame, folder)
    done = world.invoke("monitor", "drift", "--json", "--html", world.root / "w.html")
    assert done.code == 1, done.output
    report = json.loads(done.stdout)
    assert report["verdict"] == "no_drift" and report["rows"] == 417
    assert (report["data_quality"], report["contract"]) == ("fail", "train-rules")
    assert _checks(report) == {
        "columns.a.dtype": (True, None), "columns.a.min": (True, 0),
        "columns.a.max": (False, 7),
        "columns.b.dtype": (True, None), "columns.b.allowed": (False, 5),
        "columns.c.nullable": (False, 3), "columns.c.max": (False, 2),
    }  # no unique, no row count: they speak of a whole dataset, not a window
    assert {c["rows"] for c in report["quality_checks"]} == {417}
    text = world.invoke("monitor", "drift")
    assert text.code == 1
    assert "data quality: fail (contract train-rules: 7 checks, 4 failed)" in text.stdout
    assert "columns.b.allowed" in text.stdout and "5 of 417 rows fail" in text.stdout
    page = (world.root / "w.html").read_text()
    assert "data quality: <span class='fail'>fail</span>" in page
    assert "columns.c.nullable" in page
    history = json.loads(world.invoke("monitor", "history", "drift", "--json").stdout)
    assert [w["data_quality"] for w in history["windows"]] == ["fail", "fail"]
    assert _checks(history["windows"][0]) == _checks(report)


def test_a_clean_window_passes_its_contract(tmp_project: TmpProject) -> None:
    world = _with_contract(make_project(tmp_project))
    frame = live(training_frame(400, seed=1))
    write_log(world.root, frame.with_columns(c=pl.col("c").clip(-99, 99)))
    done = world.invoke("monitor", "drift", "--json")
    assert done.code == 0, done.output
    report = json.loads(done.stdout)
    assert report["data_quality"] == "pass"
    assert all(passed for passed, _ in _checks(report).values())
    assert "data quality: pass" in world.invoke("monitor", "drift").stdout


def test_a_warning_check_alone_does_not_fail_the_window(tmp_project: TmpProject) -> None:
    world = _with_contract(make_project(tmp_project))
    frame = live(training_frame(400, seed=1))
    write_log(world.root, frame.with_columns(c=pl.col("c") * 1000))
    report = json.loads(world.invoke("monitor", "drift", "--json", "--window-rows", "400")
                        .stdout)
    assert report["data_quality"] == "pass"
    assert _checks(report)["columns.c.max"][0] is False


@pytest.mark.parametrize("setting", [False, "train-rules"], ids=["off", "named"])
def test_the_monitors_contract_option(tmp_project: TmpProject, setting: Any) -> None:
    world = _with_contract(make_project(tmp_project), monitor={"contract": setting})
    write_log(world.root, _dirty(400, seed=5))
    done = world.invoke("monitor", "drift", "--json")
    report = json.loads(done.stdout)
    if setting is False:
        assert done.code == 0, done.output
        assert (report["data_quality"], report["quality_checks"]) == (None, [])
        assert "data quality" not in world.invoke("monitor", "drift").stdout
    else:
        assert done.code == 1 and report["data_quality"] == "fail"


def test_an_unknown_contract_names_the_fix(tmp_project: TmpProject) -> None:
    world = _with_contract(make_project(tmp_project), monitor={"contract": "train-rulez"})
    write_log(world.root, live(training_frame(100, seed=1)))
    done = world.invoke("monitor", "drift")
    assert done.code == 2, done.output
    assert "no contract 'train-rulez'" in done.stderr and "train-rules" in done.stderr


def test_no_contract_for_the_reference_no_data_quality(tmp_project: TmpProject) -> None:
    world = make_project(tmp_project)
    write_log(world.root, live(training_frame(100, seed=1)))
    report = json.loads(world.invoke("monitor", "drift", "--json").stdout)
    assert report["data_quality"] is None and report["contract"] is None
