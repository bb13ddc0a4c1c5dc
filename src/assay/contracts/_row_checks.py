"""A contract's row-level checks, compiled for data that another query reads (a monitor's
window of live traffic).

Only the checks that hold row by row on the columns the data has are kept: ``dtype``,
``nullable``, ``max_null_fraction``, ``min``, ``max``, ``allowed``, ``regex`` and ``length``.
Row counts, freshness, uniqueness, order and table checks speak of a whole dataset, and
distribution checks of its shape (a monitor decides drift itself), so they are left out. The
checks are compiled by the contract engine's own compiler (:mod:`assay.contracts._engine`): their
expressions are scalar aggregations, added by the caller to its own single pass, and their
results are finished from that pass's values exactly as ``assay validate`` finishes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from assay.contracts._checks import _Pending
from assay.contracts._model import ColumnSpec, Contract
from assay.contracts._result import CheckResult

if TYPE_CHECKING:
    import polars as pl

#: The column checks that hold row by row (the others are left out).
ROW_KINDS = ("dtype", "nullable", "max_null_fraction", "min", "max", "allowed", "regex", "length")


@dataclass
class RowChecks:
    """The compiled checks: ``frame`` is the data to aggregate (its untyped columns cast to
    their declared types), ``exprs`` the aggregations to add to the caller's pass."""

    frame: pl.LazyFrame
    exprs: dict[str, pl.Expr]
    pending: list[_Pending]

    def results(self, values: dict[str, Any]) -> list[CheckResult]:
        """Every check's result from the collected ``values`` of :attr:`exprs`."""
        out = []
        for item in self.pending:
            if item.finish is not None:
                item.finish(values, item.result)
            out.append(item.result)
        return out


def row_checks(contract: Contract, lf: pl.LazyFrame, *, columns: list[str],
               alias_prefix: str = "\0check") -> RowChecks:
    """``contract``'s row-level checks of the ``columns`` it declares, over ``lf``.

    Raises:
        ContractError: a check cannot be compiled (a bad regex).
    """
    from assay.contracts._column_types import untyped_columns, wrong_types
    from assay.contracts._engine import _Compiler

    kept = {name: ColumnSpec(**{k: getattr(spec, k) for k in ROW_KINDS})
            for name, spec in contract.columns.items() if name in columns}
    narrowed = contract.model_copy(update={"columns": kept, "checks": [], "distribution": {},
                                           "extra_columns": "allow"})
    schema = dict(lf.collect_schema())
    lf, schema, untyped = untyped_columns(lf, schema, narrowed, "parquet")
    compiler = _Compiler(narrowed, schema, reference=None, now=datetime.now(timezone.utc),
                         file_mtime=lambda: 0.0, streaming=True, columnar=True,
                         untyped=untyped, wrong_type=wrong_types(schema, narrowed, untyped, {}),
                         sample_rows=0)
    pending = compiler.compile()
    exprs: dict[str, pl.Expr] = {}
    for item in pending:  # the compiler's aliases, kept apart from the caller's
        renamed = {f"{alias_prefix}{k}": e for k, e in item.exprs.items()}
        exprs.update(renamed)
        item.exprs = renamed
        if item.finish is not None:
            item.finish = _unprefixed(item.finish, alias_prefix)
    return RowChecks(lf, exprs, pending)


def _unprefixed(finish: Any, prefix: str) -> Any:
    def run(values: dict[str, Any], result: CheckResult) -> None:
        finish({k[len(prefix):]: v for k, v in values.items() if k.startswith(prefix)}, result)

    return run
