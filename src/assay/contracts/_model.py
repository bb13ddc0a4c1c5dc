"""The contract file (``contracts/NAME.yaml``) as pydantic models.

Every check may be written short (``min: 0``) or long (``min: {value: 0, inclusive: false,
severity: warn, owner: ana@example.com, where: "region = 'north'"}``). Unknown keys are errors
that name the file, line and key and suggest the nearest valid key.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from assay.config import Section, load_model
from assay.errors import ConfigError

Severity = Literal["error", "warn"]
Statistic = Literal["psi", "ks", "chi2", "z", "js", "wasserstein"]
Monotonic = Literal["increasing", "decreasing", "strictly_increasing", "strictly_decreasing"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(text: str) -> timedelta:
    """``"90m"``, ``"36h"``, ``"2d"``, ``"1w"`` -> timedelta.

    Raises:
        ValueError: not a duration.
    """
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration; use a number and s, m, h, d or w (e.g. 36h)")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


class CheckOptions(Section):
    """What every check may carry: severity, owner, a row filter, a description."""

    severity: Severity = "error"
    owner: str | None = Field(default=None, description="defaults to the contract's owner")
    where: str | None = Field(default=None, description="SQL predicate limiting the rows checked")
    description: str | None = None


def _shorthand(value: Any) -> Any:
    return value if isinstance(value, dict) else {"value": value}


class BoolRule(CheckOptions):
    value: bool = True

    @model_validator(mode="before")
    @classmethod
    def _short(cls, value: Any) -> Any:
        return _shorthand(value)


class FractionRule(CheckOptions):
    value: float = Field(ge=0.0, le=1.0)

    @model_validator(mode="before")
    @classmethod
    def _short(cls, value: Any) -> Any:
        return _shorthand(value)


class TextRule(CheckOptions):
    value: str

    @model_validator(mode="before")
    @classmethod
    def _short(cls, value: Any) -> Any:
        return _shorthand(value)


class AllowedRule(CheckOptions):
    value: list[Any]

    @model_validator(mode="before")
    @classmethod
    def _short(cls, value: Any) -> Any:
        return _shorthand(value)


class MonotonicRule(CheckOptions):
    value: Monotonic

    @model_validator(mode="before")
    @classmethod
    def _short(cls, value: Any) -> Any:
        return _shorthand(value)


class BoundRule(CheckOptions):
    """A lower or upper bound: a number, or an ISO date/time for temporal columns."""

    value: float | int | datetime | str
    inclusive: bool = True

    @model_validator(mode="before")
    @classmethod
    def _short(cls, value: Any) -> Any:
        return _shorthand(value)

    @field_validator("value")
    @classmethod
    def _number_or_time(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
            try:
                datetime.fromisoformat(value.strip())
            except ValueError:
                raise ValueError(
                    f"{value!r} is neither a number nor an ISO date/time "
                    "(e.g. 0, 2.5, 2026-01-01 or 2026-01-01T12:00:00)") from None
        return value


class Range(Section):
    """``{min: X, max: Y}``; either side optional."""

    min: float | None = None
    max: float | None = None


class RangeRule(CheckOptions):
    min: float | None = None
    max: float | None = None


class ColumnSpec(Section):
    """Checks on one column."""

    dtype: TextRule | None = Field(default=None, description="int64, float64, str, bool, date, ...")
    nullable: BoolRule | None = None
    max_null_fraction: FractionRule | None = None
    unique: BoolRule | None = None
    min: BoundRule | None = None
    max: BoundRule | None = None
    allowed: AllowedRule | None = None
    regex: TextRule | None = None
    length: RangeRule | None = Field(default=None, description="string length bounds")
    monotonic: MonotonicRule | None = None


class RowCount(Section):
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)


class Freshness(Section):
    """The newest ``column`` value (or the file's modification time) is at most ``max_age`` old."""

    column: str | None = None
    file: bool = False
    max_age: str
    now: datetime | None = Field(default=None, description="compare to this time, not now")

    @field_validator("max_age")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @model_validator(mode="after")
    def _one_source(self) -> Freshness:
        if (self.column is None) == (not self.file):
            raise ValueError("freshness needs exactly one of 'column' or 'file: true'")
        return self


_TABLE_KINDS = ("row_count", "unique", "expr", "sql", "compare", "freshness")


class TableCheck(CheckOptions):
    """One table-level check; exactly one of the kind keys is set."""

    name: str | None = None
    row_count: RowCount | None = None
    unique: list[str] | None = Field(default=None, description="compound key columns")
    expr: str | None = Field(default=None, description="Polars expression, true for good rows")
    sql: str | None = Field(default=None, description="SQL predicate, true for good rows")
    compare: str | None = Field(default=None, description="'a >= b' between two columns")
    freshness: Freshness | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> TableCheck:
        given = [k for k in _TABLE_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"a table check needs exactly one of {', '.join(_TABLE_KINDS)} (got "
                f"{', '.join(given) or 'none'})"
            )
        return self

    @property
    def kind(self) -> str:
        return next(k for k in _TABLE_KINDS if getattr(self, k) is not None)


class DatasetRef(Section):
    """``reference: {dataset: churn, version: 1}``: a recorded dataset version (or its data now)."""

    dataset: str = Field(description="dataset name (assay data log NAME lists its versions)")
    version: int | str | None = Field(
        default=None, description="version number (1, v1) or hash prefix; none: the data now")

    @field_validator("version")
    @classmethod
    def _immutable(cls, value: int | str | None) -> int | str | None:
        import re

        if value is None:
            return value
        text = str(value).strip()
        if not re.fullmatch(r"[vV]?[1-9]\d*|[0-9a-fA-F]{4,64}", text):
            raise ValueError(f"{value!r} is not a version number (1, v1) or a hash prefix "
                             "(at least 4 hex digits)")
        return text


class DistributionSpec(CheckOptions):
    """Distribution checks on one column, against the reference dataset or absolute bounds."""

    statistic: Statistic | None = Field(
        default=None, description="drift effect size; default by type and size: the test alone "
        "(ks, chi2, z for two categories) up to 1,000 values, wasserstein for numbers and js "
        "for categories above")
    threshold: float | None = Field(
        default=None, ge=0.0, description="the effect size beyond which a significant "
        "difference is drift (psi 0.2, js 0.1, wasserstein 0.1 reference std)")
    bins: int = Field(default=20, ge=2, le=1000)
    mean: Range | None = None
    std: Range | None = None
    quantiles: dict[float, Range] | None = None
    category_share: dict[str, Range] | None = None
    new_categories: bool | None = Field(
        default=None, description="fail on more values absent from the reference than chance "
        "explains (default for strings)")
    drift: bool = Field(default=True, description="compute the drift statistic")

    @model_validator(mode="after")
    def _chi2_has_no_threshold(self) -> DistributionSpec:
        if self.statistic in ("chi2", "z") and self.threshold is not None:
            raise ValueError(f"{self.statistic} is a test with no effect size: drop threshold "
                             "(the contract's drift.alpha sets its level)")
        return self

    @field_validator("category_share", mode="before")
    @classmethod
    def _category_keys(cls, value: Any) -> Any:
        # YAML reads `{1: {max: 0.2}}` with an int key; categories are matched as text
        if isinstance(value, dict):
            return {str(k).lower() if isinstance(k, bool) else str(k): v for k, v in value.items()}
        return value


class DriftTest(Section):
    """How the drift and unseen-category checks of a contract decide together."""

    alpha: float = Field(default=0.05, gt=0.0, lt=0.5, description="false-alarm rate: the "
                         "chance that data from the reference's distribution fail a check")
    correction: Literal["bh", "bonferroni", "none"] = Field(
        default="bh", description="across the contract's drift tests: Benjamini-Hochberg, "
        "Bonferroni, or none (each at alpha)")


class Contract(Section):
    """A data contract file."""

    name: str | None = None
    owner: str | None = None
    description: str | None = None
    data: str | None = Field(default=None, description="default data this contract validates")
    reference: str | DatasetRef | None = Field(
        default=None, description="reference data for distribution checks: a path, a dataset "
        "name, a dataset version (churn@v1, churn@1a2b3c4d) or {dataset: churn, version: 1}")
    extra_columns: Literal["allow", "warn", "error"] = "warn"
    columns: dict[str, ColumnSpec] = Field(default_factory=dict)
    checks: list[TableCheck] = Field(default_factory=list)
    distribution: dict[str, DistributionSpec] = Field(default_factory=dict)
    drift: DriftTest = Field(default_factory=DriftTest)

    @field_validator("columns", "distribution", mode="before")
    @classmethod
    def _empty_spec(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: ({} if v is None else v) for k, v in value.items()}
        return value


def load_contract(path: Path) -> Contract:
    """Parse ``path`` into a :class:`Contract` (name defaults to the file stem).

    Raises:
        ConfigError: the file is missing or malformed (file, line, key, suggestion).
    """
    if not path.is_file():
        raise ConfigError(f"Contract file {path} does not exist", file=str(path))
    contract: Contract = load_model(path, Contract)
    if contract.name is None:
        contract = contract.model_copy(update={"name": path.stem})
    return contract


__all__ = [
    "BoolRule",
    "BoundRule",
    "CheckOptions",
    "ColumnSpec",
    "Contract",
    "DatasetRef",
    "DistributionSpec",
    "Freshness",
    "Range",
    "RowCount",
    "TableCheck",
    "load_contract",
    "parse_duration",
]
