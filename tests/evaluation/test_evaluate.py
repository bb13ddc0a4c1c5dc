"""Evaluation: candidates x datasets x slices, fairness, champion comparison, gates, selection."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import numpy as np
import polars as pl
import pytest
from pydantic import ValidationError
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from assay.errors import EvaluationError
from assay.evaluation import Candidate, EvaluateOptions, evaluate, to_junit, to_markdown
from assay.models import save_model
from tests.models.worlds import FEATURES, churn_frame, fit_pipeline, save_candidate

REPORT_KEYS = [
    "baseline", "candidates", "champion", "multiplicity", "passed", "pos_label", "positive_class",
    "primary_metric", "selected", "stage",
]
CANDIDATE_KEYS = [
    "candidate", "comparison", "fairness", "gates", "is_champion", "metrics", "oid", "package",
    "passed",
]
GATE_KEYS = ["bound", "dataset", "detail", "gate", "metric", "op", "passed", "slice", "value"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("eval") / "project"
    (root / "data").mkdir(parents=True)
    (root / "assay.yaml").write_text("project: eval\ndatasets:\n  bench: data/benchmark.parquet\n")
    train = churn_frame(1500, seed=1)
    churn_frame(800, seed=2).write_parquet(root / "data" / "holdout.parquet")
    churn_frame(800, seed=3, shift=5).write_parquet(root / "data" / "benchmark.parquet")
    save_candidate(root, "models/lr", LogisticRegression(), train, name="train[model=lr]")
    save_candidate(root, "models/rf", RandomForestClassifier(n_estimators=30, max_depth=5, random_state=0),
                   train, name="train[model=rf]")
    save_candidate(root, "models/weak", LogisticRegression(), train, features=["gender", "customer_id"],
                   name="weak")
    return root


def _options(**overrides: Any) -> EvaluateOptions:
    base: dict[str, Any] = {
        "candidates": ["train"],
        "datasets": {"holdout": "data/holdout.parquet", "benchmark": "bench"},
        "target": "churned",
        "slices": {"new": "tenure_months < 12", "monthly": 'pl.col("contract") == "monthly"'},
        "fairness": {"column": "gender"},
        "gates": [{"metric": "roc_auc", "min": 0.6, "dataset": "holdout"}],
        "select": {"metric": "roc_auc", "dataset": "holdout"},
        "bootstrap": {"resamples": 200},
    }
    return EvaluateOptions.model_validate({**base, **overrides})


def _cands(root: Path, *names: str) -> list[Candidate]:
    return [Candidate(name=n, package=root / "models" / n) for n in names]


def _champion(root: Path, name: str = "lr") -> Candidate:
    return Candidate(name=f"champion ({name})", package=root / "models" / name, is_champion=True,
                     ref=f"models/{name}")


def test_report_has_the_documented_shape_and_selects_the_best(world: Path) -> None:
    result = evaluate(
        _options(gates=[
            {"metric": "roc_auc", "min": 0.6, "dataset": "holdout"},
            {"beats_champion": {"metric": "roc_auc", "min_delta": -0.5}, "dataset": "holdout"},
            {"metric": "latency_ms_per_row", "max": 50},
            {"metric": "demographic_parity_difference", "max": 0.5},
        ]),
        _cands(world, "rf", "weak"), root=world, stage="evaluate", champion=_champion(world),
        datasets={"bench": type("D", (), {"path": "data/benchmark.parquet"})()},
    )
    report = json.loads(json.dumps(result.report))
    assert sorted(report) == REPORT_KEYS
    assert report["passed"] is True
    assert report["selected"]["candidate"] == "rf"
    assert report["primary_metric"] == {"name": "roc_auc", "dataset": "holdout", "slice": "all"}
    assert report["champion"]["ref"] == "models/lr"
    assert [c["candidate"] for c in report["candidates"]] == ["champion (lr)", "rf", "weak"]
    for cand in report["candidates"]:
        assert sorted(cand) == CANDIDATE_KEYS
        assert all(sorted(g) == GATE_KEYS for g in cand["gates"])
    rf = report["candidates"][1]
    assert sorted(rf["metrics"]) == ["benchmark", "holdout"]
    assert sorted(rf["metrics"]["holdout"]) == ["all", "monthly", "new"]
    everything = rf["metrics"]["holdout"]["all"]
    for metric in ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss", "brier",
                   "ece", "tp", "fp", "tn", "fn", "rows", "latency_ms_per_row", "model_size_mb",
                   "demographic_parity_difference", "equalized_odds_difference"):
        assert metric in everything, metric
    assert everything["rows"] == 800
    assert rf["metrics"]["holdout"]["new"]["rows"] < 800
    assert sorted(rf["fairness"]["holdout"]["groups"]) == ["female", "male"]
    comparison = rf["comparison"]["holdout"]["roc_auc"]
    assert sorted(comparison) == ["confidence", "delta", "high", "low"]
    assert comparison["low"] <= comparison["high"]
    weak = report["candidates"][2]
    assert weak["metrics"]["holdout"]["all"]["roc_auc"] < everything["roc_auc"]
    champion = report["candidates"][0]
    assert champion["is_champion"] and champion["comparison"] == {}


def test_a_gate_beyond_reach_fails_every_candidate_and_says_which(world: Path) -> None:
    result = evaluate(
        _options(gates=[{"metric": "roc_auc", "min": 0.99, "dataset": "holdout"}]),
        _cands(world, "rf", "lr"), root=world,
    )
    assert result.passed is False and result.report["selected"] is None
    summary = result.failure_summary()
    assert "rf: roc_auc >= 0.99: roc_auc = " in summary
    assert "lr: roc_auc >= 0.99" in summary


def test_beats_champion_needs_the_lower_bound_to_clear_min_delta(world: Path) -> None:
    options = _options(gates=[{"beats_champion": {"metric": "roc_auc", "min_delta": 0.0}}])
    result = evaluate(options, [Candidate("lr-again", world / "models" / "lr")], root=world,
                      champion=_champion(world))
    gate = result.report["candidates"][1]["gates"][0]
    assert gate["passed"] is False  # identical to the champion: no improvement
    assert gate["op"] == "improvement_low >" and gate["value"] == pytest.approx(0.0, abs=1e-9)
    better = evaluate(options, _cands(world, "rf"), root=world, champion=_champion(world, "weak"))
    assert better.report["candidates"][1]["gates"][0]["passed"] is True


def test_max_regression_allows_a_small_drop(world: Path) -> None:
    options = _options(gates=[{"max_regression": {"metric": "log_loss", "max_delta": 0.5}}])
    result = evaluate(options, _cands(world, "weak"), root=world, champion=_champion(world, "rf"))
    gate = result.report["candidates"][1]["gates"][0]
    assert gate["passed"] is True and gate["value"] < 0


def test_no_champion_skips_comparison_gates(world: Path) -> None:
    options = _options(gates=[{"beats_champion": {"metric": "roc_auc"}}])
    result = evaluate(options, _cands(world, "rf"), root=world)
    gate = result.report["candidates"][0]["gates"][0]
    assert gate["passed"] is True and "no champion yet" in gate["detail"]


@pytest.mark.parametrize(
    "overrides",
    [{"gates": [{"metric": "roc_acu", "min": 0.5}]},
     {"gates": [{"beats_champion": {"metric": "roc_acu"}}]},
     {"select": {"metric": "roc_acu"}},
     {"compare": ["roc_acu"]},
     {"fairness": {"column": "gender", "metrics": ["roc_acu"]}}],
    ids=["gate", "beats-champion", "select", "compare", "fairness"],
)
def test_a_misspelt_metric_is_refused_with_a_suggestion_before_anything_runs(
    overrides: dict[str, Any],
) -> None:
    with pytest.raises(ValidationError, match=r"unknown metric 'roc_acu'; did you mean 'roc_auc'\?"):
        _options(**overrides)


def test_a_metric_of_another_task_is_refused_once_the_task_is_known(world: Path) -> None:
    with pytest.raises(EvaluationError, match=r"gates\[0\]: unknown metric 'rmse'; known: accuracy"):
        evaluate(_options(gates=[{"metric": "rmse", "max": 0.5}]), _cands(world, "rf"), root=world)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"gates": [{"metric": "roc_auc", "min": 0.5, "dataset": "holdot"}]}, "unknown dataset 'holdot'"),
        ({"gates": [{"metric": "roc_auc", "min": 0.5, "slice": "neww"}]}, "unknown slice 'neww'"),
        ({"select": {"metric": "r2"}}, "select: unknown metric 'r2'"),
        ({"slices": {"bad": "tenure_months <"}}, "Slice 'bad' is not a valid expression"),
        ({"fairness": {"column": "race"}}, "has no fairness column 'race'"),
        ({"target": "churn"}, "has no target column 'churn'"),
        ({"datasets": {"holdout": "data/nope.parquet"}}, "does not exist"),
        ({"datasets": {"holdout": "../outside.parquet"}}, "'..' is not allowed"),
    ],
    ids=["dataset", "slice", "select", "slice-syntax", "fairness", "target", "missing-file", "escape"],
)
def test_misconfiguration_is_reported_before_any_work(
    world: Path, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(EvaluationError, match=message):
        evaluate(_options(**overrides), _cands(world, "rf"), root=world)


def test_single_class_target_is_an_error(world: Path, tmp_path: Path) -> None:
    one_class = churn_frame(100).with_columns(pl.lit(0, dtype=pl.Int64).alias("churned"))
    path = world / "data" / "one_class.parquet"
    one_class.write_parquet(path)
    with pytest.raises(EvaluationError, match="has one class only"):
        evaluate(_options(datasets={"holdout": "data/one_class.parquet"}, gates=[]),
                 _cands(world, "rf"), root=world)


def test_a_candidate_that_fails_to_load_is_reported_and_others_still_run(world: Path, tmp_path: Path) -> None:
    broken = world / "models" / "broken"
    shutil.copytree(world / "models" / "lr", broken, dirs_exist_ok=True)
    (broken / "model.skops").write_bytes(b"garbage")
    result = evaluate(_options(), _cands(world, "broken", "rf"), root=world)
    first = result.report["candidates"][0]
    assert first["passed"] is False
    assert first["gates"][0]["gate"] == "load" and "cannot load the model" in first["gates"][0]["detail"]
    assert result.report["selected"]["candidate"] == "rf"
    shutil.rmtree(broken)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop("contract"), "missing column 'contract'"),
        (lambda f: f.with_columns(pl.col("monthly_charges").cast(pl.String)),
         "column 'monthly_charges' is String, the model expects Float64"),
    ],
    ids=["missing-feature", "wrong-dtype"],
)
def test_a_dataset_not_matching_the_signature_fails_the_candidate(
    world: Path, change: Any, message: str
) -> None:
    path = world / "data" / "changed.parquet"
    change(churn_frame(300, seed=9)).write_parquet(path)
    result = evaluate(_options(datasets={"holdout": "data/changed.parquet"}, gates=[], slices={}),
                      _cands(world, "rf"), root=world)
    cand = result.report["candidates"][0]
    assert cand["passed"] is False
    assert cand["gates"][0]["gate"] == "predict" and message in cand["gates"][0]["detail"]


class NanModel:
    classes_ = np.array([0, 1])

    def predict(self, data: pl.DataFrame) -> np.ndarray:
        return np.zeros(data.height)

    def predict_proba(self, data: pl.DataFrame) -> np.ndarray:
        p = np.full(data.height, 0.5)
        p[::7] = np.nan
        return np.column_stack([1 - p, p])


def test_nan_predictions_fail_the_candidate(world: Path) -> None:
    save_model(NanModel(), world / "models" / "nan", name="nan", allow_pickle=True,
               input_example=churn_frame(3).select("tenure_months"))
    result = evaluate(_options(gates=[], allow_pickle=True), _cands(world, "nan"), root=world)
    detail = result.report["candidates"][0]["gates"][0]["detail"]
    assert "NaN or infinite predictions from nan on dataset 'holdout'" in detail
    assert result.passed is False


def test_a_slice_selecting_no_rows_is_reported_not_a_crash(world: Path) -> None:
    result = evaluate(
        _options(slices={"nobody": "tenure_months > 1000"},
                 gates=[{"metric": "accuracy", "min": 0.5, "slice": "nobody"}]),
        _cands(world, "rf"), root=world,
    )
    cand = result.report["candidates"][0]
    assert cand["metrics"]["holdout"]["nobody"] == {"rows": 0}
    gate = cand["gates"][0]
    assert gate["passed"] is False and gate["detail"] == "slice 'nobody' selected no rows on holdout"


def test_a_champion_with_a_different_feature_set(world: Path) -> None:
    narrow = churn_frame(300, seed=8).drop("gender")
    narrow.write_parquet(world / "data" / "narrow.parquet")
    options = _options(datasets={"holdout": "data/narrow.parquet"}, fairness=None,
                       gates=[{"beats_champion": {"metric": "roc_auc", "min_delta": -1}}])
    # the champion needs gender, which this dataset lacks: the comparison cannot be trusted
    result = evaluate(options, _cands(world, "rf"), root=world, champion=_champion(world, "weak"))
    gate = result.report["candidates"][1]["gates"][0]
    assert gate["passed"] is False
    assert "the champion models/weak could not be evaluated" in gate["detail"]
    assert "missing column 'gender'" in gate["detail"]
    # with every column present, different feature sets compare fine on the same rows
    ok = evaluate(_options(gates=options.gates), _cands(world, "rf"), root=world,
                  champion=_champion(world, "weak"))
    assert ok.report["candidates"][1]["gates"][0]["passed"] is True


def test_markdown_and_junit_reports(world: Path) -> None:
    result = evaluate(
        _options(gates=[{"metric": "roc_auc", "min": 0.6}, {"metric": "accuracy", "min": 0.99}]),
        _cands(world, "rf", "lr"), root=world, champion=_champion(world, "weak"),
    )
    markdown = to_markdown(result.report)
    assert markdown.startswith("## ❌ Evaluation `evaluate` failed")
    assert "| candidate | verdict | accuracy |" in markdown
    assert "| rf | FAILED |" in markdown
    assert "### Why candidates failed" in markdown
    suites = ET.fromstring(to_junit(result.report))
    cases = suites.findall(".//testcase")
    assert len(cases) == 3 * 2
    assert int(suites.get("failures") or 0) == sum(1 for c in cases if c.find("failure") is not None)
    assert any("accuracy >= 0.99" in (c.get("name") or "") for c in cases)


def test_regression_candidates_are_gated_on_error_metrics(tmp_path: Path) -> None:
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import Ridge

    root = tmp_path / "project"
    (root / "data").mkdir(parents=True)
    (root / "assay.yaml").write_text("project: reg\n")
    frame = churn_frame(600, seed=4)
    frame.write_parquet(root / "data" / "holdout.parquet")
    x = frame.select("tenure_months", "churned")
    y = frame["monthly_charges"].to_numpy()
    for name, model in (("ridge", Ridge()), ("forest", RandomForestRegressor(n_estimators=10, random_state=0))):
        save_model(model.fit(x, y), root / "models" / name, name=name, input_example=x.head(2))
    options = EvaluateOptions.model_validate({
        "candidates": ["train"],
        "datasets": {"holdout": "data/holdout.parquet"},
        "target": "monthly_charges",
        "slices": {"new": "tenure_months < 12"},
        "gates": [{"metric": "rmse", "max": 100}, {"max_regression": {"metric": "rmse", "max_delta": 50}}],
        "bootstrap": {"resamples": 100},
    })
    result = evaluate(options, [Candidate("forest", root / "models" / "forest")], root=root,
                      champion=Candidate("champion", root / "models" / "ridge", is_champion=True))
    report = result.report
    assert report["primary_metric"]["name"] == "rmse"
    forest = report["candidates"][1]
    assert sorted(forest["metrics"]["holdout"]["all"]) == [
        "latency_ms_per_row", "mae", "mape", "model_size_mb", "r2", "rmse", "rows",
    ]
    assert sorted(forest["comparison"]["holdout"]) == ["rmse"]
    assert report["selected"]["candidate"] == "forest"
    with pytest.raises(EvaluationError, match="unknown metric 'roc_auc'"):
        evaluate(_options(target="monthly_charges", datasets={"holdout": "data/holdout.parquet"},
                          slices={}, fairness=None), [Candidate("forest", root / "models" / "forest")],
                 root=root)


def test_multiclass_candidates_get_macro_metrics(tmp_path: Path) -> None:
    root = tmp_path / "project"
    (root / "data").mkdir(parents=True)
    (root / "assay.yaml").write_text("project: multi\n")
    frame = churn_frame(600, seed=6)
    frame.write_parquet(root / "data" / "holdout.parquet")
    x = frame.select("tenure_months", "monthly_charges")
    model = LogisticRegression(max_iter=500).fit(x, frame["contract"].to_numpy())
    save_model(model, root / "models" / "lr", name="lr", input_example=x.head(2))
    options = EvaluateOptions.model_validate({
        "candidates": ["train"],
        "datasets": {"holdout": "data/holdout.parquet"},
        "target": "contract",
        "gates": [{"metric": "accuracy", "min": 0.2}, {"beats_champion": {"metric": "accuracy"}}],
        "select": {"metric": "f1"},
        "bootstrap": {"resamples": 50},
    })
    result = evaluate(options, [Candidate("lr", root / "models" / "lr")], root=root,
                      champion=Candidate("champion", root / "models" / "lr", is_champion=True))
    cand = result.report["candidates"][1]
    assert {"accuracy", "f1", "roc_auc", "log_loss"} <= set(cand["metrics"]["holdout"]["all"])
    gates = {g["gate"]: g for g in cand["gates"]}
    assert gates["accuracy >= 0.2"]["passed"] is True
    comparison = gates["beats_champion(accuracy, min_delta=0)"]
    assert comparison["passed"] is False
    assert "supports binary classification and regression" in comparison["detail"]


def _holdout_proba(world: Path, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, positive-class probabilities, gender) of a candidate on the holdout data."""
    from assay.models import load_package

    frame = pl.read_parquet(world / "data" / "holdout.parquet")
    proba = load_package(world / "models" / name).predict_proba(frame)[:, 1]
    return frame["churned"].to_numpy(), proba, frame["gender"].to_numpy()


@pytest.mark.parametrize("threshold", [0.2, 0.5, 0.7], ids=["t0.2", "t0.5", "t0.7"])
def test_the_stage_threshold_decides_every_threshold_metric(world: Path, threshold: float) -> None:
    options = EvaluateOptions.model_validate({
        "candidates": ["train"], "datasets": {"holdout": "data/holdout.parquet"},
        "target": "churned", "threshold": threshold, "fairness": {"column": "gender"},
        "gates": [{"metric": "recall", "min": 0.0}],
    })
    result = evaluate(options, _cands(world, "rf"), root=world)
    found = result.report["candidates"][0]["metrics"]["holdout"]["all"]
    y, p, gender = _holdout_proba(world, "rf")
    predicted = p >= threshold
    assert {k: found[k] for k in ("tp", "fp", "fn", "tn")} == {
        "tp": float(np.sum(predicted & (y == 1))), "fp": float(np.sum(predicted & (y == 0))),
        "fn": float(np.sum(~predicted & (y == 1))), "tn": float(np.sum(~predicted & (y == 0))),
    }
    assert found["recall"] == pytest.approx(np.sum(predicted & (y == 1)) / np.sum(y == 1))
    rates = result.report["candidates"][0]["fairness"]["holdout"]["groups"]
    assert rates["female"]["selection_rate"] == pytest.approx(predicted[gender == "female"].mean())


def test_model_size_gate_measures_the_package_files(world: Path) -> None:
    from assay.models import read_package

    size_mb = read_package(world / "models" / "rf").size_bytes / 1e6
    files = sum(p.stat().st_size for p in (world / "models" / "rf").iterdir() if p.name != "model.json")
    assert size_mb == files / 1e6
    options = _options(gates=[{"metric": "model_size_mb", "max": size_mb * 2, "name": "roomy"},
                              {"metric": "model_size_mb", "max": size_mb / 2, "name": "tight"}])
    result = evaluate(options, _cands(world, "rf"), root=world)
    gates = {g["gate"]: g for g in result.report["candidates"][0]["gates"]}
    assert (gates["roomy"]["passed"], gates["tight"]["passed"]) == (True, False)
    assert gates["tight"]["value"] == pytest.approx(size_mb)
    assert gates["tight"]["detail"] == (
        f"model_size_mb = {size_mb:.4g} on holdout/all, needs <= {size_mb / 2:g}"
    )
    assert result.passed is False


def test_equalized_odds_gate_uses_the_largest_gap_in_tpr_or_fpr(world: Path) -> None:
    y, p, gender = _holdout_proba(world, "rf")
    predicted = p >= 0.5
    tpr = {g: predicted[(gender == g) & (y == 1)].mean() for g in ("female", "male")}
    fpr = {g: predicted[(gender == g) & (y == 0)].mean() for g in ("female", "male")}
    expected = max(abs(tpr["female"] - tpr["male"]), abs(fpr["female"] - fpr["male"]))
    assert expected > 0
    options = _options(gates=[
        {"metric": "equalized_odds_difference", "max": expected + 1e-9, "name": "fair enough"},
        {"metric": "equalized_odds_difference", "max": expected / 2, "name": "stricter"},
    ])
    result = evaluate(options, _cands(world, "rf"), root=world)
    gates = {g["gate"]: g for g in result.report["candidates"][0]["gates"]}
    assert gates["fair enough"]["value"] == pytest.approx(expected)
    assert (gates["fair enough"]["passed"], gates["stricter"]["passed"]) == (True, False)
    assert result.failure_summary() == f"rf: stricter: {gates['stricter']['detail']}"


def _markdown_cell(markdown: str, dataset: str, candidate: str, metric: str) -> str:
    section = markdown.split(f"### {dataset}\n", 1)[1].split("\n### ", 1)[0]
    rows = [line.strip("|").split(" | ") for line in section.strip().splitlines()]
    header = [c.strip() for c in rows[0]]
    row = next(r for r in rows[2:] if r[0].strip() == candidate)
    return row[header.index(metric)].strip()


def test_markdown_shows_deltas_and_intervals_against_the_champion(world: Path) -> None:
    options = _options(
        compare=["roc_auc", "log_loss"],
        gates=[{"beats_champion": {"metric": "roc_auc", "min_delta": 0.0}, "dataset": "holdout"}],
    )
    result = evaluate(options, _cands(world, "rf", "weak"), root=world,
                      champion=_champion(world, "lr"))
    report = result.report
    markdown = to_markdown(report)
    by_name = {c["candidate"]: c for c in report["candidates"]}
    champion = by_name["champion (lr)"]["metrics"]["holdout"]["all"]
    for name in ("rf", "weak"):
        metrics = by_name[name]["metrics"]["holdout"]["all"]
        for metric in ("roc_auc", "log_loss"):
            iv = by_name[name]["comparison"]["holdout"][metric]
            # the delta is the exact difference on the same rows, inside its interval
            assert iv["delta"] == pytest.approx(metrics[metric] - champion[metric])
            assert iv["low"] <= iv["delta"] <= iv["high"]
            better = (iv["delta"] > 0) == (metric == "roc_auc")
            arrow = "▲" if better else "▼"
            assert _markdown_cell(markdown, "holdout", name, metric) == (
                f"{metrics[metric]:.4f} ({iv['delta']:+.4f}{arrow} "
                f"[{iv['low']:+.4f}, {iv['high']:+.4f}])"
            )
    assert _markdown_cell(markdown, "holdout", "champion (lr)", "roc_auc") == f"{champion['roc_auc']:.4f}"
    assert _markdown_cell(markdown, "holdout", "weak", "roc_auc").split(" (")[1].startswith("-")
    gate = by_name["weak"]["gates"][0]
    assert (
        f"| weak | beats_champion(roc_auc, min_delta=0) | holdout/all | {gate['value']:.4f} | "
        "improvement_low > 0.0000 | ❌ fail |"
    ) in markdown
    assert f"- **weak**: {gate['detail']}" in markdown


class RaisingModel:
    """A pyfunc model whose own code fails at predict time."""

    classes_ = np.array([0, 1])

    def predict(self, data: pl.DataFrame) -> np.ndarray:
        raise RuntimeError("the feature service is down")

    def predict_proba(self, data: pl.DataFrame) -> np.ndarray:
        raise RuntimeError("the feature service is down")


class WrongShapeModel:
    """A pyfunc model that answers with the wrong number of rows."""

    classes_ = np.array([0, 1])

    def predict(self, data: pl.DataFrame) -> np.ndarray:
        return np.zeros(3)

    def predict_proba(self, data: pl.DataFrame) -> np.ndarray:
        return np.full((3, 2), 0.5)


def _failing_candidates(world: Path) -> list[str]:
    """Three candidates whose predictions fail: a pyfunc that raises, one with the wrong
    shape, and an sklearn pipeline whose coefficients do not fit its features (ValueError)."""
    example = churn_frame(3).select(*FEATURES)
    save_model(RaisingModel(), world / "models" / "raising", name="raising", allow_pickle=True,
               input_example=example)
    save_model(WrongShapeModel(), world / "models" / "shape", name="shape", allow_pickle=True,
               input_example=example)
    model = fit_pipeline(LogisticRegression(), churn_frame(300, seed=4))
    model.steps[-1][1].coef_ = np.zeros((1, 99))
    save_model(model, world / "models" / "mismatch", name="mismatch", input_example=example)
    return ["raising", "shape", "mismatch"]


FAILURES = {
    "raising": "The pyfunc model failed in predict_proba: RuntimeError: the feature service is down",
    "shape": "Model 'shape' returned probabilities of shape (3, 2) for 800 rows and 2 classes",
    "mismatch": "The sklearn model failed in predict_proba: ValueError: ",  # numpy's words
}


def test_a_candidate_whose_predict_raises_fails_alone_and_the_others_still_compete(
    world: Path,
) -> None:
    bad = _failing_candidates(world)
    result = evaluate(_options(allow_pickle=True), _cands(world, *bad, "rf"), root=world)
    by_name = {c["candidate"]: c for c in result.report["candidates"]}
    for name in bad:
        cand = by_name[name]
        assert cand["passed"] is False and cand["metrics"] == {}
        assert [(g["gate"], g["dataset"]) for g in cand["gates"]] == [
            ("predict", "holdout"), ("predict", "benchmark"),
        ]
        assert all(g["detail"].startswith(FAILURES[name]) for g in cand["gates"])
    assert by_name["rf"]["passed"] is True
    assert result.report["selected"]["candidate"] == "rf"
    assert f"raising: predict: {FAILURES['raising']}" in result.failure_summary()


def test_when_every_candidate_fails_to_predict_the_stage_fails_with_the_reasons(
    world: Path,
) -> None:
    from assay.evaluation._evaluate_kind import KIND
    from tests.models.worlds import stage_context

    bad = _failing_candidates(world)
    store_url = f"sqlite:///{world / '.assay' / 'assay.db'}"
    ctx = stage_context(world, store_url, "evaluate",
                        upstream_outs={"train": [f"models/{name}" for name in bad]})
    from assay.errors import GateFailed

    with pytest.raises(GateFailed, match="no candidate passed every gate") as failed:
        KIND.run(_options(allow_pickle=True, slices={}), ctx)
    err = str(failed.value)
    for name in bad:
        assert f"models/{name}: predict: {FAILURES[name]}" in err
    report = json.loads((world / "reports" / "evaluate" / "evaluation.json").read_text())
    assert report["passed"] is False and report["selected"] is None


def test_every_evaluation_reports_the_baseline_and_beats_baseline_gates_on_it(world: Path) -> None:
    options = _options(gates=[{"beats_baseline": {"metric": "roc_auc", "margin": 0.05}},
                              {"beats_baseline": {"metric": "accuracy"}, "dataset": "benchmark"}])
    result = evaluate(options, _cands(world, "rf"), root=world)
    baseline = result.report["baseline"]
    assert baseline["model"] == "class frequencies"
    holdout = baseline["metrics"]["holdout"]["all"]
    target = pl.read_parquet(world / "data" / "holdout.parquet")["churned"].to_numpy()
    assert holdout["accuracy"] == pytest.approx(max(target.mean(), 1 - target.mean()))
    assert holdout["roc_auc"] == 0.5 and holdout["rows"] == 800
    assert sorted(baseline["metrics"]["holdout"]) == ["all", "monthly", "new"]
    gates = result.report["candidates"][0]["gates"]
    assert gates[0]["op"] == "gain >" and gates[0]["bound"] == 0.05
    assert gates[0]["value"] == pytest.approx(
        result.report["candidates"][0]["metrics"]["holdout"]["all"]["roc_auc"] - 0.5)
    assert gates[0]["passed"] is True
    assert "against 0.5 for the baseline" in gates[0]["detail"]
    assert "| baseline (class frequencies) | baseline |" in to_markdown(result.report)


def test_beats_baseline_fails_a_model_that_only_predicts_the_majority(tmp_path: Path) -> None:
    from sklearn.dummy import DummyClassifier

    root = tmp_path / "project"
    (root / "data").mkdir(parents=True)
    (root / "assay.yaml").write_text("project: rare\n")
    rng = np.random.default_rng(5)
    frame = pl.DataFrame({"x": rng.normal(size=3000),
                          "y": np.where(rng.random(3000) < 0.033, "Yes", "No")})
    frame.write_parquet(root / "data" / "holdout.parquet")
    always_no = DummyClassifier(strategy="most_frequent").fit(frame.select("x").to_numpy(),
                                                              frame["y"].to_numpy())
    save_model(always_no, root / "models" / "no", name="no", input_example=frame.select("x").head(2))
    options = EvaluateOptions.model_validate({
        "candidates": ["no"], "datasets": {"holdout": "data/holdout.parquet"}, "target": "y",
        "gates": [{"metric": "accuracy", "min": 0.87}, {"beats_baseline": {"metric": "accuracy"}}],
    })
    result = evaluate(options, [Candidate("no", root / "models" / "no")], root=root)
    accuracy, beats = result.report["candidates"][0]["gates"]
    assert accuracy["passed"] is True  # 96.7% accuracy by never predicting "Yes"
    assert beats["passed"] is False and beats["value"] == 0.0
    assert result.report["selected"] is None


def test_regression_baseline_is_the_mean_predictor(tmp_path: Path) -> None:
    from sklearn.linear_model import Ridge

    root = tmp_path / "project"
    (root / "data").mkdir(parents=True)
    (root / "assay.yaml").write_text("project: reg\n")
    frame = churn_frame(400, seed=4)
    frame.write_parquet(root / "data" / "holdout.parquet")
    x = frame.select("tenure_months", "churned")
    save_model(Ridge().fit(x, frame["monthly_charges"].to_numpy()), root / "models" / "ridge",
               name="ridge", input_example=x.head(2))
    options = EvaluateOptions.model_validate({
        "candidates": ["ridge"], "datasets": {"holdout": "data/holdout.parquet"},
        "target": "monthly_charges", "gates": [{"beats_baseline": {"metric": "rmse"}}]})
    result = evaluate(options, [Candidate("ridge", root / "models" / "ridge")], root=root)
    baseline = result.report["baseline"]
    assert baseline["model"] == "mean target"
    charges = frame["monthly_charges"].to_numpy()
    assert baseline["metrics"]["holdout"]["all"]["r2"] == pytest.approx(0.0, abs=1e-12)
    assert baseline["metrics"]["holdout"]["all"]["rmse"] == pytest.approx(charges.std())
    with pytest.raises(EvaluationError, match="the baseline has no 'latency_ms_per_row'"):
        evaluate(EvaluateOptions.model_validate({
            **options.model_dump(), "gates": [{"beats_baseline": {"metric": "latency_ms_per_row"}}]}),
            [Candidate("ridge", root / "models" / "ridge")], root=root)


def test_non_inferiority_passes_an_equal_model_and_fails_a_clearly_worse_one(world: Path) -> None:
    options = _options(gates=[{"non_inferiority": {"metric": "roc_auc", "margin": 0.01}}])
    same = evaluate(options, [Candidate("lr-again", world / "models" / "lr")], root=world,
                    champion=_champion(world))
    gate = same.report["candidates"][1]["gates"][0]
    assert gate["gate"] == "non_inferiority(roc_auc, margin=0.01)"
    assert gate["op"] == "improvement_low >" and gate["bound"] == -0.01
    assert gate["passed"] is True and gate["value"] == pytest.approx(0.0, abs=1e-9)
    worse = evaluate(options, _cands(world, "weak"), root=world, champion=_champion(world))
    gate = worse.report["candidates"][1]["gates"][0]
    assert gate["passed"] is False and gate["value"] < -0.01
    assert "95% CI lower bound" in gate["detail"]


def test_holm_widens_the_bound_for_several_challengers_and_the_report_says_so(world: Path) -> None:
    gates = [{"beats_champion": {"metric": "roc_auc", "min_delta": -1.0}}]
    cands = _cands(world, "rf", "lr")
    holm = evaluate(_options(gates=gates), cands, root=world, champion=_champion(world, "weak"))
    plain = evaluate(_options(gates=gates, multiplicity="none"), cands, root=world,
                     champion=_champion(world, "weak"))
    assert holm.report["multiplicity"] == {"method": "holm", "candidates": 2}
    assert plain.report["multiplicity"] == {"method": "none", "candidates": 2}
    adjusted = [c["gates"][0] for c in holm.report["candidates"][1:]]
    unadjusted = [c["gates"][0] for c in plain.report["candidates"][1:]]
    assert all("Holm-adjusted over 2 challengers" in g["detail"] for g in adjusted)
    assert not any("Holm" in g["detail"] for g in unadjusted)
    # the strongest is tested at alpha/2: its bound is lower than the unadjusted one
    assert min(a["value"] - u["value"] for a, u in zip(adjusted, unadjusted, strict=True)) < 0
    assert all(a["value"] <= u["value"] + 1e-12 for a, u in zip(adjusted, unadjusted, strict=True))
    assert "Holm-adjusted over 2 challengers" in to_markdown(holm.report)
    assert "not adjusted for 2 challengers" in to_markdown(plain.report)
