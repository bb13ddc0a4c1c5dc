"""Distribution checks: drift against the reference profile, moments, quantiles, categories."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assay.contracts._checks import CheckBuilder, _Pending, dtype_name
from assay.contracts._model import DistributionSpec
from assay.contracts._profile import (
    binned_counts,
    category_counts,
    compare_with_profile,
    value_counts,
)
from assay.contracts._result import CheckResult
from assay.errors import ContractError

if TYPE_CHECKING:
    import polars as pl

    from assay.contracts._profile import ColumnProfile


class DistributionCompiler(CheckBuilder):
    """Compiles the ``distribution:`` section."""

    def _distribution(self, name: str, spec: DistributionSpec) -> None:
        prefix = f"distribution.{name}"
        if name not in self.schema:
            result = self._new(f"{prefix}.exists", "exists", name, spec, "column present")
            self._fail_now(result, f"column '{name}' is missing from the data")
            return
        aside = self._not_evaluable(name)
        if aside is None:
            self._distribution_checks(name, spec, self.schema[name])
            return
        # a wrong type has no comparable distribution, and no values have none at all: the
        # checks are compiled on a type they run on (to name them as always), then set aside
        start = len(self.pending)
        self._distribution_checks(name, spec, self._stand_in(name, spec))
        self._set_aside(self.pending[start:], *aside)

    def _stand_in(self, name: str, spec: DistributionSpec) -> Any:
        import polars as pl

        from assay.contracts._column_types import contract_dtype

        declared = self.contract.columns.get(name)
        if declared is not None and declared.dtype is not None:
            dtype = contract_dtype(declared.dtype.value)
            if dtype is not None:
                return dtype
        ref = self.reference.columns.get(name) if self.reference else None
        numeric = ref.numeric if ref is not None else bool(spec.mean or spec.std or spec.quantiles)
        return pl.Float64 if numeric else pl.String

    def _distribution_checks(self, name: str, spec: DistributionSpec, dtype: Any) -> None:
        import polars as pl

        prefix = f"distribution.{name}"
        numeric = bool(dtype.is_numeric()) and dtype_name(dtype) != "boolean"
        where = self._where(spec, prefix)
        values = self._filtered(spec, pl.col(name), where)
        if numeric:
            values = values.cast(pl.Float64)
            values = values.filter(values.is_not_null() & ~values.is_nan())
        for stat, rng in (("mean", spec.mean), ("std", spec.std)):
            if rng is None:
                continue
            agg = values.mean() if stat == "mean" else values.std()
            self._scalar_bound(f"{prefix}.{stat}", stat, name, spec, agg, rng.min, rng.max)
        for q, rng in (spec.quantiles or {}).items():
            self._scalar_bound(f"{prefix}.quantile_{q:g}", "quantile", name, spec,
                               values.quantile(q, interpolation="linear"), rng.min, rng.max)
        wants_drift = (spec.drift and spec.statistic is not None) or (
            spec.drift and self.reference is not None)
        shares = spec.category_share or {}
        new_cats = spec.new_categories
        if new_cats is None:
            new_cats = (not numeric) and self.reference is not None
        if new_cats and numeric and not dtype.is_integer():
            raise ContractError(
                f"{prefix}.new_categories: column '{name}' is {dtype_name(dtype)}; unseen "
                "categories apply to string, boolean and integer columns (use drift or "
                "quantiles for continuous values)", check=f"{prefix}.new_categories")
        ref_profile = self.reference.columns.get(name) if self.reference else None
        counts_alias = self._alias()
        expr_map: dict[str, pl.Expr] = {}
        if wants_drift or (not numeric and (shares or new_cats)):
            if numeric and ref_profile is not None and ref_profile.edges is not None:
                count_expr = binned_counts(values, ref_profile)
            else:
                count_expr = category_counts(self._filtered(spec, pl.col(name), where))
            expr_map = {counts_alias: count_expr}
        if wants_drift:
            self._drift_check(prefix, name, spec, numeric, ref_profile, counts_alias, expr_map)
            expr_map = {}
        for category, rng in shares.items():
            if numeric:
                self._numeric_share(prefix, name, spec, category, rng.min, rng.max, values)
            else:
                self._share_check(prefix, name, spec, category, rng.min, rng.max, counts_alias,
                                  expr_map)
                expr_map = {}
        if new_cats and numeric:
            self._new_values(prefix, name, spec, ref_profile, where)
        elif new_cats:
            self._new_categories(prefix, name, spec, ref_profile, counts_alias, expr_map)

    def _scalar_bound(self, check_id: str, kind: str, name: str, spec: DistributionSpec,
                      agg: pl.Expr, low: float | None, high: float | None) -> None:
        expected = " and ".join(p for p in (f">= {low:g}" if low is not None else "",
                                            f"<= {high:g}" if high is not None else "") if p)
        result = self._new(check_id, kind, name, spec, f"{kind} {expected}")
        alias = self._alias()

        def finish(values: dict[str, Any], res: CheckResult) -> None:
            value = values[alias]
            res.observed = value
            if value is None:
                res.status = "insufficient"
                res.message = "no values"
            elif (low is not None and value < low) or (high is not None and value > high):
                res.status = "fail"
                res.message = f"{kind} is {value:.6g}, expected {expected}"

        self.pending.append(_Pending(result, {alias: agg}, finish))

    def _drift_check(self, prefix: str, name: str, spec: DistributionSpec, numeric: bool,
                     ref: ColumnProfile | None, counts_alias: str, exprs: dict[str, pl.Expr]) -> None:
        from assay.contracts._drift import DEFAULT_THRESHOLDS

        test = self.contract.drift
        statistic = spec.statistic
        threshold = spec.threshold if spec.threshold is not None else (
            DEFAULT_THRESHOLDS[statistic] if statistic is not None else None)
        effect = f", {statistic} <= {threshold:g}" if threshold is not None else ""
        result = self._new(f"{prefix}.drift", "drift", name, spec,
                           f"same distribution as the reference (test at alpha {test.alpha:g}, "
                           f"{test.correction}{effect})")
        if ref is None:
            result.status = "insufficient"
            result.message = "no reference data for this column (set reference: in the contract)"
            self.pending.append(_Pending(result, exprs))
            return
        if numeric != ref.numeric:
            here = "numeric" if numeric else dtype_name(self.schema[name])
            there = "numeric" if ref.numeric else "not numeric"
            self._fail_unless_empty(result, name,
                                    f"column '{name}' is {here} here but {there} in the reference")
            return

        def finish(values: dict[str, Any], res: CheckResult) -> None:
            if ref.insufficient:
                res.status = "insufficient"
                res.message = ref.insufficient
                return
            labels, ref_counts, cur_counts, drift = compare_with_profile(
                ref, values[counts_alias], statistic=statistic, threshold=threshold,
                alpha=test.alpha)
            res.observed = drift.value
            labels, ref_counts, cur_counts = _capped(labels, ref_counts, cur_counts)
            res.details = {"drift": drift.to_dict(), "labels": labels,
                           "reference_counts": list(map(float, ref_counts)),
                           "current_counts": list(map(float, cur_counts)), "numeric": numeric,
                           "p_value": drift.p_value, "effect": drift.effect}
            if drift.insufficient:
                res.status = "insufficient"
                res.message = drift.insufficient
                return
            _decide(res, drift.drifted)  # at alpha; correct_drift() decides for the contract

        self.pending.append(_Pending(result, exprs, finish))

    def _share_check(self, prefix: str, name: str, spec: DistributionSpec, category: str,
                     low: float | None, high: float | None, counts_alias: str,
                     exprs: dict[str, pl.Expr]) -> None:
        expected = " and ".join(p for p in (f">= {low:.2%}" if low is not None else "",
                                            f"<= {high:.2%}" if high is not None else "") if p)
        result = self._new(f"{prefix}.share[{category}]", "category_share", name, spec,
                           f"share of {category!r} {expected}")

        def finish(values: dict[str, Any], res: CheckResult) -> None:
            counts = value_counts(values[counts_alias])
            total = sum(v for k, v in counts.items() if k is not None)
            if total == 0:
                res.status = "insufficient"
                res.message = "no values"
                return
            share = counts.get(category, 0) / total
            res.observed = share
            if (low is not None and share < low) or (high is not None and share > high):
                res.status = "fail"
                res.message = f"share of {category!r} is {share:.2%}, expected {expected}"

        self.pending.append(_Pending(result, exprs, finish))

    def _numeric_share(self, prefix: str, name: str, spec: DistributionSpec, category: str,
                       low: float | None, high: float | None, values: pl.Expr) -> None:
        """The share of one value of a number-coded column (``senior_citizen: {"1": ...}``)."""
        check_id = f"{prefix}.share[{category}]"
        try:
            number = float(category)
        except ValueError:
            raise ContractError(
                f"{check_id}: column '{name}' holds numbers; a category_share key must be a "
                f"number, not {category!r}", check=check_id) from None
        expected = " and ".join(p for p in (f">= {low:.2%}" if low is not None else "",
                                            f"<= {high:.2%}" if high is not None else "") if p)
        result = self._new(check_id, "category_share", name, spec,
                           f"share of {category!r} {expected}")
        hits, total = self._alias(), self._alias()

        def finish(found: dict[str, Any], res: CheckResult) -> None:
            count = int(found[total] or 0)
            if count == 0:
                res.status = "insufficient"
                res.message = "no values"
                return
            share = int(found[hits] or 0) / count
            res.observed = share
            if (low is not None and share < low) or (high is not None and share > high):
                res.status = "fail"
                res.message = f"share of {category!r} is {share:.2%}, expected {expected}"

        self.pending.append(_Pending(
            result, {hits: (values == number).sum(), total: values.count()}, finish))

    def _new_values(self, prefix: str, name: str, spec: DistributionSpec,
                    ref: ColumnProfile | None, where: pl.Expr) -> None:
        """Integer codes absent from the reference (its exact set of distinct values)."""
        import polars as pl

        result = self._new(f"{prefix}.new_categories", "new_categories", name, spec,
                           "only values seen in the reference")
        if ref is None or ref.values is None:
            result.status = "insufficient"
            result.message = "no reference values for this column"
            self.pending.append(_Pending(result))
            return
        col = pl.col(name)
        unseen = col.is_not_null() & ~col.is_in(pl.Series(ref.values, dtype=self.schema[name])
                                                .implode())
        if spec.where is not None:
            unseen = unseen & where
        rows, total, listed = self._alias(), self._alias(), self._alias()

        def finish(found: dict[str, Any], res: CheckResult) -> None:
            count = int(found[rows] or 0)
            denom = int(found[total] or 0)
            res.failing_rows = count
            res.failing_fraction = count / denom if denom else 0.0
            values = list(found[listed] or [])
            res.observed = values
            if count:
                res.status = "fail"
                shown = ", ".join(repr(v) for v in values[:5])
                more = "" if len(values) < 20 else " or more"
                res.message = f"{len(values)}{more} unseen values ({shown}) in {count:,} rows"

        self.pending.append(_Pending(
            result, {rows: unseen.sum(),
                     total: self._filtered(spec, col, where).count(),
                     listed: col.filter(unseen).unique().sort().head(20).implode()},
            finish, lambda lf: lf.filter(unseen)))

    def _new_categories(self, prefix: str, name: str, spec: DistributionSpec,
                        ref: ColumnProfile | None, counts_alias: str,
                        exprs: dict[str, pl.Expr]) -> None:
        result = self._new(f"{prefix}.new_categories", "new_categories", name, spec,
                           "no more rows of categories the reference lacks than chance explains "
                           f"(alpha {self.contract.drift.alpha:g})")
        if ref is None or ref.categories is None:
            result.status = "insufficient"
            result.message = "no reference categories for this column"
            self.pending.append(_Pending(result, exprs))
            return
        known = set(ref.categories)

        def finish(values: dict[str, Any], res: CheckResult) -> None:
            from assay.contracts._drift import unseen_p_value

            counts = value_counts(values[counts_alias])
            total = sum(v for k, v in counts.items() if k is not None)
            unseen = {k: v for k, v in counts.items() if k is not None and k not in known}
            rows = sum(unseen.values())
            res.failing_rows = rows
            res.failing_fraction = rows / total if total else 0.0
            res.observed = sorted(unseen)[:20]
            if not unseen:
                res.details = {"p_value": 1.0, "effect": True, "unseen_rows": 0}
                _decide(res, False)
                return
            assert ref.categories is not None
            reference = [*ref.counts, *([0.0] * len(unseen))]
            current = [float(counts.get(c, 0)) for c in ref.categories] + [
                float(v) for v in unseen.values()]
            p = unseen_p_value(reference, current)
            listed = ", ".join(repr(k) for k in sorted(unseen)[:5])
            res.details = {"p_value": p, "effect": True, "unseen_rows": rows,
                           "summary": f"{len(unseen)} unseen categories ({listed}) in {rows:,} "
                                      f"rows (p={p:.3g})"}
            _decide(res, p <= self.contract.drift.alpha)

        import polars as pl

        self.pending.append(_Pending(
            result, exprs, finish,
            lambda lf: lf.filter(pl.col(name).is_not_null()
                                 & ~pl.col(name).cast(pl.String).is_in(sorted(known))),
        ))



def _decide(res: CheckResult, drifted: bool) -> None:
    """A drift or unseen-category check's status and message from its decision."""
    res.status = "fail" if drifted else "pass"
    details = res.details or {}
    if res.kind == "new_categories":
        summary = details.get("summary")
        if summary is None:
            res.message = ""
        elif res.failed:
            res.message = f"{summary}: more than chance explains"
        else:
            res.message = f"{summary}: rare values a reference of this size can lack"
        return
    drift = details["drift"]
    p, statistic, value = drift["p_value"], drift["statistic"], drift["value"]
    shown = f"{statistic} {value:.4f}, {drift['test']} p={p:.3g}"
    if res.failed:
        res.message = f"{shown}: drift"
    elif p <= drift["alpha"] and not drift["effect"]:
        res.message = f"{shown}: significant, but within {statistic} <= {drift['threshold']:g}"
    else:
        res.message = shown


def correct_drift(results: list[CheckResult], alpha: float, correction: str) -> None:
    """Decide the contract's drift and unseen-category checks together: their p-values are
    corrected for how many were tested (``correction`` at ``alpha``, see
    :func:`assay.contracts.drift.adjust`), and a check fails when its test rejects after the
    correction and its effect is beyond its bound."""
    from assay.contracts._drift import adjust

    family = [r for r in results if r.kind in ("drift", "new_categories")
              and r.status in ("pass", "fail") and r.details
              and r.details.get("p_value") is not None]
    if not family:
        return
    rejected = adjust([float(r.details["p_value"]) for r in family], alpha, correction)
    for res, reject in zip(family, rejected, strict=True):
        _decide(res, reject and bool(res.details.get("effect", True)))
        res.details["rejected"] = reject
        res.details["correction"] = correction


def _capped(labels: list[str], ref_counts: list[float], current: list[float]
            ) -> tuple[list[str], list[float], list[float]]:
    """At most MAX_CATEGORIES categories for reports and plots; the rest summed as "(other)"."""
    from assay.contracts._profile import MAX_CATEGORIES

    unseen = labels[-1:] == ["(unseen)"]
    body = len(labels) - (1 if unseen else 0)
    if body <= MAX_CATEGORIES:
        return labels, ref_counts, current
    keep = slice(0, MAX_CATEGORIES)
    rest = slice(MAX_CATEGORIES, body)
    tail = slice(body, len(labels))
    return ([*labels[keep], "(other)", *labels[tail]],
            [*ref_counts[keep], float(sum(ref_counts[rest])), *ref_counts[tail]],
            [*current[keep], float(sum(current[rest])), *current[tail]])


