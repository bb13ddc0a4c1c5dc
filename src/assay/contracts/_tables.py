"""Table checks (row counts, keys, Polars/SQL expressions, column comparisons, freshness) and
uniqueness, shared with column checks; part of the one-query compiler (:mod:`._engine`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

from assay.contracts._checks import (
    _COMPARE,
    CheckBuilder,
    _is_temporal,
    _Pending,
    _polars_expr,
    _sql_expr,
    dtype_name,
)
from assay.contracts._model import CheckOptions, TableCheck, parse_duration
from assay.contracts._result import CheckResult
from assay.contracts._source import describe_read_error
from assay.errors import ContractError

if TYPE_CHECKING:
    import polars as pl


class TableCompiler(CheckBuilder):
    """Compiles the ``checks:`` section and every uniqueness check."""

    def _unique(self, result: CheckResult, opts: CheckOptions, columns: list[str]) -> None:
        import polars as pl

        absent = [c for c in columns if c not in self.schema]
        if absent:
            self._fail_now(result, f"missing column(s): {', '.join(absent)}")
            return
        where = self._where(opts, result.id)
        key = pl.col(columns[0]) if len(columns) == 1 else pl.struct(columns)
        non_null = pl.all_horizontal([pl.col(c).is_not_null() for c in columns])
        keep = self._only(opts, non_null, where)
        distinct, total = self._alias(), self._alias()
        separate: Callable[[pl.LazyFrame, dict[str, Any]], dict[str, Any]] | None = None
        if self.streaming:
            # an exact distinct count holds every key in memory (Polars: ~50 bytes a key);
            # for data larger than memory, count duplicate 64-bit key hashes in a pass of
            # their own over the key columns only (~16 bytes a key; false alarm odds ~n²/2⁶⁵)
            exprs = {}
            separate = _hash_duplicates(key.filter(keep).hash(seed=0), distinct, total)
        elif opts.where is None and len(columns) == 1:
            # n_unique counts null as one value: cheaper than dropping nulls first
            col = pl.col(columns[0])
            exprs = {distinct: col.n_unique() - col.null_count().clip(0, 1), total: col.count()}
            separate = self._proven_unique(columns, exprs, distinct, total)
        elif opts.where is None:
            # compound keys compare whole rows, nulls included (a null equals a null)
            exprs = {distinct: key.n_unique(), total: pl.len()}
            separate = self._proven_unique(columns, exprs, distinct, total)
        else:
            exprs = {distinct: key.filter(keep).n_unique(), total: keep.cast(pl.UInt64).sum()}

        def finish(values: dict[str, Any], res: CheckResult) -> None:
            n_total = int(values[total] or 0)
            duplicates = n_total - int(values[distinct] or 0)
            res.failing_rows = duplicates
            res.failing_fraction = duplicates / n_total if n_total else 0.0
            if duplicates:
                res.status = "fail"
                res.message = f"{duplicates:,} duplicate rows of {n_total:,}"

        self.pending.append(_Pending(
            result, exprs, finish,
            lambda lf: lf.filter(keep).filter(key.is_duplicated()).sort(columns),
            separate,
        ))

    def _proven_unique(self, columns: list[str], exprs: dict[str, pl.Expr], distinct: str,
                       total: str) -> Callable[[pl.LazyFrame, dict[str, Any]], dict[str, Any]] | None:
        """Prove a key unique in the main pass when one of its columns is strictly monotonic.

        A distinct count hashes every key (the dearest thing in a contract); a strictly
        increasing or decreasing column without nulls (ids, sequence numbers, timestamps of an
        append-only log) makes every row, and so every key holding that column, distinct.
        The main pass then only checks monotonicity (a diff); the distinct count moves to a
        second pass over the key columns alone, run only when no column proves it. Only for
        columnar sources, where that pass reads a few columns instead of re-parsing the file.
        Changes ``exprs`` in place; returns the second pass (None: keep the distinct count).
        """
        import polars as pl

        proofs: list[tuple[str, str, str]] = []
        for name in columns:
            physical = _monotonic_input(name, self.schema[name])
            if physical is None:
                continue
            steps = physical.diff()
            inc, dec, nulls = self._alias(), self._alias(), self._alias()
            exprs.update({inc: (steps > 0).all(), dec: (steps < 0).all(),
                          nulls: pl.col(name).null_count()})
            proofs.append((inc, dec, nulls))
        if not self.columnar or not proofs:
            for alias in [a for proof in proofs for a in proof]:
                exprs.pop(alias)
            return None
        counted = exprs.pop(distinct)

        def second_pass(lf: pl.LazyFrame, row: dict[str, Any]) -> dict[str, Any]:
            if any(row[nulls] == 0 and (row[inc] or row[dec]) for inc, dec, nulls in proofs):
                return {distinct: row[total]}  # every row distinct: no hashing needed
            return {distinct: lf.select(counted.alias(distinct)).collect().item()}

        return second_pass

    # -- table ----------------------------------------------------------------------------

    def _table(self, index: int, check: TableCheck) -> None:
        import polars as pl

        kind = check.kind
        check_id = f"checks[{index}].{kind}" if check.name is None else f"checks.{check.name}"
        if kind == "row_count":
            rc = check.row_count
            assert rc is not None
            expected = " and ".join(
                p for p in (f">= {rc.min:,}" if rc.min is not None else "",
                            f"<= {rc.max:,}" if rc.max is not None else "") if p)
            result = self._new(check_id, kind, None, check, f"rows {expected}")
            where = self._where(check, check_id)
            alias = self._alias()

            def finish_rows(values: dict[str, Any], res: CheckResult) -> None:
                rows = int(values[alias] or 0)
                res.observed = rows
                low = rc.min is not None and rows < rc.min
                high = rc.max is not None and rows > rc.max
                if low or high:
                    res.status = "fail"
                    res.message = f"{rows:,} rows, expected {expected}"

            self.pending.append(_Pending(result, {alias: self._count(check, where)}, finish_rows))
        elif kind == "unique":
            cols = check.unique or []
            result = self._new(check_id, kind, ",".join(cols), check, f"({', '.join(cols)}) unique")
            self._unique(result, check, cols)
        elif kind in ("expr", "sql", "compare"):
            text = str(getattr(check, kind))
            result = self._new(check_id, kind, None, check, text)
            if kind == "expr":
                good = _polars_expr(text, check_id)
            elif kind == "sql":
                good = _sql_expr(text, check_id)
            else:
                match = _COMPARE.match(text)
                if not match:
                    raise ContractError(
                        f"{check_id}: compare {text!r} must look like 'end >= start' "
                        "(column operator column); use sql: for anything richer", check=check_id)
                left, op, right = match.groups()
                absent = [c for c in (left, right) if c not in self.schema]
                if absent:
                    self._fail_now(result, f"missing column(s): {', '.join(absent)}")
                    return
                good = _sql_expr(f'"{left}" {"=" if op == "==" else op} "{right}"', check_id)
            try:  # resolve names and types now, so a wrong column is a clear failure
                pl.LazyFrame(schema=self.schema).select(good).collect_schema()
            except pl.exceptions.PolarsError as exc:
                self._fail_now(result, f"cannot evaluate: {describe_read_error(exc)}")
                return
            self._row_check(result, check, ~good.cast(pl.Boolean).fill_null(True))
        elif kind == "freshness":
            self._freshness(check_id, check)

    def _freshness(self, check_id: str, check: TableCheck) -> None:
        import polars as pl

        fresh = check.freshness
        assert fresh is not None
        max_age = parse_duration(fresh.max_age)
        now = fresh.now or self.now
        if now.tzinfo is None:
            now = now.replace(tzinfo=timezone.utc)
        result = self._new(check_id, "freshness", fresh.column, check, f"age <= {fresh.max_age}")
        if fresh.file:
            newest_ts = self.file_mtime()
            age = now.timestamp() - newest_ts
            result.observed = datetime.fromtimestamp(newest_ts, tz=timezone.utc).isoformat()
            result.details = {"age_s": age}
            if age > max_age.total_seconds():
                self._fail_now(result, f"file is {_human(age)} old, older than {fresh.max_age}")
            else:
                self.pending.append(_Pending(result))
            return
        column = fresh.column
        assert column is not None
        if column not in self.schema:
            self._fail_now(result, f"column '{column}' is missing from the data")
            return
        dtype = self.schema[column]
        if not _is_temporal(dtype):
            aside = self._not_evaluable(column)
            if aside is not None:
                self.pending.append(_Pending(result))
                self._set_aside(self.pending[-1:], *aside)
                return
            self._fail_unless_empty(result, column,
                                    f"column '{column}' is {dtype_name(dtype)}, not a date/time")
            return
        where = self._where(check, check_id)
        alias = self._alias()

        def finish(values: dict[str, Any], res: CheckResult) -> None:
            newest = values[alias]
            if newest is None:
                res.status = "insufficient"
                res.message = f"column '{column}' has no values"
                return
            if isinstance(newest, datetime):
                aware = newest if newest.tzinfo else newest.replace(tzinfo=timezone.utc)
            elif isinstance(newest, date):
                aware = datetime(newest.year, newest.month, newest.day, tzinfo=timezone.utc)
            else:
                res.status = "insufficient"
                res.message = f"cannot read a time from {newest!r}"
                return
            age = (now - aware).total_seconds()
            res.observed = aware.isoformat()
            res.details = {"age_s": age, "now": now.isoformat()}
            if age > max_age.total_seconds():
                res.status = "fail"
                res.message = f"newest {column} is {_human(age)} old, older than {fresh.max_age}"

        newest = self._filtered(check, pl.col(column), where).max()
        self.pending.append(_Pending(result, {alias: newest}, finish))


def _monotonic_input(name: str, dtype: Any) -> pl.Expr | None:
    """The column as numbers whose diff cannot overflow (None: not worth proving)."""
    import polars as pl

    if dtype.is_temporal():
        return pl.col(name).to_physical().cast(pl.Int64)
    if dtype.is_float():
        return pl.col(name).cast(pl.Float64)  # a NaN step is neither > 0 nor < 0: no proof
    if dtype.is_integer() and dtype != pl.UInt64:
        return pl.col(name).cast(pl.Int64)
    return None


def _hash_duplicates(hashes: pl.Expr, distinct: str, total: str
                     ) -> Callable[[pl.LazyFrame, dict[str, Any]], dict[str, Any]]:
    """A separate pass: the number of distinct values among the (filtered) key hashes."""

    def compute(lf: pl.LazyFrame, row: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        column = lf.select(hashes.alias("h")).collect(engine="streaming").to_series()
        values = column.to_numpy()
        del column
        values = np.sort(values)
        count = int(values.size)
        repeats = int(np.count_nonzero(values[1:] == values[:-1])) if count > 1 else 0
        return {distinct: count - repeats, total: count}

    return compute


def _human(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"
