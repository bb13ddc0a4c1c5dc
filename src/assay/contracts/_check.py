"""Checking data against contracts: validate, write the reports, record the result, and fail
with :class:`~assay.errors.ValidationFailed` when an error-severity check failed.

The one implementation behind ``assay validate`` (:mod:`assay.cli.contracts`) and the
``kind: validate`` stage (:mod:`assay.contracts._kind`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from assay.errors import ValidationFailed

if TYPE_CHECKING:
    from assay.config import AssayConfig
    from assay.contracts._result import ContractReport
    from assay.contracts._validate import StoreOpener, Target
    from assay.store import Store


@dataclass(frozen=True)
class ReportFiles:
    """Where one contract's reports go (None: that format is not written)."""

    json: Path | None = None
    html: Path | None = None
    markdown: Path | None = None
    junit: Path | None = None
    plots: bool = True  # False: the HTML report without plots (a light CI profile)


def check(root: Path, config: AssayConfig, targets: list[Target], *,
          store: str | Store | StoreOpener, store_url: str, state_dir: Path | None,
          report_files: Callable[[Target], ReportFiles], sample_rows: int = 5,
          streaming: bool | None = None, stage_run_id: str | None = None,
          on_report: Callable[[ContractReport], None] | None = None) -> list[ContractReport]:
    """Validate each target, write its reports and record its result, in that order.

    Args:
        root: the project folder; ``config`` its assay.yaml.
        targets: what to validate (:func:`~assay.contracts.resolve_targets`).
        store: where results are recorded: a URL (opened per result), an open store, or a
            :class:`StoreOpener` (the caller closes it).
        store_url: where a versioned reference (``churn@v1``) is looked up.
        state_dir: the project's ``.assay/`` (the stat cache hashes the data).
        report_files: where each target's reports go.
        stage_run_id: the stage run a ``kind: validate`` stage records the result under.
        on_report: called with each report once it is recorded (to print it).

    Returns:
        The reports, in the order of ``targets``; :func:`failure` says whether they passed.
    """
    from assay.contracts._report import write_reports
    from assay.contracts._validate import StoreOpener, record_result, validate_target

    reports = []
    for target in targets:
        report = validate_target(root, config, target, sample_rows=sample_rows,
                                 streaming=streaming, state_dir=state_dir, store_url=store_url)
        files = report_files(target)
        write_reports(report, json_path=files.json, html_path=files.html,
                      markdown_path=files.markdown, junit_path=files.junit,
                      plots=files.plots)
        record_result(store.get() if isinstance(store, StoreOpener) else store, report,
                      dataset=target.dataset, stage_run_id=stage_run_id)
        reports.append(report)
        if on_report is not None:
            on_report(report)
    return reports


def failure(reports: list[ContractReport], *, report: str | None = None
            ) -> ValidationFailed | None:
    """The error of the contracts in ``reports`` that failed (None if all passed); ``report``
    names the report to open, else the first failed report's HTML file if it wrote one."""
    failed = [r for r in reports if not r.passed]
    if not failed:
        return None
    names = ", ".join(f"'{r.contract}' ({r.errors} errors)" for r in failed)
    shown = report or failed[0].report_paths.get("html")
    where = f"; report: {shown}" if shown else ""
    return ValidationFailed(f"contract {names} failed{where}",
                            contracts=[r.contract for r in failed])
