"""What the doctor reports: rules (why they matter, how to fix) and their findings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warn"]


@dataclass(frozen=True)
class Rule:
    """One antipattern of ML delivery the doctor looks for."""

    id: str
    severity: Severity
    title: str
    why: str
    fix: str


@dataclass(frozen=True)
class Finding:
    """One place where a project matches a rule."""

    rule: Rule
    message: str
    where: str = "assay.yaml"
    severity: Severity | None = None  # overrides the rule's severity when set

    @property
    def level(self) -> Severity:
        """The finding's severity."""
        return self.severity or self.rule.severity

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "rule": self.rule.id,
            "severity": self.level,
            "title": self.rule.title,
            "message": self.message,
            "where": self.where,
            "why": self.rule.why,
            "fix": self.rule.fix,
        }


@dataclass(frozen=True)
class DoctorReport:
    """Every finding of one check, errors first."""

    findings: list[Finding] = field(default_factory=list)
    rules_checked: int = 0

    @property
    def errors(self) -> list[Finding]:
        """Findings of error severity (they make ``assay doctor`` exit 1)."""
        return [f for f in self.findings if f.level == "error"]

    @property
    def warnings(self) -> list[Finding]:
        """Findings of warning severity."""
        return [f for f in self.findings if f.level == "warn"]

    @property
    def is_healthy(self) -> bool:
        """True when no finding has error severity."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "healthy": self.is_healthy,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "rules_checked": self.rules_checked,
            "findings": [f.to_dict() for f in self.findings],
        }
