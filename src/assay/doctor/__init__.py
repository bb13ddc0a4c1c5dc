"""The pipeline doctor: checks a project against the known antipatterns of ML delivery.

Each finding says what is wrong, where (``assay.yaml:LINE``), why it matters and how to fix it.
Error-severity findings make ``assay doctor`` exit 1.

>>> from assay.doctor import diagnose
>>> report = diagnose(Project.load())  # doctest: +SKIP
>>> [f.rule.id for f in report.errors]  # doctest: +SKIP
['no-validation']
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay.config import Project
from assay.doctor._findings import DoctorReport, Finding, Rule, Severity
from assay.doctor._graph import PipelineView
from assay.doctor._registry import HeldAlias, held_aliases, is_deployment_alias
from assay.doctor._rules import ALL_RULES, CHECKS

if TYPE_CHECKING:
    from assay.store import Store


def diagnose(project: Project, *, store: Store | None = None) -> DoctorReport:
    """Run every rule on ``project``; findings sorted errors first, then by rule.

    Args:
        project: a loaded project (its assay.yaml and files under its root are read).
        store: the metadata store to read the registry from; default: the project's store,
            if it exists (doctor never creates one).

    Returns:
        The report.
    """
    view = PipelineView(project.config, held_aliases(project, store))
    findings = [finding for check in CHECKS for finding in check(project, view)]
    order = {rule.id: i for i, rule in enumerate(ALL_RULES)}
    findings.sort(key=lambda f: (f.level != "error", order[f.rule.id]))
    return DoctorReport(findings=findings, rules_checked=len(CHECKS))


__all__ = [
    "ALL_RULES",
    "DoctorReport",
    "Finding",
    "HeldAlias",
    "PipelineView",
    "Rule",
    "Severity",
    "diagnose",
    "held_aliases",
    "is_deployment_alias",
]
