"""A light profile of tabular data (Parquet, CSV): rows, schema, per-column summaries."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TABULAR_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


@dataclass(frozen=True)
class TableProfile:
    """Rows, schema (column -> dtype) and per-column summaries of a table."""

    rows: int
    schema: dict[str, str]
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)


def is_tabular(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in TABULAR_SUFFIXES


def profile_table(path: Path) -> TableProfile | None:
    """Profile a Parquet or CSV file with one Polars lazy scan; None if it cannot be read."""
    import polars as pl

    kind = TABULAR_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        return None
    try:
        frame = pl.scan_parquet(path) if kind == "parquet" else pl.scan_csv(path)
        schema = frame.collect_schema()
        exprs: list[pl.Expr] = [pl.len().alias("__rows")]
        for name, dtype in schema.items():
            col = pl.col(name)
            exprs.append(col.null_count().alias(f"{name}\x00nulls"))
            if dtype.is_numeric():
                exprs += [
                    col.min().cast(pl.Float64).alias(f"{name}\x00min"),
                    col.max().cast(pl.Float64).alias(f"{name}\x00max"),
                    col.mean().cast(pl.Float64).alias(f"{name}\x00mean"),
                    col.std().cast(pl.Float64).alias(f"{name}\x00std"),
                ]
            elif dtype in (pl.String, pl.Categorical, pl.Boolean) or isinstance(dtype, pl.Enum):
                exprs.append(col.n_unique().alias(f"{name}\x00distinct"))
            elif dtype.is_temporal():
                exprs += [
                    col.min().cast(pl.String).alias(f"{name}\x00min"),
                    col.max().cast(pl.String).alias(f"{name}\x00max"),
                ]
        row = frame.select(exprs).collect().row(0, named=True)
    except (pl.exceptions.PolarsError, OSError):
        return None
    columns: dict[str, dict[str, Any]] = {name: {} for name in schema}
    for key, value in row.items():
        if key == "__rows":
            continue
        name, _, stat = key.partition("\x00")
        columns[name][stat] = _clean(value)
    return TableProfile(
        rows=int(row["__rows"]),
        schema={name: str(dtype) for name, dtype in schema.items()},
        columns=columns,
    )


def _clean(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, float):
        return round(value, 6)
    return value
