"""When the one query fails: find the check (or the data) that broke it.

A contract's checks run as one Polars query, so one bad check (``sql: "contract > 5"`` on a
string column) fails all of them. Only then, never on the good path, the failure is narrowed:

1. each check alone on a zero-row frame with the data's schema: a check that fails there is
   wrong for these column types whatever the rows hold, a contract error naming the check
   (unless a text column it reads holds no value at all, as an all-empty CSV column does:
   that check has nothing to check, ``insufficient``);
2. otherwise every column is parsed alone: if that fails, the data is unreadable;
3. otherwise each check alone on the data: the ones that fail on these values fail as checks
   ("cannot evaluate on this data: ..."), and the rest run again as one query.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from assay.contracts._source import describe_read_error
from assay.errors import ContractError

if TYPE_CHECKING:
    import polars as pl

    from assay.contracts._checks import _Pending


class DataBroken(Exception):
    """The data itself cannot be read (step 2); carries the reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _select(item: _Pending) -> list[pl.Expr]:
    return [expr.alias(alias) for alias, expr in item.exprs.items()]


def _output_name(expr: pl.Expr) -> str | None:
    import polars as pl

    try:
        return expr.meta.output_name()
    except pl.exceptions.PolarsError:  # several outputs (the parse-every-column check)
        return None


def contract_errors(contract: str, schema: dict[str, Any], pending: list[_Pending],
                    lf: pl.LazyFrame | None = None) -> set[str]:
    """Step 1: raise a :class:`ContractError` naming every check invalid for the schema.

    A check that breaks only on a text column holding no value at all (an all-empty CSV column
    is read as text) is not wrong: it is set aside as ``insufficient`` ("all values are null");
    returns the aliases of those checks.
    """
    import polars as pl

    from assay.contracts._checks import ALL_NULL, set_aside

    empty = pl.LazyFrame(schema=schema)
    broken: list[tuple[_Pending, str]] = []
    for item in pending:
        if not item.exprs:
            continue
        try:
            empty.select(_select(item)).collect()
        except pl.exceptions.PolarsError as exc:
            broken.append((item, f"{item.result.id} ({item.result.expected}): "
                                 f"{describe_read_error(exc)}"))
    valueless = _valueless_text_columns(lf, schema, [item for item, _ in broken])
    aside: set[str] = set()
    for item, _ in broken:
        if _roots(item) & valueless:
            aside.update(item.exprs)
            set_aside([item], "insufficient", ALL_NULL)
    broken = [(item, text) for item, text in broken if item.result.status != "insufficient"]
    if broken:
        raise ContractError(
            f"Contract '{contract}': {len(broken)} check(s) cannot run on this data's column "
            f"types: {'; '.join(text for _, text in broken)}; fix the check (or the data's types)",
            contract=contract, checks=[item.result.id for item, _ in broken],
        )
    return aside


def _roots(item: _Pending) -> set[str]:
    import polars as pl

    try:
        return {name for expr in item.exprs.values() for name in expr.meta.root_names()}
    except pl.exceptions.PolarsError:
        return set()


def _valueless_text_columns(lf: pl.LazyFrame | None, schema: dict[str, Any],
                            broken: list[_Pending]) -> set[str]:
    """The text columns read by ``broken`` checks that hold no value (one pass over them)."""
    import polars as pl

    names = sorted({n for item in broken for n in _roots(item) if schema.get(n) == pl.String})
    if lf is None or not names:
        return set()
    try:
        found = lf.select(pl.col(n).is_not_null().any() for n in names).collect().row(0)
    except pl.exceptions.PolarsError:
        return set()  # the data itself: step 2 says so
    return {n for n, has_value in zip(names, found, strict=True) if not has_value}


def recover(lf: pl.LazyFrame, selected: list[pl.Expr], pending: list[_Pending], *,
            contract: str, schema: dict[str, Any],
            engine: Literal["streaming", "in-memory"]) -> dict[str, Any]:
    """The query's row after narrowing its failure down (see the module docstring).

    Raises:
        ContractError: a check is invalid for the data's column types.
        DataBroken: the data cannot be read.
    """
    import polars as pl

    dropped = contract_errors(contract, schema, pending, lf)
    try:
        lf.select(pl.all().null_count()).collect(engine=engine)
    except pl.exceptions.PolarsError as exc:
        raise DataBroken(describe_read_error(exc)) from exc
    for item in pending:
        if not item.exprs:
            continue
        try:
            lf.select(_select(item)).collect(engine=engine)
        except pl.exceptions.PolarsError as exc:
            item.result.status = "fail"
            item.result.message = f"cannot evaluate on this data: {describe_read_error(exc)}"
            dropped.update(item.exprs)
            item.exprs, item.finish, item.sample = {}, None, None
    if not dropped:
        raise DataBroken("the query failed, but every check and column runs alone")
    kept = [expr for expr in selected if _output_name(expr) not in dropped]
    try:
        return dict(lf.select(kept).collect(engine=engine).row(0, named=True))
    except pl.exceptions.PolarsError as exc:
        raise DataBroken(describe_read_error(exc)) from exc
