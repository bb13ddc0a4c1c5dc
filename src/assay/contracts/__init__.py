"""Data contracts: declarative checks on a dataset, compiled into one lazy Polars query.

A contract (``contracts/NAME.yaml``) declares column checks (dtype, nulls, uniqueness, ranges,
allowed values, regex, string lengths, monotonic order), table checks (row counts, compound
keys, Polars or SQL row expressions, column comparisons, freshness) and distribution checks
against a reference dataset (drift statistics from :mod:`assay.contracts.drift`, moment and
quantile bounds, category shares, unseen categories). Every check has a severity (``error``
stops the pipeline, ``warn`` reports), an owner and an optional ``where`` filter.

>>> from assay.contracts import load_contract, run_contract, source_for
>>> report = run_contract(load_contract(path), source_for("data/x.parquet", root))
>>> report.passed, report.errors
"""

from __future__ import annotations

from types import ModuleType

from assay.contracts._check import ReportFiles, check, failure
from assay.contracts._engine import run_contract
from assay.contracts._infer import contract_yaml, infer_contract
from assay.contracts._kind import KIND, ValidateOptions
from assay.contracts._model import Contract, DistributionSpec, load_contract, parse_duration
from assay.contracts._pandera import run_pandera
from assay.contracts._precheck import check_contract, check_contracts
from assay.contracts._profile import (
    ColumnProfile,
    ReferenceProfile,
    binned_counts,
    category_counts,
    cell_counts,
    cell_index,
    compare_with_profile,
    counts_of_cells,
    profile_frame,
    profile_reference,
)
from assay.contracts._reference import cached_source, open_reference, versioned
from assay.contracts._report import (
    print_report,
    summary_line,
    to_html,
    to_json,
    to_junit,
    to_markdown,
    write_reports,
)
from assay.contracts._result import CheckResult, ContractReport
from assay.contracts._row_checks import ROW_KINDS, RowChecks, row_checks
from assay.contracts._source import (
    DataSource,
    DataUnreadable,
    dataset_path,
    describe_read_error,
    scan,
    source_for,
)
from assay.contracts._validate import (
    Target,
    contract_results_for,
    record_result,
    resolve_targets,
    validate_target,
)


def __getattr__(name: str) -> ModuleType:
    """``assay.contracts.drift`` (the drift statistics) is imported on first use (NumPy/SciPy)."""
    if name == "drift":
        from assay.contracts import _drift

        return _drift
    raise AttributeError(f"module 'assay.contracts' has no attribute {name!r}")


__all__ = [
    "KIND",
    "ROW_KINDS",
    "CheckResult",
    "ColumnProfile",
    "Contract",
    "ContractReport",
    "DataSource",
    "DataUnreadable",
    "DistributionSpec",
    "ReferenceProfile",
    "ReportFiles",
    "RowChecks",
    "Target",
    "ValidateOptions",
    "binned_counts",
    "cached_source",
    "category_counts",
    "cell_counts",
    "cell_index",
    "check",
    "check_contract",
    "check_contracts",
    "compare_with_profile",
    "contract_results_for",
    "contract_yaml",
    "counts_of_cells",
    "dataset_path",
    "describe_read_error",
    "drift",
    "failure",
    "infer_contract",
    "load_contract",
    "open_reference",
    "parse_duration",
    "print_report",
    "profile_frame",
    "profile_reference",
    "record_result",
    "resolve_targets",
    "row_checks",
    "run_contract",
    "run_pandera",
    "scan",
    "source_for",
    "summary_line",
    "to_html",
    "to_json",
    "to_junit",
    "to_markdown",
    "validate_target",
    "versioned",
    "write_reports",
]
