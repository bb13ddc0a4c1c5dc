"""Evaluation: metrics per (model, dataset, slice), fairness, a paired-bootstrap comparison with
the champion, gates with pass/fail and reasons, selection of the best passing candidate, and
reports (JSON, Markdown, HTML with plots, JUnit XML).

>>> from assay.evaluation import EvaluateOptions, Candidate, evaluate
>>> result = evaluate(options, [Candidate("rf", Path("models/rf"))], root=root)  # doctest: +SKIP
>>> result.report["selected"]  # doctest: +SKIP
"""

from __future__ import annotations

from assay.evaluation._bootstrap import Interval, paired_bootstrap
from assay.evaluation._compare import EvaluationComparer, compare_evaluations
from assay.evaluation._evaluate_kind import (
    find_candidates,
    record_evaluation,
    resolve_champion,
    run_evaluation,
)
from assay.evaluation._evaluation import Candidate, Evaluation, evaluate
from assay.evaluation._gates import GateResult
from assay.evaluation._options import (
    BeatsBaseline,
    BeatsChampion,
    BootstrapOptions,
    EvaluateOptions,
    FairnessOptions,
    GateBounds,
    GateOptions,
    MaxRegression,
    NonInferiority,
    SelectOptions,
)
from assay.evaluation._report import (
    EVALUATION_FILE,
    read_evaluation,
    render_table,
    to_html,
    to_junit,
    to_markdown,
    write_reports,
)
from assay.metrics import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    classification_metrics,
    is_higher_better,
    metric_names,
    regression_metrics,
)

__all__ = [
    "CLASSIFICATION_METRICS",
    "EVALUATION_FILE",
    "REGRESSION_METRICS",
    "BeatsBaseline",
    "BeatsChampion",
    "BootstrapOptions",
    "Candidate",
    "EvaluateOptions",
    "Evaluation",
    "EvaluationComparer",
    "FairnessOptions",
    "GateBounds",
    "GateOptions",
    "GateResult",
    "Interval",
    "MaxRegression",
    "NonInferiority",
    "SelectOptions",
    "classification_metrics",
    "compare_evaluations",
    "evaluate",
    "find_candidates",
    "is_higher_better",
    "metric_names",
    "paired_bootstrap",
    "read_evaluation",
    "record_evaluation",
    "regression_metrics",
    "render_table",
    "resolve_champion",
    "run_evaluation",
    "to_html",
    "to_junit",
    "to_markdown",
    "write_reports",
]
