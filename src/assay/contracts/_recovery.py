"""When the one query fails: find the check (or the data) that broke it.

A contract's checks run as one Polars query, so one bad check (``sql: "contract > 5"`` on a
string column) fails all of them. Only then, never on the good path, the failure is narrowed:

1. each check alone on a zero-row frame with the data's schema: a check that fails there is
   wrong for these column types whatever the rows hold, a contract error naming the check;
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


def contract_errors(contract: str, schema: dict[str, Any], pending: list[_Pending]) -> None:
    """Step 1: raise a :class:`ContractError` naming every check invalid for the schema."""
    import polars as pl

    empty = pl.LazyFrame(schema=schema)
    broken: list[tuple[str, str]] = []
    for item in pending:
        if not item.exprs:
            continue
        try:
            empty.select(_select(item)).collect()
        except pl.exceptions.PolarsError as exc:
            broken.append((item.result.id, f"{item.result.id} ({item.result.expected}): "
                                            f"{describe_read_error(exc)}"))
    if broken:
        raise ContractError(
            f"Contract '{contract}': {len(broken)} check(s) cannot run on this data's column "
            f"types: {'; '.join(text for _, text in broken)}; fix the check (or the data's types)",
            contract=contract, checks=[check for check, _ in broken],
        )


def recover(lf: pl.LazyFrame, selected: list[pl.Expr], pending: list[_Pending], *,
            contract: str, schema: dict[str, Any],
            engine: Literal["streaming", "in-memory"]) -> dict[str, Any]:
    """The query's row after narrowing its failure down (see the module docstring).

    Raises:
        ContractError: a check is invalid for the data's column types.
        DataBroken: the data cannot be read.
    """
    import polars as pl

    contract_errors(contract, schema, pending)
    try:
        lf.select(pl.all().null_count()).collect(engine=engine)
    except pl.exceptions.PolarsError as exc:
        raise DataBroken(describe_read_error(exc)) from exc
    dropped: set[str] = set()
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
