"""kind: evaluate (hand-made stage context) and the ``assay eval report`` command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sqlalchemy import select

from assay._exits import exit_code
from assay.config import PlanContext
from assay.errors import GateFailed
from assay.evaluation import EvaluateOptions
from assay.evaluation._evaluate_kind import KIND
from assay.models import read_package, store_package
from assay.store import open_store
from assay.store.tables import evaluations
from tests.conftest import TmpProject, store_connection
from tests.models.worlds import churn_frame, register_version, save_candidate, stage_context


def _setup(tmp_project: TmpProject) -> TmpProject:
    root = tmp_project.root
    (root / "data").mkdir()
    churn_frame(600, seed=2).write_parquet(root / "data" / "holdout.parquet")
    churn_frame(600, seed=3).write_parquet(root / "data" / "benchmark.parquet")
    tmp_project.config(datasets={"benchmark": "data/benchmark.parquet"})
    train = churn_frame(1000, seed=1)
    save_candidate(root, "models/train-model-lr", LogisticRegression(), train, name="train[model=lr]")
    save_candidate(root, "models/train-model-rf",
                   RandomForestClassifier(n_estimators=20, max_depth=4, random_state=0), train,
                   name="train[model=rf]")
    return tmp_project


@pytest.fixture
def project(tmp_project: TmpProject) -> TmpProject:
    return _setup(tmp_project)


OUTS = {"train": ["models/train-model-lr", "models/train-model-rf"]}


def _options(**overrides: Any) -> EvaluateOptions:
    base: dict[str, Any] = {
        "candidates": ["train"],
        "datasets": {"holdout": "data/holdout.parquet", "benchmark": "benchmark"},
        "target": "churned",
        "slices": {"new": "tenure_months < 12"},
        "fairness": {"column": "gender"},
        "gates": [{"metric": "roc_auc", "min": 0.6, "dataset": "holdout"}],
        "select": {"metric": "roc_auc", "dataset": "holdout"},
        "bootstrap": {"resamples": 100},
    }
    return EvaluateOptions.model_validate({**base, **overrides})


def test_plan_depends_on_datasets_and_candidate_outputs(project: TmpProject) -> None:
    ctx = PlanContext(root=project.root, stage="evaluate", matrix={},
                      outs_of=lambda name: OUTS[name], instances_of=lambda name: [])
    plan = KIND.plan(_options(), ctx)
    assert plan.deps == ["data/holdout.parquet", "data/benchmark.parquet", *OUTS["train"]]
    assert (plan.outs, plan.needs) == (["reports/evaluate"], ["train"])


def test_run_writes_reports_records_the_evaluation_and_selects(project: TmpProject) -> None:
    store_url = project.load().store_url
    ctx = stage_context(project.root, store_url, "evaluate", upstream_outs=OUTS)
    assert KIND.run(_options(), ctx) == 0
    out = project.root / "reports" / "evaluate"
    assert sorted(p.name for p in out.iterdir()) == [
        "curves.json", "evaluation.json", "junit.xml", "report.html", "report.md",
    ]
    report = json.loads((out / "evaluation.json").read_text())
    assert report["selected"]["candidate"] in ("train[model=lr]", "train[model=rf]")
    assert report["selected"]["oid"].endswith(".dir")
    assert report["selected"]["package"].startswith("models/train-model-")
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 4
    store = open_store(store_url)
    with store_connection(store.url) as conn:
        row = conn.execute(select(evaluations)).one()
    store.close()
    assert (row.stage, row.passed, row.stage_run_id) == ("evaluate", True, ctx.stage_run_id)
    assert row.selected_hash == report["selected"]["oid"]


def test_run_raises_gate_failed_naming_the_gate_when_nothing_passes(project: TmpProject) -> None:
    ctx = stage_context(project.root, project.load().store_url, "evaluate", upstream_outs=OUTS)
    options = _options(gates=[{"metric": "roc_auc", "min": 0.999, "dataset": "holdout"}])
    with pytest.raises(GateFailed, match="no candidate passed every gate") as failed:
        KIND.run(options, ctx)
    assert "train[model=rf]: roc_auc >= 0.999: roc_auc = " in str(failed.value)
    assert exit_code(failed.value) == 1
    report = json.loads((project.root / "reports" / "evaluate" / "evaluation.json").read_text())
    assert report["passed"] is False and report["selected"] is None


def test_champion_from_a_registry_alias(project: TmpProject) -> None:
    config = project.load()
    champion = read_package(project.root / "models" / "train-model-lr")
    logged = store_package(champion, cache_dir=config.cache_dir, store_url=config.store_url,
                           stage_run_id=None)
    register_version(config.store_url, "churn", 1, logged.oid, alias="production")
    ctx = stage_context(project.root, config.store_url, "evaluate", upstream_outs=OUTS)
    options = _options(champion="churn@production",
                       gates=[{"max_regression": {"metric": "roc_auc", "max_delta": 0.2}}])
    assert KIND.run(options, ctx) == 0
    report = json.loads((project.root / "reports" / "evaluate" / "evaluation.json").read_text())
    assert report["champion"] == {
        "ref": "churn@production",
        "package": f".assay/packages/{logged.oid.removesuffix('.dir')}",
        "oid": logged.oid,
    }
    assert report["candidates"][0]["is_champion"] is True
    assert "holdout" in report["candidates"][1]["comparison"]


def test_a_missing_registry_champion_means_no_champion(project: TmpProject) -> None:
    ctx = stage_context(project.root, project.load().store_url, "evaluate", upstream_outs=OUTS)
    assert KIND.run(_options(champion="churn@production"), ctx) == 0
    report = json.loads((project.root / "reports" / "evaluate" / "evaluation.json").read_text())
    assert report["champion"] is None


def test_candidates_without_packages_are_an_error(project: TmpProject) -> None:
    from assay.errors import EvaluationError

    ctx = stage_context(project.root, project.load().store_url, "evaluate",
                        upstream_outs={"train": ["data"]})
    with pytest.raises(EvaluationError, match="No model packages among the outputs of train"):
        KIND.run(_options(), ctx)


def test_cli_renders_and_checks_an_evaluation(project: TmpProject) -> None:
    ctx = stage_context(project.root, project.load().store_url, "evaluate", upstream_outs=OUTS)
    with pytest.raises(GateFailed, match="no candidate passed every gate"):
        KIND.run(_options(gates=[{"metric": "roc_auc", "min": 0.999, "dataset": "holdout"}]),
                 ctx)
    path = "reports/evaluate/evaluation.json"
    result = project.invoke("eval", "report", path, "--markdown", "out/comment.md",
                            "--junit", "out/junit.xml", "--html", "out/report.html")
    assert result.code == 0, result.output
    assert "no candidate passed every gate" in result.stdout
    assert (project.root / "out" / "comment.md").read_text().startswith("## ❌ Evaluation")
    assert (project.root / "out" / "junit.xml").read_text().startswith("<?xml")
    checked = project.invoke("eval", "report", path, "--check", "--json")
    assert checked.code == 1
    assert json.loads(checked.stdout)["passed"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["eval", "report", "nope.json"], "nope.json does not exist"),
        (["eval", "report", "../x.json"], "'..' is not allowed"),
        (["eval", "report", "assay.yaml"], "is not valid JSON"),
    ],
    ids=["missing", "escape", "not-json"],
)
def test_cli_bad_input_is_one_line_exit_2(project: TmpProject, args: list[str], message: str) -> None:
    result = project.invoke(*args)
    assert result.code == 2
    assert message in result.stderr and "Traceback" not in result.output


def test_the_evaluation_is_recorded_on_every_store_backend(project_on: TmpProject) -> None:
    project = _setup(project_on)
    store_url = project.load().store_url
    ctx = stage_context(project.root, store_url, "evaluate", upstream_outs=OUTS)
    assert KIND.run(_options(gates=[], fairness=None, slices={}), ctx) == 0
    store = open_store(store_url)
    with store_connection(store.url) as conn:
        row = conn.execute(select(evaluations)).one()
    events = store.events(kind="evaluation.")
    store.close()
    assert row.passed is True and row.report["stage"] == "evaluate"
    assert [e.kind for e in events] == ["evaluation.completed"]


def test_evaluation_reports_compare_by_content_not_timing(project: TmpProject, tmp_path: Path) -> None:
    from assay.evaluation import EvaluationComparer

    ctx = stage_context(project.root, project.load().store_url, "evaluate", upstream_outs=OUTS)
    KIND.run(_options(gates=[{"metric": "latency_ms_per_row", "max": 1000}]), ctx)
    recorded = project.root / "reports" / "evaluate"
    report = json.loads((recorded / "evaluation.json").read_text())
    rerun = tmp_path / "rerun"
    rerun.mkdir()

    def compare(changed: dict[str, Any], tolerance: float = 0.0) -> dict[str, Any] | None:
        (rerun / "evaluation.json").write_text(json.dumps(changed))
        return EvaluationComparer().compare(recorded, rerun, root=project.root, tolerance=tolerance)

    slower = json.loads(json.dumps(report))
    for cand in slower["candidates"]:
        cand["metrics"]["holdout"]["all"]["latency_ms_per_row"] *= 3
        cand["gates"][0]["value"] *= 3
        cand["gates"][0]["detail"] = "latency quoted differently"
    assert compare(slower) == {"equivalent": True, "detail": "same evaluation.json apart from "
                               "timing metrics", "differences": []}
    worse = json.loads(json.dumps(report))
    worse["candidates"][1]["metrics"]["holdout"]["all"]["roc_auc"] -= 1e-6
    found = compare(worse)
    assert found is not None and found["equivalent"] is False
    assert found["differences"] == ["candidates[1].metrics.holdout.all.roc_auc"]
    assert (compare(worse, tolerance=1e-5) or {})["equivalent"] is True
    assert EvaluationComparer().compare(recorded, tmp_path / "nothing", root=project.root,
                                        tolerance=0.0) is None


def test_plots_false_writes_the_report_without_plots(project: TmpProject) -> None:
    ctx = stage_context(project.root, project.load().store_url, "evaluate", upstream_outs=OUTS)
    assert KIND.run(_options(plots=False), ctx) == 0
    html = (project.root / "reports" / "evaluate" / "report.html").read_text()
    assert "data:image/png;base64," not in html
    assert "Plots left out (<code>plots: false</code>)." in html
