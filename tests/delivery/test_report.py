"""The delivery report counts a known history exactly, on every store backend."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assay.delivery import Window, delivery_report
from assay.delivery._window import iso_full
from assay.store import Store, open_store
from tests.conftest import TmpProject
from tests.delivery.history import T0, D, H, make_repo, write_history

WINDOW = Window(T0, T0 + 15 * D)


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "repo"
    return root, make_repo(root)


@pytest.fixture
def store(store_url: str, repo: tuple[Path, dict[str, str]]) -> Iterator[Store]:
    opened = open_store(store_url)
    write_history(opened, repo[1])
    try:
        yield opened
    finally:
        opened.close()


def _report(store: Store, root: Path, window: Window = WINDOW, **kwargs: Any) -> dict[str, Any]:
    return delivery_report(store, None, window=window, root=root, **kwargs).to_dict()


def test_every_figure_of_the_known_history(store: Store,
                                           repo: tuple[Path, dict[str, str]]) -> None:
    got = _report(store, repo[0])
    assert got["window"] == {"since": "2026-11-02T00:00:00Z", "until": "2026-11-17T00:00:00Z",
                             "days": 15.0}
    assert got["dora"] == {
        "deployment_frequency": {"deployments": 2, "per_day": 2 / 15, "per_week": 14 / 15,
                                 "band": "medium"},
        "lead_time": {"changes": 2, "from_run_start": 0,
                      "median_seconds": (2 * D + 2 * H + D + 4 * H) / 2,
                      "p90_seconds": 2 * D + 2 * H, "band": "high",
                      "from_data": {"changes": 2,
                                    "median_seconds": (3 * D + 2 * H + 2 * D + 4 * H) / 2,
                                    "p90_seconds": 3 * D + 2 * H}},
        "change_failure_rate": {"finished": 3, "failed": 2,
                                "by_cause": {"alias_rolled_back": 1, "rolled_back": 1},
                                "in_progress": 1, "rate": 2 / 3, "band": "low"},
        "time_to_restore": {"incidents": 4, "restored": 3, "unrestored": 1,
                            "median_seconds": H, "p90_seconds": 5 * D + 4 * H - 600,
                            "band": "high"},
    }
    assert got["ml"] == {
        "model_age": [{"deployment": "churn-prod", "model": "churn", "version": 2,
                       "serving_since": "2026-11-08T04:00:00Z",
                       "age_seconds": 9 * D - 4 * H}],
        "retraining_cadence": {"runs": 3, "median_seconds": (4 * D - 2 * H + 5 * D) / 2},
        "drift_to_production": {"retrains": 1, "median_seconds": 5 * D + 4 * H,
                                "p90_seconds": 5 * D + 4 * H},
        "gate_pass_rate": {"evaluations": 4, "passed": 3, "rate": 0.75},
        "promotions_with_approval": {"promotions": 4, "approved": 2, "share": 0.5},
        "approval_wait": {"approvals": 2, "median_seconds": (17 * H + 0.5 * H) / 2,
                          "p90_seconds": 17 * H},
    }
    assert [(c["rollout"], c["state"], c["failure"], c["lead_time_from"])
            for c in got["changes"]] == [(1, "completed", None, "commit"),
                                         (2, "completed", "alias_rolled_back", "commit"),
                                         (3, "rolled_back", "rolled_back", None)]
    assert [(i["cause"], i["subject"], i["started_at"], i["seconds"]) for i in got["incidents"]] == [
        ("alert", "alert finding-7", "2026-11-03T00:10:00Z", 5 * D + 4 * H - 600),
        ("alias_rolled_back", "rollout #2 churn:2", "2026-11-08T04:00:00Z", 0.5 * H),
        ("rolled_back", "rollout #3 churn:3", "2026-11-11T02:00:00Z", H),
        ("alert", "alert finding-8", "2026-11-15T00:01:00Z", None)]


def test_the_trend_per_iso_week(store: Store, repo: tuple[Path, dict[str, str]]) -> None:
    weekly = _report(store, repo[0])["weekly"]
    assert [(w["week"], w["since"], w["until"]) for w in weekly] == [
        ("2026-W45", "2026-11-02T00:00:00Z", "2026-11-09T00:00:00Z"),
        ("2026-W46", "2026-11-09T00:00:00Z", "2026-11-16T00:00:00Z"),
        ("2026-W47", "2026-11-16T00:00:00Z", "2026-11-17T00:00:00Z")]
    assert [{k: v for k, v in w.items() if k not in ("since", "until")} for w in weekly] == [
        {"week": "2026-W45", "deployments": 2, "finished": 2, "failed": 1,
         "change_failure_rate": 0.5, "lead_time_median_seconds": (2 * D + 2 * H + D + 4 * H) / 2,
         "time_to_restore_median_seconds": (5 * D + 4 * H - 600 + 0.5 * H) / 2, "incidents": 2,
         "evaluations": 1, "gate_pass_rate": 1.0},
        {"week": "2026-W46", "deployments": 0, "finished": 1, "failed": 1,
         "change_failure_rate": 1.0, "lead_time_median_seconds": None,
         "time_to_restore_median_seconds": H, "incidents": 2, "evaluations": 2,
         "gate_pass_rate": 0.5},
        {"week": "2026-W47", "deployments": 0, "finished": 0, "failed": 0,
         "change_failure_rate": None, "lead_time_median_seconds": None,
         "time_to_restore_median_seconds": None, "incidents": 0, "evaluations": 1,
         "gate_pass_rate": 1.0},
    ]


def test_an_empty_window_has_no_data_not_errors(store: Store,
                                                repo: tuple[Path, dict[str, str]]) -> None:
    got = _report(store, repo[0], Window(T0 - 30 * D, T0 - 20 * D))
    assert got["dora"] == {
        "deployment_frequency": {"deployments": 0, "per_day": 0.0, "per_week": 0.0,
                                 "band": None},
        "lead_time": {"changes": 0, "from_run_start": 0, "median_seconds": None,
                      "p90_seconds": None, "band": None,
                      "from_data": {"changes": 0, "median_seconds": None, "p90_seconds": None}},
        "change_failure_rate": {"finished": 0, "failed": 0, "by_cause": {}, "in_progress": 0,
                                "rate": None, "band": None},
        "time_to_restore": {"incidents": 0, "restored": 0, "unrestored": 0,
                            "median_seconds": None, "p90_seconds": None, "band": None},
    }
    assert got["ml"] == {
        "model_age": [],
        "retraining_cadence": {"runs": 0, "median_seconds": None},
        "drift_to_production": {"retrains": 0, "median_seconds": None, "p90_seconds": None},
        "gate_pass_rate": {"evaluations": 0, "passed": 0, "rate": None},
        "promotions_with_approval": {"promotions": 0, "approved": 0, "share": None},
        "approval_wait": {"approvals": 0, "median_seconds": None, "p90_seconds": None},
    }
    assert got["changes"] == []


def test_a_rollout_still_in_progress_is_neither_a_deployment_nor_a_failure(
        store: Store, repo: tuple[Path, dict[str, str]]) -> None:
    got = _report(store, repo[0], Window(T0, T0 + 6 * D + 2 * H))  # rollout #2 is running
    assert got["dora"]["deployment_frequency"]["deployments"] == 1
    assert got["dora"]["change_failure_rate"] == {
        "finished": 1, "failed": 0, "by_cause": {}, "in_progress": 1, "rate": 0.0,
        "band": "elite"}
    assert got["ml"]["model_age"] == [{"deployment": "churn-prod", "model": "churn",
                                       "version": 1, "serving_since": iso_full(T0 + 2 * H),
                                       "age_seconds": 6 * D}]
    # the alert of window 7 is still open at the window's end: it counts, unrestored
    assert got["dora"]["time_to_restore"]["incidents"] == 1


def test_lead_time_starts_at_the_run_when_git_does_not_know_the_commit(
        store: Store, repo: tuple[Path, dict[str, str]]) -> None:
    got = _report(store, repo[0], commit_time=lambda commit: None)
    lead = got["dora"]["lead_time"]
    assert (lead["changes"], lead["from_run_start"]) == (2, 2)
    assert (lead["median_seconds"], lead["band"]) == (D + 2 * H, "high")


def test_a_change_replaced_within_the_fix_window_failed(
        store: Store, repo: tuple[Path, dict[str, str]]) -> None:
    # with a 7-day fix window, rollout #2 (6 days after #1) replaced #1
    got = _report(store, repo[0], fix_window=7 * D)
    assert got["dora"]["change_failure_rate"]["by_cause"] == {
        "alias_rolled_back": 1, "replaced": 1, "rolled_back": 1}
    assert got["fix_window_seconds"] == 7 * D


def test_the_scope_narrows_every_figure(store: Store, repo: tuple[Path, dict[str, str]]) -> None:
    other = _report(store, repo[0], model="fraud")
    assert other["dora"]["deployment_frequency"]["deployments"] == 0
    assert other["ml"]["promotions_with_approval"]["promotions"] == 0
    assert other["ml"]["retraining_cadence"]["runs"] == 0
    staging = _report(store, repo[0], deployment="churn-staging")  # staging serves no users
    assert staging["dora"]["change_failure_rate"]["finished"] == 0
    assert staging["ml"]["model_age"] == []
    prod = _report(store, repo[0], deployment="churn-prod", model="churn")
    assert prod["dora"] == _report(store, repo[0])["dora"]


def test_an_alias_whose_policy_says_deployed_is_production(
        store: Store, repo: tuple[Path, dict[str, str]]) -> None:
    from assay.config import AssayConfig

    config = AssayConfig.model_validate(
        {"project": "t", "promotion": {"staging": {"deployed": True, "gates": "none"}}})
    got = delivery_report(store, config, window=WINDOW, root=repo[0]).to_dict()
    assert got["dora"]["deployment_frequency"]["deployments"] == 3
    assert [s["deployment"] for s in got["ml"]["model_age"]] == ["churn-prod", "churn-staging"]


def test_a_comparison_window_is_counted_by_the_same_rules(
        store: Store, repo: tuple[Path, dict[str, str]]) -> None:
    got = delivery_report(store, None, window=Window(T0 + 7 * D, T0 + 15 * D),
                          compare=Window(T0, T0 + 7 * D), root=repo[0]).to_dict()
    assert got["compare"]["dora"]["deployment_frequency"]["deployments"] == 2
    assert got["dora"]["deployment_frequency"]["deployments"] == 0
    assert got["compare"]["window"]["since"] == "2026-11-02T00:00:00Z"
    alone = _report(store, repo[0], Window(T0, T0 + 7 * D))
    assert {k: got["compare"][k] for k in ("dora", "ml")} == {k: alone[k] for k in ("dora", "ml")}


# -- through the CLI -------------------------------------------------------------------------


@pytest.fixture
def project(project_on: TmpProject, store: Store,
            repo: tuple[Path, dict[str, str]]) -> TmpProject:
    return project_on


def test_cli_json_has_every_figure(project: TmpProject,
                                   repo: tuple[Path, dict[str, str]]) -> None:
    result = project.invoke("report", "delivery", "--since", "2026-11-02", "--until",
                            "2026-11-17", "--json")
    assert result.code == 0, result.output
    got = json.loads(result.stdout)
    assert got["dora"]["change_failure_rate"]["rate"] == 2 / 3
    assert got["dora"]["deployment_frequency"]["band"] == "medium"
    # the project is not in the repository: lead time starts at each version's run
    assert got["dora"]["lead_time"]["from_run_start"] == 2


def test_cli_table_and_comparison(project: TmpProject) -> None:
    result = project.invoke("report", "delivery", "--since", "2026-11-09", "--until",
                            "2026-11-17", "--compare-to", "2026-11-02..2026-11-09")
    assert result.code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Delivery, 2026-11-09..2026-11-17 (8.0 days")
    header = lines[1].split()
    assert header == ["figure", "2026-11-09..2026-11-17", "band", "2026-11-02..2026-11-09",
                      "band", "change"]
    row = next(line for line in lines if line.lstrip().startswith("change failure rate"))
    assert row.split()[3:] == ["100%", "(1", "of", "1", "finished,", "1", "in", "progress)", "low",
                               "50%", "(1", "of", "2", "finished)", "low", "+50", "pts"]
    assert "2026-W46" in result.stdout


def test_cli_html_embeds_the_plots_and_escapes(project: TmpProject, tmp_path: Path) -> None:
    out = tmp_path / "delivery.html"
    result = project.invoke("report", "delivery", "--since", "2026-11-02", "--until",
                            "2026-11-17", "--deployment", "<b>x</b>", "--html", out)
    assert result.code == 0, result.output
    page = out.read_text()
    assert page.count('src="data:image/png;base64,') == 3
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page
    assert "http://" not in page.replace("http://www.w3.org", "")  # nothing fetched


@pytest.mark.parametrize(("args", "reason"), [
    (["--since", "yesterday-ish"], "--since 'yesterday-ish' is neither an ISO date"),
    (["--until", "2026-13-01"], "--until '2026-13-01' is neither an ISO date"),
    (["--since", "2026-11-10", "--until", "2026-11-01"], "is empty: --since must be before"),
    (["--compare-to", "30d"], "--compare-to '30d' is not SINCE..UNTIL"),
    (["--compare-to", "10d..20d"], "is empty: its first bound must come first"),
    (["--fix-window", "soon"], "--fix-window: 'soon' is not a duration"),
], ids=["since", "until", "reversed", "compare-shape", "compare-reversed", "fix-window"])
def test_cli_bad_input_exits_2_with_one_line(tmp_project: TmpProject, args: list[str],
                                             reason: str) -> None:
    result = tmp_project.invoke("report", "delivery", *args)
    assert result.code == 2
    assert reason in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_change_is_judged_with_what_came_after_the_window(
        store: Store, repo: tuple[Path, dict[str, str]]) -> None:
    # rollout #2 completes 10 minutes before the window ends; its alias is rolled back 20
    # minutes after: it failed, and the incident it opened was restored then
    got = _report(store, repo[0], Window(T0, T0 + 6 * D + 4 * H + 600))
    assert got["dora"]["change_failure_rate"]["by_cause"] == {"alias_rolled_back": 1}
    assert got["dora"]["time_to_restore"]["restored"] == 2
    assert got["dora"]["time_to_restore"]["median_seconds"] == (5 * D + 4 * H - 600 + 0.5 * H) / 2
