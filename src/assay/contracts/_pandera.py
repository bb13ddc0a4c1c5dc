"""Run a user's Pandera schema (Polars backend) and report it like any other contract."""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path
from typing import Any

from assay.contracts._result import CheckResult, ContractReport
from assay.contracts._source import DataSource, DataUnreadable, describe_read_error, scan
from assay.errors import ContractError


def load_schema(spec: str, root: Path) -> Any:
    """Import ``module:attribute`` (the project root is importable).

    Raises:
        ContractError: pandera missing, bad spec, module or attribute not found.
    """
    try:
        import pandera.polars as pa
    except ImportError as exc:
        raise ContractError(
            "Pandera contracts need pandera with Polars support; install: pip install 'assay[pandera]'"
        ) from exc
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ContractError(f"pandera: {spec!r} must look like 'module:schema'", spec=spec)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ContractError(f"pandera: cannot import module {module_name!r}: {exc}", spec=spec) from exc
    schema = getattr(module, attr, None)
    if schema is None:
        raise ContractError(f"pandera: module {module_name!r} has no {attr!r}", spec=spec)
    if isinstance(schema, type) and issubclass(schema, pa.DataFrameModel):
        schema = schema.to_schema()
    if not isinstance(schema, pa.DataFrameSchema):
        raise ContractError(
            f"pandera: {spec} is a {type(schema).__name__}, not a pandera.polars DataFrameSchema "
            "or DataFrameModel", spec=spec)
    return schema


def _label(check: Any) -> str:
    """How Pandera names a check in its failure cases: ``greater_than_or_equal_to(1)``."""
    return str(getattr(check, "error", None) or getattr(check, "name", None) or check)


def _check_ids(prefix: str, checks: list[Any]) -> list[str]:
    """One id per check; a label used twice (two lambdas) gets its position."""
    labels = [_label(c) for c in checks]
    return [f"{prefix}.{label}" if labels.count(label) == 1 else f"{prefix}.{label}#{i}"
            for i, label in enumerate(labels)]


def _expected(schema: Any) -> dict[str, CheckResult]:
    """Every check the schema declares, passing until a failure case says otherwise."""
    out: dict[str, CheckResult] = {}

    def add(cid: str, column: str | None, expected: str) -> None:
        out[cid] = CheckResult(cid, "pandera", column, "error", None, "pass", expected)

    for name, column in schema.columns.items():
        prefix = f"columns.{name}"
        if column.dtype is not None:
            add(f"{prefix}.dtype", name, f"dtype('{column.dtype}')")
        if not column.nullable:
            add(f"{prefix}.nullable", name, "not_nullable")
        if column.unique:
            add(f"{prefix}.unique", name, "field_uniqueness")
        for cid, check in zip(_check_ids(prefix, column.checks), column.checks, strict=True):
            add(cid, name, _label(check))
    if schema.unique:
        add("schema.unique", None, f"multiple_fields_uniqueness{list(schema.unique)}")
    for cid, check in zip(_check_ids("schema", schema.checks), schema.checks, strict=True):
        add(cid, None, _label(check))
    return out


def _failure_id(row: dict[str, Any], schema: Any) -> str:
    """The id of :func:`_expected` that a Pandera failure case belongs to."""
    column, check, number = row.get("column"), str(row.get("check")), row.get("check_number")
    if column is None:
        if check == "column_in_dataframe":
            return f"columns.{row.get('failure_case')}.exists"
        if check == "multiple_fields_uniqueness":
            return "schema.unique"
        if number is not None and number < len(schema.checks):
            return _check_ids("schema", schema.checks)[int(number)]
        return f"schema.{check}"
    prefix = f"columns.{column}"
    if check.startswith("dtype("):
        return f"{prefix}.dtype"
    if check == "not_nullable":
        return f"{prefix}.nullable"
    if check == "field_uniqueness":
        return f"{prefix}.unique"
    spec = schema.columns.get(column)
    if spec is not None and number is not None and number < len(spec.checks):
        return _check_ids(prefix, spec.checks)[int(number)]
    return f"{prefix}.{check}"


def run_pandera(spec: str, source: DataSource, *, root: Path, name: str,
                sample_rows: int = 5) -> ContractReport:
    """Validate ``source`` with the Pandera schema at ``spec``; one result per schema check."""
    import pandera.polars as pa
    import polars as pl

    schema = load_schema(spec, root)
    started = time.time()
    t0 = time.perf_counter()
    try:
        frame = scan(source).collect()
    except DataUnreadable as exc:
        reason = exc.message
        frame = None
    except (pl.exceptions.PolarsError, OSError) as exc:
        reason = describe_read_error(exc)
        frame = None
    if frame is None:
        check = CheckResult(id="data.readable", kind="readable", column=None, severity="error",
                            owner=None, status="fail", expected="data parses",
                            message=f"cannot read {source.location}: {reason}")
        return ContractReport(name, source.location, None, None, [], "pandera", started,
                              time.perf_counter() - t0, [check])
    results = _expected(schema)
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        grouped: dict[str, list[dict[str, Any]]] = {}
        for row in exc.failure_cases.to_dicts():
            grouped.setdefault(_failure_id(row, schema), []).append(row)
        for cid, rows in grouped.items():
            first = rows[0]
            result = results.get(cid) or CheckResult(cid, "pandera", first.get("column"), "error",
                                                     None, "pass", str(first.get("check")))
            indexes = sorted({int(r["index"]) for r in rows if r.get("index") is not None})
            result.status = "fail"
            result.failing_rows = len(indexes) or len(rows)
            result.failing_fraction = result.failing_rows / frame.height if frame.height else 0.0
            result.observed = [r.get("failure_case") for r in rows[:5]]
            result.message = f"{result.failing_rows:,} failure cases"
            if indexes and sample_rows:
                from assay.contracts._engine import _jsonable_rows

                result.samples = _jsonable_rows(frame[indexes[:sample_rows]])
            results[cid] = result
    except pa.errors.SchemaError as exc:
        results["schema"] = CheckResult("schema", "pandera", None, "error", None, "fail", "schema",
                                        message=str(exc).splitlines()[0])
    return ContractReport(name, source.location, None, frame.height, list(frame.columns),
                          "pandera", started, time.perf_counter() - t0, list(results.values()))
