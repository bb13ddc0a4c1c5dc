"""Building blocks of the compiler: pending checks, row checks, SQL and Polars expressions."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from assay.contracts._model import CheckOptions, Contract
from assay.contracts._result import CheckResult, Status
from assay.contracts._source import describe_read_error
from assay.errors import ContractError

if TYPE_CHECKING:
    import polars as pl

    from assay.contracts._profile import ReferenceProfile

_COMPARE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(>=|<=|==|!=|=|>|<)\s*([A-Za-z_][\w.]*)\s*$")
NO_ROWS = "no rows"
ALL_NULL = "all values are null"
"""Why a column has no type to check (see :mod:`assay.contracts._column_types`)."""
_DTYPE_ALIASES = {
    "str": "string", "utf8": "string", "string": "string", "text": "string",
    "bool": "boolean", "boolean": "boolean",
    "int": "integer", "integer": "integer", "float": "float", "double": "float64",
    "numeric": "numeric", "number": "numeric", "datetime": "datetime", "timestamp": "datetime",
    "date": "date", "time": "time", "categorical": "categorical", "category": "categorical",
    "enum": "enum",
}


@dataclass
class _Pending:
    result: CheckResult
    exprs: dict[str, pl.Expr] = field(default_factory=dict)
    finish: Callable[[dict[str, Any], CheckResult], None] | None = None
    sample: Callable[[pl.LazyFrame], pl.LazyFrame] | None = None
    # values computed by their own pass (big-data uniqueness, or a key the main pass could not
    # prove unique), given the main pass's values, merged before ``finish``
    separate: Callable[[pl.LazyFrame, dict[str, Any]], dict[str, Any]] | None = None


def set_aside(items: list[_Pending], status: Status, message: str) -> None:
    """Report ``items`` as not evaluated (``skipped`` on a wrong type, ``insufficient`` without
    values) instead of running them."""
    for item in items:
        item.result.status = status
        item.result.message = message
        item.result.observed = None
        item.result.failing_rows = item.result.failing_fraction = None
        item.exprs, item.finish, item.sample, item.separate = {}, None, None, None


def dtype_name(dtype: Any) -> str:
    """A short lowercase name for a Polars dtype: int64, float64, string, datetime, ..."""
    text = str(dtype)
    base = text.split("(")[0].split("[")[0].lower()
    return {"utf8": "string", "str": "string"}.get(base, base)


def dtype_matches(expected: str, dtype: Any) -> bool:
    """Does a Polars dtype satisfy the contract's ``dtype`` (a name or a family)?"""
    name = dtype_name(dtype)
    want = _DTYPE_ALIASES.get(expected.lower(), expected.lower())
    if want == "integer":
        return bool(dtype.is_integer())
    if want == "float":
        return bool(dtype.is_float())
    if want == "numeric":
        return bool(dtype.is_numeric())
    if want == "string":
        return name == "string"
    return name == want


def _is_temporal(dtype: Any) -> bool:
    return bool(dtype.is_temporal())


def _sql_expr(text: str, where: str) -> pl.Expr:
    import polars as pl

    try:
        return pl.sql_expr(text)
    except (pl.exceptions.PolarsError, ValueError) as exc:
        raise ContractError(
            f"{where}: SQL {text!r} does not parse: {describe_read_error(exc)}", check=where
        ) from exc


def _regex_valid(pattern: str, where: str) -> None:
    """Raise unless ``pattern`` compiles in Polars' regex engine (not Python's ``re``)."""
    import polars as pl

    try:
        pl.select(pl.lit("x").str.contains(pattern))
    except pl.exceptions.PolarsError as exc:
        # the regex crate's reason ("unclosed character class", "look-around ... is not
        # supported") is on its own "error:" line, under a heading
        lines = [line.strip() for line in str(exc).splitlines()]
        reason = next((line[len("error:"):].strip() for line in lines
                       if line.startswith("error:")), describe_read_error(exc))
        raise ContractError(
            f"{where}: regex {pattern!r} does not compile: {reason}", check=where
        ) from exc


def _parse_expr(text: str, where: str) -> Any:
    """The code of a Polars expression string, parsed but not run."""
    try:
        return compile(text, f"<{where}>", "eval")
    except SyntaxError as exc:
        raise ContractError(f"{where}: expression {text!r} is not valid Python: {exc.msg}",
                            check=where) from exc


def _polars_expr(text: str, where: str) -> pl.Expr:
    """Evaluate a Polars expression string (contracts are code: they are trusted like assay.yaml)."""
    import polars as pl

    namespace = {"pl": pl, "col": pl.col, "lit": pl.lit, "when": pl.when, "all": pl.all,
                 "len": pl.len}
    code = _parse_expr(text, where)
    try:
        value = eval(code, {"__builtins__": {}}, namespace)
    except Exception as exc:  # user text: any error means the expression is wrong
        raise ContractError(f"{where}: expression {text!r} failed: {exc}", check=where) from exc
    if not isinstance(value, pl.Expr):
        raise ContractError(
            f"{where}: expression {text!r} must give a Polars expression, got "
            f"{type(value).__name__}; e.g. pl.col('end') >= pl.col('start')",
            check=where,
        )
    return value


class CheckBuilder:
    """Shared state and helpers of the contract compiler."""

    def __init__(self, contract: Contract, schema: dict[str, Any], *,
                 reference: ReferenceProfile | None, now: datetime, file_mtime: Callable[[], float],
                 streaming: bool = False, unparsed: dict[str, str] | None = None,
                 columnar: bool = False, untyped: dict[str, str] | None = None,
                 wrong_type: dict[str, str] | None = None, sample_rows: int = 5) -> None:
        self.contract = contract
        self.sample_rows = sample_rows  # failing rows shown per failed check
        # column -> its values on more than one row, once a unique check of that column alone
        # over every row has run (compound keys holding it look only at those rows)
        self.repeated_values: dict[str, pl.Series] = {}
        # the same with the streaming engine: column -> (its repeated 64-bit hashes, how many
        # rows can hold them)
        self.repeated_hashes: dict[str, tuple[Any, int]] = {}
        # columns without a value to type (-> "no rows" / "all values are null"), and columns
        # whose values have another type than the contract's (-> why): see ``_column_types``
        self.untyped = untyped or {}
        self.wrong_type = wrong_type or {}
        # a columnar source (Parquet, Arrow IPC) re-reads a few columns cheaply in a second pass
        self.columnar = columnar
        # text columns parsed as dates/times -> the hidden column flagging unparseable values
        self.unparsed = unparsed or {}
        self.streaming = streaming
        self.schema = schema
        self.reference = reference
        self.now = now
        self.file_mtime = file_mtime
        self.pending: list[_Pending] = []
        self._n = 0

    # -- helpers --------------------------------------------------------------------------

    def _alias(self) -> str:
        self._n += 1
        return f"__c{self._n}"

    def _new(self, check_id: str, kind: str, column: str | None, opts: CheckOptions,
             expected: str) -> CheckResult:
        return CheckResult(
            id=check_id, kind=kind, column=column, severity=opts.severity,
            owner=opts.owner or self.contract.owner, status="pass", expected=expected,
            where=opts.where,
        )

    def _where(self, opts: CheckOptions, check_id: str) -> pl.Expr:
        import polars as pl

        if opts.where is None:
            return pl.lit(True)
        return _sql_expr(opts.where, f"{check_id}.where").fill_null(False)

    @staticmethod
    def _only(opts: CheckOptions, condition: pl.Expr, where: pl.Expr) -> pl.Expr:
        return condition if opts.where is None else condition & where

    @staticmethod
    def _filtered(opts: CheckOptions, values: pl.Expr, where: pl.Expr) -> pl.Expr:
        return values if opts.where is None else values.filter(where)

    @staticmethod
    def _count(opts: CheckOptions, where: pl.Expr) -> pl.Expr:
        """Rows the check looks at (``where.sum()`` of a literal would be 1, not the row count)."""
        import polars as pl

        return pl.len() if opts.where is None else where.sum()

    def _row_check(self, result: CheckResult, opts: CheckOptions, bad: pl.Expr,
                   observed: pl.Expr | None = None) -> None:
        """A check that holds row by row: ``bad`` is true for failing rows."""
        where = self._where(opts, result.id)
        failing = bad.fill_null(False) if opts.where is None else bad.fill_null(False) & where
        fail_alias, denom_alias, obs_alias = self._alias(), self._alias(), self._alias()
        exprs = {fail_alias: failing.sum(), denom_alias: self._count(opts, where)}
        if observed is not None:
            exprs[obs_alias] = observed

        def finish(values: dict[str, Any], res: CheckResult) -> None:
            count = int(values[fail_alias] or 0)
            denom = int(values[denom_alias] or 0)
            res.failing_rows = count
            res.failing_fraction = (count / denom) if denom else 0.0
            if observed is not None:
                res.observed = values[obs_alias]
            if count:
                res.status = "fail"
                res.message = f"{count:,} of {denom:,} rows fail ({res.failing_fraction:.2%})"

        self.pending.append(_Pending(result, exprs, finish, lambda lf: lf.filter(failing)))

    def _fail_now(self, result: CheckResult, message: str) -> None:
        result.status = "fail"
        result.message = message
        self.pending.append(_Pending(result))

    def _set_aside(self, items: list[_Pending], status: Status, message: str) -> None:
        set_aside(items, status, message)

    def _fail_unless_empty(self, result: CheckResult, column: str, message: str) -> None:
        """Fail with ``message`` (the column's type does not suit the check), unless the
        column holds no value at all: then there is nothing to check (``insufficient``). Decided
        in the main pass, which counts the column's values."""
        import polars as pl

        values, rows = self._alias(), self._alias()

        def finish(found: dict[str, Any], res: CheckResult) -> None:
            if int(found[values] or 0):
                res.status, res.message = "fail", message
            else:
                res.status = "insufficient"
                res.message = ALL_NULL if int(found[rows] or 0) else NO_ROWS

        self.pending.append(_Pending(
            result, {values: pl.col(column).is_not_null().sum(), rows: pl.len()}, finish))

    def _not_evaluable(self, column: str) -> tuple[Status, str] | None:
        """Why checks on ``column`` that cannot run on its values are not evaluated (None:
        they can be, so a failure to run is the check's own)."""
        if column in self.wrong_type:
            return "skipped", f"skipped: wrong type ({self.wrong_type[column]})"
        if column in self.untyped:
            return "insufficient", self.untyped[column]
        return None

    def _set_aside_unrunnable(self, full_schema: dict[str, Any]) -> None:
        """Checks that read a wrong-typed or untyped column and cannot run on its type (an
        ``expr``, ``sql``, ``compare`` or ``where`` written for the declared type) are set aside
        with the column's reason, rather than failing the whole contract."""
        import polars as pl

        if not self.wrong_type and not self.untyped:
            return
        empty = pl.LazyFrame(schema=full_schema)
        for item in self.pending:
            if not item.exprs:
                continue
            try:
                read = {name for expr in item.exprs.values() for name in expr.meta.root_names()}
            except pl.exceptions.PolarsError:
                continue
            why = [w for c in sorted(read) if (w := self._not_evaluable(c)) is not None]
            if not why:
                continue
            try:
                empty.select([e.alias(k) for k, e in item.exprs.items()]).collect()
            except pl.exceptions.PolarsError:
                self._set_aside([item], *min(why, key=lambda w: w[0] != "skipped"))

    # -- columns --------------------------------------------------------------------------

