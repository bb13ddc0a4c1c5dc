"""Columns whose values carry no type: a header-only CSV, a column that is all null.

A CSV or NDJSON column without a single value is read as text (a header-only CSV reads as all
text), and an all-null column of a typed format has Polars' ``Null`` type. Neither says the data
changed type: there is nothing to type. Such a column is *untyped*: it takes the contract's
``dtype`` when one is declared (so its checks run, over no values), its ``dtype`` check says
why it cannot tell, and checks that cannot run on it say "no rows" or "all values are null"
instead of failing or aborting the contract. A column that has values of another type than the
contract's is *wrong-typed* (:func:`wrong_types`): its ``dtype`` check fails and the checks that
depend on the type are skipped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assay.contracts._checks import (
    _DTYPE_ALIASES,
    ALL_NULL,
    NO_ROWS,
    dtype_matches,
    dtype_name,
)
from assay.contracts._model import Contract

if TYPE_CHECKING:
    import polars as pl

_TEXT_FORMATS = ("csv", "ndjson")


def contract_dtype(expected: str) -> Any:
    """The Polars type a contract ``dtype`` names (a family: its usual member); None if it
    names none that a column without values could take (``enum``)."""
    import polars as pl

    want = _DTYPE_ALIASES.get(expected.lower(), expected.lower())
    families: dict[str, Any] = {
        "string": pl.String, "boolean": pl.Boolean, "integer": pl.Int64, "float": pl.Float64,
        "numeric": pl.Float64, "datetime": pl.Datetime("us"), "date": pl.Date, "time": pl.Time,
        "categorical": pl.Categorical,
    }
    exact = {dtype_name(t): t for t in (
        pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64,
        pl.Float32, pl.Float64, pl.Duration("us"), pl.Binary)}
    found = families.get(want, exact.get(want))
    return found if found is not None and dtype_matches(expected, found) else None


def _declared(contract: Contract) -> dict[str, str]:
    return {name: spec.dtype.value for name, spec in contract.columns.items()
            if spec.dtype is not None}


def untyped_columns(lf: pl.LazyFrame, schema: dict[str, Any], contract: Contract, fmt: str
                    ) -> tuple[pl.LazyFrame, dict[str, Any], dict[str, str]]:
    """``lf`` with its untyped columns cast to their declared types, the new schema, and each
    untyped column with why (:data:`NO_ROWS` or :data:`ALL_NULL`).

    Text formats cost a look at the first row, and a pass over the few text columns whose
    declared type is not text (only then: a value there means the type really changed).
    """
    import polars as pl

    untyped = {name: ALL_NULL for name, dtype in schema.items() if dtype == pl.Null}
    if fmt in _TEXT_FORMATS:
        try:
            empty = lf.head(1).select(pl.len()).collect().item() == 0
            texts = [n for n, want in _declared(contract).items()
                     if schema.get(n) == pl.String and not dtype_matches(want, pl.String)]
            if empty:
                untyped.update({n: NO_ROWS for n, t in schema.items() if t in (pl.String, pl.Null)})
            elif texts:
                found = lf.select(pl.col(n).is_not_null().any() for n in texts).collect()
                untyped.update({n: ALL_NULL for n in texts if not found.get_column(n).item()})
        except (pl.exceptions.PolarsError, OSError):
            pass  # unreadable: the contract's own query reports it
    declared = _declared(contract)
    casts = {n: contract_dtype(declared[n]) for n in untyped if n in declared}
    casts = {n: dtype for n, dtype in casts.items() if dtype is not None}
    if not casts:
        return lf, schema, untyped
    lf = lf.with_columns(pl.col(n).cast(dtype) for n, dtype in casts.items())
    return lf, {**schema, **casts}, untyped


def _family(dtype: Any) -> str:
    """Types whose values compare with one another: numbers, dates and times, text, ..."""
    import polars as pl

    if dtype == pl.Boolean:
        return "boolean"
    if dtype.is_numeric():
        return "number"
    if dtype.is_temporal():
        return "time"
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
        return "text"
    return dtype_name(dtype)


def wrong_types(schema: dict[str, Any], contract: Contract, untyped: dict[str, str],
                unparsed: dict[str, str]) -> dict[str, str]:
    """Columns whose values are of another kind than the contract's type -> the reason.

    Their type-dependent checks are skipped. A change within a kind (int64 to float64, a date
    to a datetime) fails the ``dtype`` check too, but bounds and distributions still compare.
    """
    import polars as pl

    found = {}
    for name, want in _declared(contract).items():
        if name not in schema or name in untyped or name in unparsed:
            continue
        have = schema[name]
        if dtype_matches(want, have):
            continue
        declared = contract_dtype(want)
        if _family(declared if declared is not None else pl.String) != _family(have):
            found[name] = f"column '{name}' is {dtype_name(have)}, expected {want}"
    return found
