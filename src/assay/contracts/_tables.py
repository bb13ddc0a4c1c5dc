"""Table checks (row counts, keys, Polars/SQL expressions, column comparisons, freshness) and
uniqueness, shared with column checks; part of the one-query compiler (:mod:`._engine`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any, NamedTuple

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
        """Keys that occur more than once. ``failing_rows`` counts every row holding such a
        key (as Pandera does); ``details`` has ``duplicated_keys`` (how many key values occur
        more than once) and ``extra_rows`` (rows beyond the first of each key: what dropping
        duplicates would remove). One key on 501 rows: 501 failing rows, 1 duplicated key,
        500 extra rows."""
        import polars as pl

        absent = [c for c in columns if c not in self.schema]
        if absent:
            self._fail_now(result, f"missing column(s): {', '.join(absent)}")
            return
        where = self._where(opts, result.id)
        key = pl.col(columns[0]) if len(columns) == 1 else pl.struct(columns)
        non_null = pl.all_horizontal([pl.col(c).is_not_null() for c in columns])
        # single-column keys skip nulls; compound keys compare whole rows, nulls included (a
        # null equals a null), except under ``where``
        keep: pl.Expr | None = (non_null & where if opts.where is not None
                                else non_null if len(columns) == 1 else None)
        names = _DuplicateNames(*(self._alias() for _ in range(4)))
        picked: list[Any] = []  # the sample's keys (their hashes when streaming)
        separate: Callable[[pl.LazyFrame, dict[str, Any]], dict[str, Any]] | None = None
        if self.streaming:
            # an exact count holds every key in memory (Polars: ~50 bytes a key); for data
            # larger than memory, count duplicate 64-bit key hashes in passes of their own
            # over the key columns only (false alarm odds ~n²/2⁶⁵)
            exprs: dict[str, pl.Expr] = {}
            hashes = key.hash(seed=0)
            separate = _hash_duplicates(
                hashes if keep is None else hashes.filter(keep), names, self.sample_rows,
                columns=columns, whole_column=opts.where is None and len(columns) == 1,
                known=self.repeated_hashes)

            def sample(lf: pl.LazyFrame) -> pl.LazyFrame:
                chosen = hashes.is_in(pl.Series(picked, dtype=pl.UInt64).implode())
                return lf.filter(chosen if keep is None else chosen & keep).sort(
                    columns, maintain_order=True)
        else:
            exprs = _duplicate_exprs(columns, keep, names)
            if self.columnar:  # a second pass over the key columns alone, unless proven
                separate = self._key_pass(columns, keep, exprs, names,
                                               proofs=opts.where is None)

            def sample(lf: pl.LazyFrame) -> pl.LazyFrame:
                if separate is None:  # counted in the main pass: find the rows again
                    repeated = (lf if keep is None else lf.filter(keep)).filter(
                        key.is_duplicated())
                    return repeated.sort(columns)
                # the keys found by the second pass, as a filter Parquet reads with the scan
                # (row numbers would be read after it), then the exact keys
                chosen = pl.DataFrame(picked, schema={c: self.schema[c] for c in columns},
                                      orient="row")
                on_columns = pl.all_horizontal([
                    pl.col(c).is_in(chosen.get_column(c).implode(), nulls_equal=True)
                    for c in columns])
                if len(columns) > 1:
                    on_columns = on_columns & key.is_in(chosen.to_struct().implode(),
                                                        nulls_equal=True)
                if keep is not None:
                    on_columns = on_columns & keep
                return lf.filter(on_columns).sort(columns, maintain_order=True)

        def finish(values: dict[str, Any], res: CheckResult) -> None:
            n_total = int(values[names.total] or 0)
            involved = int(values[names.involved] or 0)
            keys = int(values[names.keys] or 0)
            picked[:] = list(values.get(names.picked) or [])
            res.failing_rows = involved
            res.failing_fraction = involved / n_total if n_total else 0.0
            res.details = {"duplicated_keys": keys, "extra_rows": involved - keys}
            if involved:
                res.status = "fail"
                res.message = (f"{keys:,} key{'s' if keys != 1 else ''} on more than one row: "
                               f"{involved:,} of {n_total:,} rows")

        self.pending.append(_Pending(result, exprs, finish, sample, separate))

    def _key_pass(self, columns: list[str], keep: pl.Expr | None,
                       exprs: dict[str, pl.Expr], names: _DuplicateNames, *, proofs: bool
                       ) -> Callable[[pl.LazyFrame, dict[str, Any]], dict[str, Any]]:
        """Move the duplicate count of a columnar source to a pass over the key columns
        alone, skipped when the main pass proves the key unique (``proofs``): a strictly
        monotonic column without nulls (ids, sequence numbers, timestamps of an append-only
        log) makes every row, and so every key holding it, distinct. Finding duplicates
        hashes every key, the dearest thing in a contract; the proof is one ``diff``.

        The second pass groups the rows by key and keeps the keys on more than one row with
        their row counts: it hashes once and gives the counts and the sample's keys together.
        Changes ``exprs`` in place.
        """
        import polars as pl

        found: list[tuple[str, str, str]] = []
        for name in columns if proofs else []:
            physical = _monotonic_input(name, self.schema[name])
            if physical is None:
                continue
            steps = physical.diff()
            inc, dec, nulls = self._alias(), self._alias(), self._alias()
            exprs.update({inc: (steps > 0).all(), dec: (steps < 0).all(),
                          nulls: pl.col(name).null_count()})
            found.append((inc, dec, nulls))
        for alias in names.counted:
            exprs.pop(alias, None)
        sample_rows = self.sample_rows

        # a single-column key over every row leaves its repeated values for the compound keys
        # holding that column (their repeats can only be among those rows, or its nulls)
        whole_column = columns[0] if proofs and len(columns) == 1 else None
        repeated_values = self.repeated_values

        def second_pass(lf: pl.LazyFrame, row: dict[str, Any]) -> dict[str, Any]:
            if any(row[nulls] == 0 and (row[inc] or row[dec]) for inc, dec, nulls in found):
                if whole_column is not None:
                    repeated_values[whole_column] = pl.Series(whole_column, [],
                                                              self.schema[whole_column])
                return {names.involved: 0, names.keys: 0, names.picked: []}  # no hashing
            rows = "__assay_rows"
            kept = lf if keep is None else lf.filter(keep)
            known = [c for c in columns if c in repeated_values] if len(columns) > 1 else []
            if known:  # read with the scan: only the rows that can repeat are grouped
                kept = kept.filter(pl.col(known[0]).is_null() | pl.col(known[0]).is_in(
                    repeated_values[known[0]].implode()))
            # a group-by hashes the keys faster than ``is_duplicated`` (Polars 2.1: 0.6 s
            # against 1.0 s for 5M ids) and leaves only the repeated keys with their rows
            repeated = (kept.group_by(columns).len(name=rows).filter(pl.col(rows) > 1)
                        .collect())
            if whole_column is not None:
                repeated_values[whole_column] = repeated.get_column(whole_column)
            return {names.involved: int(repeated.get_column(rows).sum() or 0),
                    names.keys: repeated.height,
                    names.picked: repeated.sort(columns).head(sample_rows).select(columns)
                    .rows()}

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


class _DuplicateNames(NamedTuple):
    """Where a uniqueness check's values go in the row of results."""

    total: str  # keys compared
    involved: str  # rows whose key occurs more than once
    keys: str  # key values that occur more than once
    picked: str  # the sample: the smallest repeated keys (hashes when streaming), <= sample_rows

    @property
    def counted(self) -> tuple[str, str, str]:
        """The values that need the keys hashed."""
        return self.involved, self.keys, self.picked


def _duplicate_exprs(columns: list[str], keep: pl.Expr | None, names: _DuplicateNames
                     ) -> dict[str, pl.Expr]:
    """Aggregations over the rows ``keep`` selects (all: None): how many keys, how many rows
    hold a key that occurs more than once, and how many such keys (one ``is_duplicated``:
    the keys are hashed once)."""
    import polars as pl

    key = pl.col(columns[0]) if len(columns) == 1 else pl.struct(columns)
    if keep is not None:
        key = key.filter(keep)
    repeated = key.is_duplicated()
    return {names.total: pl.len() if keep is None else keep.sum(),
            names.involved: repeated.sum(), names.keys: key.filter(repeated).n_unique()}


PASS_KEYS = 16_000_000
"""At most this many key hashes (8 bytes each) are held at once by a streaming uniqueness
check: with more rows, the hashes are split by value into several passes."""


def _hash_duplicates(hashes: pl.Expr, names: _DuplicateNames, sample_rows: int, *,
                     columns: list[str], whole_column: bool,
                     known: dict[str, tuple[Any, int]]
                     ) -> Callable[[pl.LazyFrame, dict[str, Any]], dict[str, Any]]:
    """Passes of their own over the (filtered) key hashes, with the streaming engine: the
    counts of :func:`_duplicate_exprs`, and as the sample the smallest repeated hashes.

    Equal keys have equal hashes, so splitting the hashes by ``hash % passes`` puts every
    repeat of a key in the same pass: each pass sorts at most about :data:`PASS_KEYS` hashes
    and counts its runs, and memory stays bounded however many rows there are.

    A single-column key over every row (``whole_column``) leaves its repeated hashes in
    ``known`` (with how many rows can hold them: those rows and the column's nulls); a
    compound key holding that column then hashes only those rows, in as few passes as they need.
    """
    import polars as pl

    def compute(lf: pl.LazyFrame, row: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        bound = int(row["__rows"] or 0)
        holding = [c for c in columns if c in known] if len(columns) > 1 else []
        if holding:  # only rows whose value of that column repeats (or is null) can repeat
            repeats, bound = known[holding[0]]
            lf = lf.filter(pl.col(holding[0]).is_null() | pl.col(holding[0]).hash(seed=0).is_in(
                pl.Series(repeats, dtype=pl.UInt64).implode()))
        passes = max(1, -(-bound // PASS_KEYS))
        total = involved = keys = 0
        repeated: list[Any] = []
        for part in range(passes):
            query = lf.select(hashes.alias("h"))
            if passes > 1:
                query = query.filter(pl.col("h") % passes == part)
            column = query.collect(engine="streaming").to_series()
            values = np.sort(column.to_numpy())
            del column
            total += int(values.size)
            if values.size < 2:
                continue
            same = values[1:] == values[:-1]
            starts = same.copy()
            starts[1:] &= ~same[:-1]  # the first repeat of each run
            runs = int(np.count_nonzero(starts))
            keys += runs
            involved += int(np.count_nonzero(same)) + runs
            repeated.append(values[1:][starts])
            del values, same, starts
        found = np.sort(np.concatenate(repeated)) if repeated else np.empty(0, np.uint64)
        if whole_column:  # nulls are not keys here: every row that is not one may repeat
            known[columns[0]] = (found, involved + int(row["__rows"] or 0) - total)
        return {names.total: total, names.involved: involved, names.keys: keys,
                names.picked: [int(h) for h in found[:sample_rows]]}

    return compute


def _human(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"
