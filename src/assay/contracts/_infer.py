"""``assay contract infer``: profile a dataset (one pass) and write a starting contract."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from typing import Any

from assay.contracts._source import DataSource, DataUnreadable, describe_read_error, scan
from assay.errors import ContractError

MAX_CATEGORIES = 20


def _round_out(value: float, *, down: bool) -> float:
    """Round to 4 significant digits, away from the data (so the data stays inside)."""
    if value == 0 or not math.isfinite(value):
        return value
    digits = 3 - math.floor(math.log10(abs(value)))
    scale = 10.0 ** digits
    return (math.floor(value * scale) if down else math.ceil(value * scale)) / scale


def _widen_times(low: date, high: date, margin: float) -> tuple[date, date]:
    """``[low, high]`` widened by ``margin`` of its span on each side, to whole seconds (days)."""
    if not isinstance(low, datetime) or not isinstance(high, datetime):
        days = timedelta(days=math.ceil((high - low).days * margin))
        return low - days, high + days
    pad = (high - low) * margin
    lo = (low - pad).replace(microsecond=0)
    hi = high + pad
    if hi.microsecond:
        hi = hi.replace(microsecond=0) + timedelta(seconds=1)
    return lo, hi


def infer_contract(source: DataSource, *, name: str, owner: str | None = None,
                   data: str | None = None, margin: float = 0.1,
                   max_categories: int = MAX_CATEGORIES) -> dict[str, Any]:
    """A contract (as a YAML-ready mapping) that the profiled data satisfies.

    Args:
        source: the data to profile.
        name: the contract name.
        owner: written as the contract's owner.
        data: written as the contract's default data.
        margin: numeric and time ranges are widened by this fraction of their span on each
            side (never below zero for non-negative columns; times to whole seconds, dates to
            whole days). Integer 0/1 flags get ``allowed: [0, 1]`` instead of a range.
        max_categories: string columns with at most this many distinct values get ``allowed``.

    Raises:
        ContractError: the data cannot be read.
    """
    import polars as pl

    try:
        lf = scan(source)
        schema = dict(lf.collect_schema())
        exprs: list[pl.Expr] = [pl.len().alias("__rows")]
        for col, dtype in schema.items():
            c = pl.col(col)
            missing = (c.is_null() | c.is_nan()) if dtype.is_float() else c.is_null()
            exprs += [missing.sum().alias(f"{col}\0nulls"), c.n_unique().alias(f"{col}\0distinct")]
            if dtype.is_numeric() or dtype.is_temporal():
                clean = c.filter(~c.is_nan()) if dtype.is_float() else c
                exprs += [clean.min().alias(f"{col}\0min"), clean.max().alias(f"{col}\0max")]
            if dtype == pl.String:
                exprs += [c.drop_nulls().unique().head(max_categories + 1).implode().alias(f"{col}\0values"),
                          c.str.len_chars().min().alias(f"{col}\0minlen"),
                          c.str.len_chars().max().alias(f"{col}\0maxlen")]
        row = lf.select(exprs).collect(engine="streaming").row(0, named=True)
    except DataUnreadable as exc:
        raise ContractError(f"cannot profile {source.location}: {exc.message}") from exc
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise ContractError(f"cannot profile {source.location}: {describe_read_error(exc)}") from exc
    from assay.contracts._checks import dtype_name

    rows = int(row["__rows"])
    columns: dict[str, Any] = {}
    for col, dtype in schema.items():
        spec: dict[str, Any] = {"dtype": dtype_name(dtype)}
        nulls = int(row[f"{col}\0nulls"])
        distinct = int(row[f"{col}\0distinct"])
        if nulls == 0 and rows:
            spec["nullable"] = False
        elif rows:
            spec["max_null_fraction"] = min(1.0, _round_out(nulls / rows * 1.5 + 0.001, down=False))
        if rows > 1 and nulls == 0 and distinct == rows and (dtype.is_integer() or dtype == pl.String):
            spec["unique"] = True
        low, high = row.get(f"{col}\0min"), row.get(f"{col}\0max")
        if dtype.is_integer() and distinct - (1 if nulls else 0) == 2 and (low, high) == (0, 1):
            spec["allowed"] = [0, 1]  # a 0/1 flag: exactly two values, 0 and 1
        elif dtype.is_numeric() and low is not None and high is not None and dtype != pl.Boolean:
            span = float(high) - float(low)
            pad = span * margin if span > 0 else abs(float(high)) * margin
            lo = float(low) - pad
            hi = float(high) + pad
            if float(low) >= 0:
                lo = max(lo, 0.0)
            if dtype.is_integer():
                spec["min"], spec["max"] = math.floor(lo), math.ceil(hi)
            else:
                spec["min"], spec["max"] = _round_out(lo, down=True), _round_out(hi, down=False)
        elif dtype.is_temporal() and isinstance(low, (datetime, date)) and isinstance(high, (datetime, date)):
            lo_t, hi_t = _widen_times(low, high, margin)
            spec["min"], spec["max"] = lo_t.isoformat(), hi_t.isoformat()
        if dtype == pl.String:
            values = row.get(f"{col}\0values") or []
            if 0 < len(values) <= max_categories and distinct < rows:
                spec["allowed"] = sorted(str(v) for v in values)
            elif row.get(f"{col}\0minlen") is not None:
                spec["length"] = {"min": int(row[f"{col}\0minlen"]),
                                  "max": int(row[f"{col}\0maxlen"])}
        columns[col] = spec
    contract: dict[str, Any] = {"name": name}
    if owner:
        contract["owner"] = owner
    if data:
        contract["data"] = data
    contract["extra_columns"] = "warn"
    contract["columns"] = columns
    contract["checks"] = [{"row_count": {"min": 1 if rows else 0}}]
    return contract


def contract_yaml(contract: dict[str, Any], *, source: str) -> str:
    """The contract as commented YAML."""
    import yaml

    header = (f"# Data contract inferred by `assay contract infer {source}`.\n"
              "# Review it: tighten ranges, add checks, set severity/owner. Docs: README 'Data contracts'.\n")
    return header + yaml.safe_dump(contract, sort_keys=False, allow_unicode=True, width=100)
