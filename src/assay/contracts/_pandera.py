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
    results: dict[str, CheckResult] = {}
    for col_name, column in schema.columns.items():
        for check in column.checks:
            cid = f"columns.{col_name}.{getattr(check, 'name', None) or check}"
            results[cid] = CheckResult(cid, "pandera", col_name, "error", None, "pass", str(check))
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        grouped: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
        for row in cases.to_dicts():
            grouped.setdefault((row.get("column"), row.get("check")), []).append(row)
        for (column, check_name), rows in grouped.items():
            cid = f"columns.{column}.{check_name}" if column else f"schema.{check_name}"
            indexes = [int(r["index"]) for r in rows if r.get("index") is not None]
            samples: list[dict[str, Any]] = []
            if indexes and sample_rows:
                samples = frame[indexes[:sample_rows]].to_dicts()
            result = results.get(cid) or CheckResult(cid, "pandera", column, "error", None,
                                                     "pass", str(check_name))
            result.status = "fail"
            result.failing_rows = len(indexes) or len(rows)
            result.failing_fraction = result.failing_rows / frame.height if frame.height else 0.0
            result.observed = [r.get("failure_case") for r in rows[:5]]
            result.message = f"{result.failing_rows:,} failure cases"
            result.samples = [{k: str(v) for k, v in s.items()} for s in samples]
            results[cid] = result
    except pa.errors.SchemaError as exc:
        cid = "schema"
        results[cid] = CheckResult(cid, "pandera", None, "error", None, "fail", "schema",
                                   message=str(exc).splitlines()[0])
    return ContractReport(name, source.location, None, frame.height, list(frame.columns),
                          "pandera", started, time.perf_counter() - t0, list(results.values()))
