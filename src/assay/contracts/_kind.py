"""The built-in ``kind: validate`` stage: run a contract as a pipeline gate.

.. code-block:: yaml

    stages:
      validate:
        kind: validate
        contract: churn                     # registered name, or contracts/churn.yaml
        data: data/churn.parquet            # optional: the contract's own data otherwise
        reference: data/reference.parquet   # optional: for distribution checks

Deps: the data, the contract file and the reference; outs: ``reports/validate/<stage>/``
(``report.json``, ``report.html``), so an unchanged stage is a cache hit. Validation is the
one of ``assay validate`` (:func:`assay.contracts._check.check`); an error-severity failure
raises :class:`~assay.errors.ValidationFailed` naming the report (exit 1).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from pydantic import Field

from assay.config import KindPlan, PlanContext, Section, StageContext


class ValidateOptions(Section):
    """Options of a ``kind: validate`` stage."""

    contract: str = Field(description="registered contract name or contracts/NAME.yaml")
    data: str | None = Field(default=None, description="dataset name or path (default: the contract's)")
    reference: str | None = Field(default=None, description="reference data for distribution checks")
    sample_rows: int = Field(default=5, ge=0, le=1000)
    plots: bool = Field(default=True, description="plots in report.html (false: a lighter "
                        "report, say ${params.reports.plots} set false by a CI profile)")


def stage_slug(stage: str) -> str:
    """A file-system-safe name for a stage instance (``train@model=rf`` -> ``train_model_rf``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stage).strip("_") or "stage"


def report_dir(stage: str) -> str:
    return f"reports/validate/{stage_slug(stage)}"


def _target(options: ValidateOptions, root: Path) -> Any:
    from assay.config import Project
    from assay.contracts._validate import resolve_targets

    project = Project.load(root)
    targets = resolve_targets(root, project.config, options.data, options.contract)
    target = targets[0]
    if options.reference is not None:
        from dataclasses import replace

        target = replace(target, reference=options.reference)
    return project, target


class ValidateKind:
    """``kind: validate``: see the module docstring."""

    name = "validate"
    # what the warm worker imports once per run (see assay.pipeline._warm_worker)
    warm_imports = ("polars", "scipy.special", "rich.console",
                    "assay.contracts._check", "assay.contracts._report")
    options = ValidateOptions

    def plan(self, options: ValidateOptions, ctx: PlanContext) -> KindPlan:
        from assay._paths import relative_posix
        from assay.contracts._precheck import check_contract
        from assay.contracts._reference import is_versioned, reference_text
        from assay.contracts._source import dataset_path

        project, target = _target(options, ctx.root)
        deps = [target.data]
        if target.contract_path is not None:
            contract = check_contract(target.contract_path)  # a broken contract stops the run
            deps.append(relative_posix(ctx.root, target.contract_path))
            reference = target.reference
            if reference is None:
                reference = reference_text(contract.reference) if contract.distribution else None
            # a dataset version is immutable (and named in the contract or the stage options,
            # both part of the cache key): only a path or a dataset's current data is a dep
            if reference is not None and not is_versioned(reference):
                deps.append(dataset_path(reference, project.config)[0])
        out = report_dir(ctx.stage)
        return KindPlan(deps=deps, outs=[f"{out}/report.json", f"{out}/report.html"])

    def run(self, options: ValidateOptions, ctx: StageContext) -> int:
        """Check the data; raise :class:`~assay.errors.ValidationFailed` naming the report when
        an error-severity check failed (``kind_exec`` prints it as the stage's last line)."""
        from assay._console import make_console
        from assay._paths import resolve_inside
        from assay.contracts._check import ReportFiles, check, failure
        from assay.contracts._report import print_report

        project, target = _target(options, ctx.root)
        out = resolve_inside(ctx.root, report_dir(ctx.stage), what="report dir")
        console = make_console()
        reports = check(ctx.root, project.config, [target], store=ctx.store_url,
                        store_url=ctx.store_url, state_dir=project.state_dir,
                        report_files=lambda _: ReportFiles(json=out / "report.json",
                                                           html=out / "report.html",
                                                           plots=options.plots),
                        sample_rows=options.sample_rows, stage_run_id=ctx.stage_run_id or None,
                        on_report=lambda report: print_report(report, console))
        html_path = f"{report_dir(ctx.stage)}/report.html"
        failed = failure(reports, report=html_path)
        if failed is not None:
            sys.stdout.flush()
            raise failed
        print(f"report: {html_path}")
        return 0


KIND = ValidateKind()
