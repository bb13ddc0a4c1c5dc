"""What a contract run returns: one result per check, and the report around them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["pass", "fail", "insufficient", "skipped"]
"""``insufficient``: not enough data to decide (no rows, all null, a constant reference);
``skipped``: not evaluated because its column has the wrong type (its dtype check fails)."""


@dataclass
class CheckResult:
    """The outcome of one check."""

    id: str  # "columns.monthly_charges.min", "checks[2].sql", "distribution.region.drift"
    kind: str
    column: str | None
    severity: str
    owner: str | None
    status: Status
    expected: str
    observed: Any = None
    failing_rows: int | None = None
    failing_fraction: float | None = None
    message: str = ""
    where: str | None = None
    samples: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.status == "fail"

    @property
    def is_error(self) -> bool:
        return self.failed and self.severity == "error"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ContractReport:
    """Every check of one contract over one dataset."""

    contract: str
    data: str
    owner: str | None
    rows: int | None
    columns: list[str]
    engine: str
    started_at: float
    duration_s: float
    checks: list[CheckResult]
    reference: str | None = None
    data_hash: str | None = None
    dataset_version_id: int | None = None
    report_paths: dict[str, str] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return sum(1 for c in self.checks if c.is_error)

    @property
    def warnings(self) -> int:
        return sum(1 for c in self.checks if c.failed and c.severity == "warn")

    @property
    def insufficient(self) -> int:
        return sum(1 for c in self.checks if c.status == "insufficient")

    @property
    def skipped(self) -> int:
        return sum(1 for c in self.checks if c.status == "skipped")

    @property
    def passed(self) -> bool:
        return self.errors == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "contract": self.contract,
            "data": self.data,
            "owner": self.owner,
            "reference": self.reference,
            "rows": self.rows,
            "columns": self.columns,
            "engine": self.engine,
            "started_at": self.started_at,
            "duration_s": self.duration_s,
            "passed": self.passed,
            "errors": self.errors,
            "warnings": self.warnings,
            "insufficient": self.insufficient,
            "skipped": self.skipped,
            "data_hash": self.data_hash,
            "dataset_version_id": self.dataset_version_id,
            "report_paths": self.report_paths,
            "checks": [c.to_dict() for c in self.checks],
        }
