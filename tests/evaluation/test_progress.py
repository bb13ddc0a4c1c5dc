"""The evaluate stage says what it is doing while it works (scoring, then the bootstrap)."""

from __future__ import annotations

import numpy as np
import pytest

from assay.evaluation._bootstrap import paired_bootstrap
from assay.evaluation._evaluate_kind import KIND
from assay.evaluation._evaluation import Progress
from tests.conftest import TmpProject
from tests.evaluation.test_evaluate_kind import OUTS, _options, _setup
from tests.models.worlds import stage_context


def test_the_evaluate_stage_prints_a_line_per_candidate_and_per_comparison(
    tmp_project: TmpProject, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _setup(tmp_project)
    ctx = stage_context(project.root, project.load().store_url, "evaluate", upstream_outs=OUTS)
    options = _options(champion="models/train-model-lr",
                       gates=[{"beats_champion": {"metric": "roc_auc", "min_delta": -1.0},
                               "dataset": "holdout"}])
    assert KIND.run(options, ctx) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = "holdout 600 rows, benchmark 600 rows"
    assert lines[:3] == [
        f"scoring the champion models/train-model-lr on {rows}",
        f"scoring candidate 1/2 train[model=lr] on {rows}",
        f"scoring candidate 2/2 train[model=rf] on {rows}",
    ]
    assert "comparing train[model=rf] vs the champion on holdout: 100 bootstrap resamples" in lines
    assert lines[-1].startswith("selected train[model=")


def test_the_bootstrap_reports_its_resamples_as_it_goes() -> None:
    rng = np.random.default_rng(0)
    n = 200_000  # large enough that the resamples come in several blocks
    y = rng.integers(0, 2, n)
    a, b = rng.random(n), rng.random(n)
    seen: list[tuple[int, int]] = []
    paired_bootstrap(y, a, b, task="classification", metrics=["accuracy"], resamples=100,
                     progress=lambda done, total: seen.append((done, total)))
    assert len(seen) > 1
    assert [done for done, _ in seen] == sorted({done for done, _ in seen})
    assert seen[-1] == (100, 100) and {total for _, total in seen} == {100}


def test_ticks_are_throttled_and_say_is_not() -> None:
    lines: list[str] = []
    slow = Progress(lines.append, every=3600)
    slow.tick("not yet")
    slow.say("now")
    slow.tick("still not")
    assert lines == ["now"]
    fast = Progress(lines.append, every=0)
    fast.tick("tick")
    assert lines == ["now", "tick"]
    Progress().say("nowhere")  # no emitter: nothing happens
