"""Compile a contract into one lazy Polars query, run it in a single pass, collect results.

Every check becomes a few scalar aggregations (failing-row counts, minima, value counts, ...)
in ONE ``select`` over the scanned data, collected once (streaming engine for big or remote
data). Only checks that failed and can point at rows get a second, targeted query for sample
rows. Distribution checks compare against a reference profile computed from the reference data
in its own single pass (:mod:`assay.contracts._profile`).
"""

from __future__ import annotations

import time
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from assay.contracts._checks import (
    _is_temporal,
    _Pending,
    _regex_valid,
    dtype_matches,
    dtype_name,
)
from assay.contracts._column_types import contract_dtype, untyped_columns, wrong_types
from assay.contracts._distribution import DistributionCompiler, correct_drift
from assay.contracts._model import (
    BoundRule,
    CheckOptions,
    ColumnSpec,
    Contract,
)
from assay.contracts._result import CheckResult, ContractReport, Status
from assay.contracts._source import (
    DataSource,
    DataUnreadable,
    describe_read_error,
    env_streaming_threshold,
    scan,
)
from assay.contracts._tables import TableCompiler
from assay.errors import ContractError

if TYPE_CHECKING:
    import polars as pl


# checks whose meaning depends on the column's type (skipped when it is wrong), and every check
# of a column's values (without values and without a declared type: nothing to check)
_TYPED_KINDS = ("min", "max", "allowed", "monotonic")
_VALUE_KINDS = ("min", "max", "allowed", "regex", "length", "monotonic")


class _Compiler(TableCompiler, DistributionCompiler):
    """Turns a contract into pending checks over a known schema."""

    def compile(self) -> list[_Pending]:
        import polars as pl

        from assay.contracts._texttimes import raw_column

        for name, spec in self.contract.columns.items():
            self._column(name, spec)
        self._extra_columns()
        for index, check in enumerate(self.contract.checks):
            self._table(index, check)
        for name, dist in self.contract.distribution.items():
            self._distribution(name, dist)
        self._set_aside_unrunnable({**self.schema, **{f: pl.Boolean for f in self.unparsed.values()},
                                    **{raw_column(c): pl.String for c in self.unparsed}})
        return self.pending

    def _extra_columns(self) -> None:
        if self.contract.extra_columns == "allow":
            return
        extra = [c for c in self.schema if c not in self.contract.columns]
        if not self.contract.columns:
            return
        opts = CheckOptions(severity="error" if self.contract.extra_columns == "error" else "warn")
        result = self._new("table.extra_columns", "extra_columns", None, opts, "no undeclared columns")
        result.observed = extra
        if extra:
            self._fail_now(result, f"undeclared columns: {', '.join(extra)}")
        else:
            self.pending.append(_Pending(result))

    def _column(self, name: str, spec: ColumnSpec) -> None:
        prefix = f"columns.{name}"
        rules = [(k, getattr(spec, k)) for k in ColumnSpec.model_fields if getattr(spec, k) is not None]
        if name not in self.schema:
            is_error = any(r.severity == "error" for _, r in rules) or not rules
            opts = CheckOptions(severity="error" if is_error else "warn")
            result = self._new(f"{prefix}.exists", "exists", name, opts, "column present")
            self._fail_now(result, f"column '{name}' is missing from the data")
            return
        for kind, rule in rules:
            aside = self._aside(name, kind, spec)
            if aside is None:
                self._column_rule(name, kind, rule, self.schema[name])
                continue
            status, message, stand_in = aside  # compiled on a type it can run on, then set aside
            start = len(self.pending)
            self._column_rule(name, kind, rule, stand_in)
            self._set_aside(self.pending[start:], status, message)

    def _aside(self, name: str, kind: str, spec: ColumnSpec) -> tuple[Status, str, Any] | None:
        """Whether a column check is not evaluated, why, and the type to compile it on: checks
        that need the declared type on a wrong-typed column are skipped; value checks on an
        untyped column without a declared type have no values to check."""
        import polars as pl

        if kind in _TYPED_KINDS and name in self.wrong_type:
            assert spec.dtype is not None
            stand_in = contract_dtype(spec.dtype.value)
            return ("skipped", f"skipped: wrong type ({self.wrong_type[name]})",
                    stand_in if stand_in is not None else pl.String)
        if kind in _VALUE_KINDS and name in self.untyped and spec.dtype is None:
            return "insufficient", self.untyped[name], pl.String
        return None

    def _column_rule(self, name: str, kind: str, rule: Any, dtype: Any) -> None:
        import polars as pl

        check_id = f"columns.{name}.{kind}"
        col = pl.col(name)
        is_float = bool(dtype.is_float())
        missing = (col.is_null() | col.is_nan()) if is_float else col.is_null()
        if kind == "dtype":
            result = self._new(check_id, kind, name, rule, rule.value)
            result.observed = dtype_name(dtype)
            if name in self.untyped:
                result.observed = None
                result.status = "insufficient"
                result.message = f"{self.untyped[name]}: the type cannot be checked"
                self.pending.append(_Pending(result))
            elif name in self.unparsed:
                self._text_times(result, name)
            elif not dtype_matches(rule.value, dtype):
                self._fail_now(result, f"column '{name}' is {dtype_name(dtype)}, expected {rule.value}")
            else:
                self.pending.append(_Pending(result))
        elif kind == "nullable":
            result = self._new(check_id, kind, name, rule, "nullable" if rule.value else "no nulls")
            if rule.value:
                self.pending.append(_Pending(result))
            else:
                self._row_check(result, rule, missing)
        elif kind == "max_null_fraction":
            result = self._new(check_id, kind, name, rule, f"null fraction <= {rule.value:g}")
            self._null_fraction(result, rule, missing, rule.value)
        elif kind == "unique":
            result = self._new(check_id, kind, name, rule, "unique" if rule.value else "any")
            if rule.value:
                self._unique(result, rule, [name])
            else:
                self.pending.append(_Pending(result))
        elif kind in ("min", "max"):
            self._bound(check_id, kind, name, dtype, rule)
        elif kind == "allowed":
            result = self._new(check_id, kind, name, rule, f"in {rule.value!r}")
            try:
                values = pl.Series(rule.value, strict=False)
                bad = col.is_not_null() & ~col.is_in(values.cast(dtype, strict=False).drop_nulls().implode())
            except pl.exceptions.PolarsError as exc:
                self._fail_now(result, f"cannot compare {dtype_name(dtype)} with allowed values: "
                               f"{describe_read_error(exc)}")
                return
            self._row_check(result, rule, bad)
        elif kind == "regex":
            result = self._new(check_id, kind, name, rule, f"matches {rule.value!r}")
            self._regex_valid(rule.value, check_id)
            self._row_check(result, rule, col.is_not_null()
                            & ~col.cast(pl.String).str.contains(rule.value))
        elif kind == "length":
            bounds = [f">= {rule.min:g}" if rule.min is not None else "",
                      f"<= {rule.max:g}" if rule.max is not None else ""]
            result = self._new(check_id, kind, name, rule,
                               "length " + " and ".join(b for b in bounds if b))
            length = col.cast(pl.String).str.len_chars()
            bad = pl.lit(False)
            if rule.min is not None:
                bad = bad | (length < rule.min)
            if rule.max is not None:
                bad = bad | (length > rule.max)
            self._row_check(result, rule, bad)
        elif kind == "monotonic":
            self._monotonic(check_id, name, dtype, rule)

    def _text_times(self, result: CheckResult, name: str) -> None:
        """``dtype: datetime`` on ISO-8601 text: every value must parse (see ``_texttimes``)."""
        import polars as pl

        from assay.contracts._texttimes import raw_column

        result.observed = f"{dtype_name(self.schema[name])} (from text)"
        flag = pl.col(self.unparsed[name])
        fail, total = self._alias(), self._alias()

        def finish(values: dict[str, Any], res: CheckResult) -> None:
            count, rows = int(values[fail] or 0), int(values[total] or 0)
            res.failing_rows = count
            res.failing_fraction = count / rows if rows else 0.0
            if count:
                res.status = "fail"
                res.message = (f"{count:,} of {rows:,} values of '{name}' are not ISO-8601 "
                               f"{'dates' if result.expected.lower() == 'date' else 'date/times'}")

        text = pl.col(raw_column(name)).alias(name)  # show the text that did not parse
        self.pending.append(_Pending(result, {fail: flag.sum(), total: pl.len()}, finish,
                                     lambda lf: lf.filter(flag).with_columns(text)))

    def _regex_valid(self, pattern: str, check_id: str) -> None:
        _regex_valid(pattern, check_id)

    def _null_fraction(self, result: CheckResult, rule: CheckOptions, missing: pl.Expr,
                       limit: float) -> None:
        where = self._where(rule, result.id)
        nulls, denom = self._alias(), self._alias()

        def finish(values: dict[str, Any], res: CheckResult) -> None:
            count = int(values[nulls] or 0)
            total = int(values[denom] or 0)
            res.failing_rows = count
            res.failing_fraction = count / total if total else 0.0
            res.observed = res.failing_fraction
            if total == 0:
                res.status = "insufficient"
                res.message = "no rows"
            elif res.failing_fraction > limit:
                res.status = "fail"
                res.message = f"{res.failing_fraction:.2%} nulls ({count:,} of {total:,}) > {limit:.2%}"

        self.pending.append(_Pending(
            result, {nulls: self._only(rule, missing, where).sum(), denom: self._count(rule, where)},
            finish, lambda lf: lf.filter(self._only(rule, missing, where)),
        ))

    def _literal(self, value: Any, dtype: Any) -> Any:
        if _is_temporal(dtype):
            if isinstance(value, str):
                value = datetime.fromisoformat(value)
            if isinstance(value, (int, float)):
                return value
            if dtype_name(dtype) == "date" and isinstance(value, datetime):
                return value.date()
            tz = getattr(dtype, "time_zone", None)
            if isinstance(value, datetime) and tz and value.tzinfo is None:
                return value.replace(tzinfo=timezone.utc)
            if isinstance(value, datetime) and not tz and value.tzinfo is not None:
                return value.astimezone(timezone.utc).replace(tzinfo=None)
        return value

    def _bound(self, check_id: str, kind: str, name: str, dtype: Any, rule: BoundRule) -> None:
        import polars as pl

        op = (">=" if rule.inclusive else ">") if kind == "min" else ("<=" if rule.inclusive else "<")
        result = self._new(check_id, kind, name, rule, f"{op} {rule.value}")
        if not (dtype.is_numeric() or _is_temporal(dtype)) or (
            isinstance(rule.value, str) and not _is_temporal(dtype)
        ):
            self._fail_unless_empty(result, name, f"column '{name}' is {dtype_name(dtype)}; cannot "
                                    f"check {kind} {rule.value!r} (wrong type in the data or the "
                                    "contract)")
            return
        try:
            value = self._literal(rule.value, dtype)
        except ValueError as exc:
            raise ContractError(f"{check_id}: {rule.value!r} is not a date/time: {exc}",
                                check=check_id) from exc
        col = pl.col(name)
        if kind == "min":
            bad = (col < value) if rule.inclusive else (col <= value)
            observed = col.min()
        else:
            bad = (col > value) if rule.inclusive else (col >= value)
            observed = col.max()
        if dtype.is_float():
            bad = bad & ~col.is_nan()
        self._row_check(result, rule, bad, observed)

    def _monotonic(self, check_id: str, name: str, dtype: Any, rule: Any) -> None:
        import polars as pl

        result = self._new(check_id, "monotonic", name, rule, rule.value)
        where = self._where(rule, check_id)
        diff = self._filtered(rule, pl.col(name), where).drop_nulls().diff()
        bad = {"increasing": diff < 0, "decreasing": diff > 0,
               "strictly_increasing": diff <= 0, "strictly_decreasing": diff >= 0}[rule.value]
        if _is_temporal(dtype):
            zero = pl.duration(microseconds=0)
            diff_t = diff
            bad = {"increasing": diff_t < zero, "decreasing": diff_t > zero,
                   "strictly_increasing": diff_t <= zero, "strictly_decreasing": diff_t >= zero
                   }[rule.value]
        fail, denom = self._alias(), self._alias()

        def finish(values: dict[str, Any], res: CheckResult) -> None:
            count = int(values[fail] or 0)
            total = int(values[denom] or 0)
            res.failing_rows = count
            res.failing_fraction = count / total if total else 0.0
            if count:
                res.status = "fail"
                res.message = f"{count:,} steps break {rule.value} order"

        shifted = pl.col(name).shift(1)
        row_bad = {"increasing": pl.col(name) < shifted, "decreasing": pl.col(name) > shifted,
                   "strictly_increasing": pl.col(name) <= shifted,
                   "strictly_decreasing": pl.col(name) >= shifted}[rule.value]
        self.pending.append(_Pending(
            result, {fail: bad.fill_null(False).sum(),
                     denom: self._filtered(rule, pl.col(name), where).count()},
            finish, lambda lf: lf.filter(where).filter(pl.col(name).is_not_null())
            .filter(row_bad.fill_null(False)),
        ))



def _read_failure(contract: Contract, source: DataSource, reason: str, started: float) -> ContractReport:
    result = CheckResult(
        id="data.readable", kind="readable", column=None, severity="error", owner=contract.owner,
        status="fail", expected="data parses", message=f"cannot read {source.location}: {reason}",
    )
    return ContractReport(
        contract=contract.name or "contract", data=source.location, owner=contract.owner,
        rows=None, columns=[], engine="none", started_at=started,
        duration_s=time.time() - started, checks=[result],
    )


def run_contract(
    contract: Contract,
    source: DataSource,
    *,
    reference: DataSource | None = None,
    sample_rows: int = 5,
    streaming: bool | None = None,
    now: datetime | None = None,
) -> ContractReport:
    """Evaluate every check of ``contract`` over ``source`` in one pass.

    Args:
        contract: the parsed contract.
        source: the data to validate.
        reference: reference data for distribution checks (a profile is computed in one pass).
        sample_rows: up to this many failing rows per failed check.
        streaming: force the streaming engine on/off; default: on for files over
            ``ASSAY_STREAMING_BYTES`` (1 GiB), folders and remote data.
        now: the time freshness checks compare with (default: now, UTC).

    Returns:
        The report. Data that cannot be parsed gives a report with one failed
        ``data.readable`` check rather than an exception.

    Raises:
        ContractError: the contract cannot be compiled (bad regex, SQL, expression).
    """
    import polars as pl

    from assay.contracts._profile import profile_reference

    started = time.time()
    t0 = time.perf_counter()
    try:
        lf = scan(source)
        schema = dict(lf.collect_schema())
    except DataUnreadable as exc:
        return _read_failure(contract, source, exc.message, started)
    except (pl.exceptions.PolarsError, OSError) as exc:
        return _read_failure(contract, source, describe_read_error(exc), started)
    from assay.contracts._texttimes import hidden_columns, parse_text_times

    lf, schema, untyped = untyped_columns(lf, schema, contract, source.format)
    lf, schema, unparsed = parse_text_times(lf, schema, contract, source.format)
    wrong_type = wrong_types(schema, contract, untyped, unparsed)
    hidden = hidden_columns(unparsed)
    view = lf.drop(hidden) if hidden else lf
    ref_profile = None
    if contract.distribution and reference is not None:
        ref_profile = profile_reference(reference, contract.distribution)
    if streaming is None:
        size = source.size()
        streaming = source.is_remote or size is None or size > env_streaming_threshold() or (
            source.local is not None and source.local.is_dir())
    engine: Literal["streaming", "in-memory"] = "streaming" if streaming else "in-memory"
    compiler = _Compiler(contract, schema, reference=ref_profile,
                         now=now or datetime.now(timezone.utc), file_mtime=source.mtime,
                         streaming=bool(streaming), unparsed=unparsed,
                         columnar=source.format in ("parquet", "ipc"), untyped=untyped,
                         wrong_type=wrong_type, sample_rows=sample_rows)
    pending = compiler.compile()
    exprs: dict[str, pl.Expr] = {"__rows": pl.len()}
    for item in pending:
        exprs.update(item.exprs)
    selected = [e.alias(k) for k, e in exprs.items()]
    if source.format in ("csv", "ndjson"):
        # parse every column, so malformed lines are found even in columns no check reads
        selected.append(pl.all().null_count().name.prefix("__parsed_"))
    try:
        row = lf.select(selected).collect(engine=engine).row(0, named=True)
    except pl.exceptions.PolarsError:
        from assay.contracts._recovery import DataBroken, recover
        from assay.contracts._texttimes import raw_column

        try:  # one check (or the data) broke the whole query: find it
            row = recover(lf, selected, pending, contract=contract.name or "contract",
                          schema={**schema, **{f: pl.Boolean for f in unparsed.values()},
                                  **{raw_column(c): pl.String for c in unparsed}},
                          engine=engine)
        except DataBroken as broken:
            return _read_failure(contract, source, broken.reason, started)
    try:
        for item in pending:
            if item.separate is not None:
                row.update(item.separate(view, row))
    except pl.exceptions.PolarsError as exc:
        return _read_failure(contract, source, describe_read_error(exc), started)
    results = []
    for item in pending:
        if item.finish is not None:
            item.finish(row, item.result)
        results.append(item.result)
    correct_drift(results, contract.drift.alpha, contract.drift.correction)
    if sample_rows > 0:
        for item in pending:
            if item.result.failed and item.sample is not None:
                try:
                    frame = item.sample(lf).head(sample_rows).drop(hidden).collect()
                except pl.exceptions.PolarsError:
                    continue
                item.result.samples = _jsonable_rows(frame)
    return ContractReport(
        contract=contract.name or "contract", data=source.location, owner=contract.owner,
        rows=int(row["__rows"]), columns=list(schema), engine=engine, started_at=started,
        duration_s=time.perf_counter() - t0, checks=results,
        reference=reference.shown if reference is not None else None,
    )


def _jsonable_rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for record in frame.to_dicts():
        rows.append({k: (v.isoformat() if isinstance(v, (datetime, date)) else v)
                     for k, v in record.items()})
    return rows
