"""Reference profiles for distribution checks: one shared scan of only the needed columns.

Categorical columns are summarised by Polars itself (exact value counts, every category, never
materialised as rows); numeric columns come out as one float array each, for the quantile bin
edges and the counts per bin. Both queries share one scan (``collect_all``), on the streaming
engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assay.contracts._source import DataSource, DataUnreadable, describe_read_error, scan
from assay.errors import ContractError

if TYPE_CHECKING:
    import polars as pl

    from assay.contracts._drift import DriftResult
    from assay.contracts._model import DistributionSpec

# Reports and plots show at most this many categories (the rest as "(other)"); the drift
# statistic and the unseen-category check always use every reference category.
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
    categories: list[str] | None = None  # every category, most frequent first
    values: list[Any] | None = None  # the distinct values of an integer column (unseen checks)
    mean: float | None = None
    std: float | None = None
    insufficient: str | None = None
    constant: float | None = None
    """The one value of a constant numeric reference (its counts: below, equal, above it)."""


@dataclass(frozen=True)
class ReferenceProfile:
    location: str
    rows: int
    columns: dict[str, ColumnProfile]


def _is_numeric(dtype: Any) -> bool:
    import polars as pl

    return bool(dtype.is_numeric()) and dtype != pl.Boolean


def profile_reference(source: DataSource, specs: dict[str, DistributionSpec]) -> ReferenceProfile:
    """Summarise the columns named in ``specs`` from ``source`` (one shared scan).

    Raises:
        ContractError: the reference cannot be read.
    """
    import polars as pl

    try:
        return profile_frame(scan(source), specs, shown=source.shown)
    except DataUnreadable as exc:
        raise ContractError(f"reference {source.shown}: {exc.message}") from exc
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise ContractError(
            f"reference {source.shown} cannot be read: {describe_read_error(exc)}"
        ) from exc


def profile_frame(lf: pl.LazyFrame, specs: dict[str, DistributionSpec], *,
                  shown: str) -> ReferenceProfile:
    """:func:`profile_reference` of a LazyFrame (``shown`` names it in messages); Polars'
    errors are the caller's to report."""
    import polars as pl

    schema = lf.collect_schema()
    wanted = [c for c in specs if c in schema]
    numeric = [c for c in wanted if _is_numeric(schema[c])]
    summaries: list[pl.Expr] = [pl.len().alias("\0rows")]
    arrays: list[pl.Expr] = []
    for name in wanted:
        col = _where(name, specs[name], schema, shown)
        if name not in numeric:
            summaries.append(col.cast(pl.String).drop_nulls()
                             .value_counts(sort=True, name="\0n").implode().alias(name))
            continue
        # the floats of each column as one list (each filtered by its own where)
        arrays.append(col.cast(pl.Float64).drop_nulls().implode().alias(name))
        if specs[name].new_categories and schema[name].is_integer():
            summaries.append(col.drop_nulls().unique().sort().implode()
                             .alias(f"{name}\0values"))
    queries = [lf.select(summaries)]
    if arrays:  # in the same scan
        queries.append(lf.select(arrays))
    summary, *floats = pl.collect_all(queries, engine="streaming")
    row = summary.row(0, named=True)
    columns: dict[str, ColumnProfile] = {}
    for name in wanted:
        if name in numeric:
            columns[name] = _numeric(name, floats[0].get_column(name)[0], specs[name].bins,
                                     row.get(f"{name}\0values"))
        else:
            columns[name] = _categorical(name, row[name])
    return ReferenceProfile(shown, int(row["\0rows"]), columns)


def _where(name: str, spec: DistributionSpec, schema: Any, shown: str) -> pl.Expr:
    """The column, limited by the check's ``where`` (the reference is filtered like the data)."""
    import polars as pl

    from assay.contracts._checks import _sql_expr

    if spec.where is None:
        return pl.col(name)
    check = f"distribution.{name}"
    where = _sql_expr(spec.where, f"{check}.where")
    absent = [c for c in where.meta.root_names() if c not in schema]
    if absent:
        raise ContractError(
            f"{check}: where {spec.where!r} needs column(s) {', '.join(absent)} that the "
            f"reference {shown} lacks", check=check)
    return pl.col(name).filter(where.fill_null(False))


def _numeric(name: str, series: Any, bins: int, distinct: list[Any] | None) -> ColumnProfile:
    import numpy as np

    from assay.contracts._drift import bin_counts, quantile_edges

    values = series.to_numpy()
    values = values[np.isfinite(values)]  # nulls are NaN here
    if values.size == 0:
        return ColumnProfile(name, True, [], edges=[], values=distinct,
                             insufficient="reference column has no values")
    low, high = float(values.min()), float(values.max())
    if low == high:  # compared as three categories: below, equal to, above the constant
        return ColumnProfile(name, True, [0.0, float(values.size), 0.0],
                             labels=[f"< {low:.4g}", f"= {low:.4g}", f"> {low:.4g}"], edges=[],
                             values=distinct, mean=low, std=0.0, constant=low)
    edges = quantile_edges(values, bins)
    counts = bin_counts(values, edges)
    bounds = np.concatenate([[low], edges, [high]])
    centers = (bounds[:-1] + bounds[1:]) / 2.0
    labels = [f"<= {edges[0]:.4g}"] + [
        f"({edges[i - 1]:.4g}, {edges[i]:.4g}]" for i in range(1, len(edges))
    ] + [f"> {edges[-1]:.4g}"] if len(edges) else ["all"]
    return ColumnProfile(
        name, True, counts.tolist(), labels=labels, edges=edges.tolist(),
        centers=centers.tolist(), values=distinct, mean=float(values.mean()),
        std=float(values.std(ddof=1)) if values.size > 1 else None,
    )


def _categorical(name: str, counted: list[dict[str, Any]] | None) -> ColumnProfile:
    categories = [str(item[name]) for item in counted or []]
    counts = [float(item["\0n"]) for item in counted or []]
    return ColumnProfile(
        name, False, counts, labels=categories, categories=categories,
        insufficient=None if categories else "reference column has no values",
    )


# -- comparing data with a profile (the contracts' drift checks and the monitors share these) --


def bin_index(values: pl.Expr, edges: list[float]) -> pl.Expr:
    """Bin number 0..len(edges) per value, right-closed like numpy searchsorted(side='left')."""
    import polars as pl

    if hasattr(values, "bin_intervals"):
        return values.bin_intervals(edges, labels=False, right_closed=True)
    labels = [str(i) for i in range(len(edges) + 1)]  # polars 1.x has only cut
    return values.cut(edges, labels=labels).cast(pl.String).cast(pl.UInt32)


def binned_counts(values: pl.Expr, ref: ColumnProfile) -> pl.Expr:
    """The counts of finite numbers ``values`` per bin of the numeric reference ``ref`` (a list
    of ``{bin, count}``, for :func:`compare_with_profile`)."""
    import polars as pl

    if ref.edges:
        return bin_index(values, ref.edges).value_counts().implode()
    if ref.constant is not None:  # below, equal to, above the constant
        c = ref.constant
        return (pl.when(values < c).then(0).when(values == c).then(1)
                .otherwise(2).value_counts().implode())
    return values.count()  # a reference with no values (reported as insufficient)


def category_counts(values: pl.Expr) -> pl.Expr:
    """The counts of ``values`` per category, as text (for :func:`compare_with_profile`)."""
    import polars as pl

    return values.cast(pl.String).value_counts().implode()


#: The key under which :func:`cell_counts` sums the values outside a reference's categories.
OTHERS = "\0others"


def cell_index(values: pl.Expr, ref: ColumnProfile) -> tuple[pl.Expr, int]:
    """Each value's cell of ``ref`` (null: not counted) and how many cells there are, for data
    too large to hold: computed once per row as a column, then counted by one sum per cell
    (:func:`cell_counts`), which the streaming engine folds batch by batch in bounded memory
    (``value_counts`` gathers its column first). Numbers: finite ``values`` by bin of a numeric
    reference; anything else: non-null ``values`` as text by category, every other value in a
    last cell. :func:`counts_of_cells` turns the collected sums into what
    :func:`compare_with_profile` takes."""
    import polars as pl

    if ref.numeric:
        if ref.edges:
            cell = bin_index(values, ref.edges)
        elif ref.constant is not None:  # below, equal to, above the constant
            c = ref.constant
            cell = pl.when(values < c).then(0).when(values == c).then(1).otherwise(2)
        else:  # a reference with no values (reported as insufficient): nothing is counted
            return pl.lit(None, pl.UInt32), 0
        return pl.when(values.is_finite()).then(cell.cast(pl.UInt32)), len(ref.counts)
    text = values.cast(pl.String)
    known = list(ref.categories or [])
    # an Enum of the categories numbers them (another value becomes null): unlike
    # replace_strict, the streaming engine runs it batch by batch
    cell = (text.cast(pl.Enum(known), strict=False).to_physical().cast(pl.UInt32)
            .fill_null(len(known))) if known else pl.lit(0, pl.UInt32)
    return pl.when(text.is_not_null()).then(cell), len(known) + 1


def cell_counts(cells: pl.Expr, count: int) -> list[pl.Expr]:
    """The number of rows in each of ``count`` cells of the column ``cells`` (a
    :func:`cell_index`)."""
    return [(cells == i).sum() for i in range(count)]


def counts_of_cells(ref: ColumnProfile, sums: list[Any]) -> list[dict[str, Any]]:
    """The collected sums of :func:`cell_counts` as ``[{value, count}, ...]`` (the form of an
    imploded ``value_counts``, for :func:`compare_with_profile`)."""
    if ref.numeric:
        return [{"value": i, "count": int(n or 0)} for i, n in enumerate(sums)]
    keys = [*(ref.categories or []), OTHERS]
    return [{"value": k, "count": int(n or 0)} for k, n in zip(keys, sums, strict=True)]


def value_counts(raw: Any) -> dict[Any, int]:
    """``[{value, count}, ...]`` (an imploded ``value_counts``) as a dict."""
    out: dict[Any, int] = {}
    for item in raw or []:
        values = list(item.values())
        out[values[0]] = int(values[1])
    return out


def aligned_counts(ref: ColumnProfile, raw: Any) -> tuple[list[str], list[float], list[float]]:
    """(labels, reference counts, current counts) on the reference's bins or categories; the
    current categories the reference never had are summed as a last ``(unseen)`` cell."""
    counts = value_counts(raw)
    if ref.numeric:
        current = [float(counts.get(i, 0)) for i in range(len(ref.counts))]
        return list(ref.labels), list(ref.counts), current
    labels = list(ref.categories or [])
    known = set(labels)
    ref_counts = list(ref.counts)
    current = [float(counts.get(label, 0)) for label in labels]
    unseen = sum(v for k, v in counts.items() if k is not None and k not in known)
    if unseen:
        labels.append("(unseen)")
        ref_counts.append(0.0)
        current.append(float(unseen))
    return labels, ref_counts, current


def compare_with_profile(ref: ColumnProfile, raw: Any, *, statistic: str | None = None,
                         threshold: float | None = None, alpha: float = 0.05,
                         ) -> tuple[list[str], list[float], list[float], DriftResult]:
    """Decide whether current counts (:func:`binned_counts` or :func:`category_counts`,
    collected) drift from the reference column ``ref``: the drift engine's
    :func:`~assay.contracts.drift.compare` on the aligned counts (a constant reference by the
    chi-square test alone).

    Returns:
        (labels, reference counts, current counts, the decision at ``alpha``).
    """
    from assay.contracts._drift import compare

    labels, ref_counts, cur_counts = aligned_counts(ref, raw)
    constant = ref.constant is not None
    drift = compare("chi2" if constant else statistic, ref_counts, cur_counts,
                    threshold=None if constant else threshold, centers=ref.centers,
                    scale=ref.std, numeric=ref.numeric and not constant,
                    unseen=labels[-1:] == ["(unseen)"], alpha=alpha)
    return labels, ref_counts, cur_counts, drift
