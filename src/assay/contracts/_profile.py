"""Reference profiles (one pass over the reference data) for distribution checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from assay.contracts._source import DataSource, DataUnreadable, describe_read_error, scan
from assay.errors import ContractError

if TYPE_CHECKING:
    from assay.contracts._model import DistributionSpec

MAX_CATEGORIES = 1000


@dataclass(frozen=True)
class ColumnProfile:
    """A reference column summarised: quantile bins for numbers, category counts otherwise."""

    name: str
    numeric: bool
    counts: list[float]
    labels: list[str] = field(default_factory=list)
    edges: list[float] | None = None  # interior edges (numeric only)
    centers: list[float] | None = None
    categories: list[str] | None = None
    mean: float | None = None
    std: float | None = None
    insufficient: str | None = None


@dataclass(frozen=True)
class ReferenceProfile:
    location: str
    rows: int
    columns: dict[str, ColumnProfile]


def profile_reference(source: DataSource, specs: dict[str, DistributionSpec]) -> ReferenceProfile:
    """Summarise the columns named in ``specs`` from ``source`` in one pass.

    Raises:
        ContractError: the reference cannot be read.
    """
    import numpy as np
    import polars as pl

    from assay.contracts._drift import bin_counts, quantile_edges

    try:
        lf = scan(source)
        schema = lf.collect_schema()
        wanted = [c for c in specs if c in schema]
        frame = lf.select(wanted).collect(engine="streaming")
    except DataUnreadable as exc:
        raise ContractError(f"reference {source.location}: {exc.message}") from exc
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise ContractError(
            f"reference {source.location} cannot be read: {describe_read_error(exc)}"
        ) from exc
    columns: dict[str, ColumnProfile] = {}
    for name in wanted:
        series = frame.get_column(name)
        dtype = series.dtype
        spec = specs[name]
        if dtype.is_numeric() and dtype != pl.Boolean:
            values = series.cast(pl.Float64).drop_nulls().to_numpy()
            values = values[np.isfinite(values)]
            if values.size == 0:
                columns[name] = ColumnProfile(name, True, [], edges=[],
                                              insufficient="reference column has no values")
                continue
            edges = quantile_edges(values, spec.bins)
            low, high = float(values.min()), float(values.max())
            if low == high:
                columns[name] = ColumnProfile(name, True, [float(values.size)], edges=[],
                                              insufficient="reference column is constant")
                continue
            counts = bin_counts(values, edges)
            bounds = np.concatenate([[low], edges, [high]])
            centers = (bounds[:-1] + bounds[1:]) / 2.0
            labels = [f"<= {edges[0]:.4g}"] + [
                f"({edges[i - 1]:.4g}, {edges[i]:.4g}]" for i in range(1, len(edges))
            ] + [f"> {edges[-1]:.4g}"] if len(edges) else ["all"]
            columns[name] = ColumnProfile(
                name, True, counts.tolist(), labels=labels, edges=edges.tolist(),
                centers=centers.tolist(), mean=float(values.mean()),
                std=float(values.std(ddof=1)) if values.size > 1 else None,
            )
        else:
            counts_frame = (
                series.cast(pl.String).drop_nulls().value_counts(sort=True, name="n")
                .head(MAX_CATEGORIES)
            )
            categories = [str(v) for v in counts_frame.get_column(name).to_list()]
            counts_list = [float(v) for v in counts_frame.get_column("n").to_list()]
            columns[name] = ColumnProfile(
                name, False, counts_list, labels=categories, categories=categories,
                insufficient=None if categories else "reference column has no values",
            )
    return ReferenceProfile(source.location, frame.height, columns)
