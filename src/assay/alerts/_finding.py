"""A finding: what a monitor window says that someone should hear, its severity and owner, and
the alert document (JSON, or a Slack message) that carries it."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.config import AssayConfig
    from assay.monitoring import WindowResult

#: The window verdicts that raise a finding.
RAISED = ("drift", "schema_mismatch")
#: The name a window gives its prediction column (role ``prediction``).
_PREDICTION_ROLE = "prediction"


@dataclass(frozen=True)
class Finding:
    """One monitor window's finding. ``id`` is the same for every window of the monitor with
    the same verdict and the same flagged columns: the unit of deduplication."""

    id: str
    monitor: str
    deployment: str
    model: str
    versions: list[str]
    severity: str
    verdict: str
    columns: list[dict[str, Any]]
    window_id: int | None
    time: float
    summary: str
    owner: str | None = None
    test: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_alert(self) -> dict[str, Any]:
        """The alert document (the ``json`` webhook body and the command's stdin)."""
        return {
            "kind": "assay.alert", "finding": self.id, "monitor": self.monitor,
            "deployment": self.deployment, "model": self.model, "versions": self.versions,
            "severity": self.severity, "verdict": self.verdict, "owner": self.owner,
            "columns": self.columns, "window_id": self.window_id,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.time)),
            "summary": self.summary, "test": self.test,
        }

    def to_slack(self) -> dict[str, Any]:
        """A Slack incoming-webhook message: ``text`` (the summary) and ``blocks``."""
        lines = [f"*{c['column']}*: {c['status']}"
                 + (f" ({c['statistic']} {c['value']:.4g}, p={c['p_value']:.3g})"
                    if c.get("value") is not None and c.get("p_value") is not None else "")
                 for c in self.columns]
        context = (f"finding `{self.id}` · monitor `{self.monitor}` · window "
                   f"{self.window_id if self.window_id is not None else '-'} · "
                   f"{self.to_alert()['time']}")
        blocks: list[dict[str, Any]] = [
            {"type": "section", "text": {"type": "mrkdwn",
                                         "text": f"*[{self.severity}]* {self.summary}"}}]
        if lines:
            blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                       "text": "\n".join(lines)}})
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
        return {"text": f"[{self.severity}] {self.summary}", "blocks": blocks}


def finding_id(monitor: str, verdict: str, columns: list[str]) -> str:
    """The finding's identity: its monitor, verdict and sorted flagged columns."""
    key = "\0".join([monitor, verdict, *sorted(columns)])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def severity_of(window: WindowResult) -> str | None:
    """The severity of ``window``'s finding (None: it raises none).

    - ``critical``: the prediction drifted and so did at least half of the input columns;
    - ``error``: a schema mismatch, or the prediction drifted, or at least half of the input
      columns (and at least two) drifted;
    - ``warn``: any other drift (one or a few input columns).
    """
    if window.verdict not in RAISED:
        return None
    inputs = [c for c in window.columns if c.role != _PREDICTION_ROLE]
    drifted = [c for c in inputs if c.status == "drift"]
    prediction = any(c.role == _PREDICTION_ROLE and c.status == "drift" for c in window.columns)
    many = len(drifted) >= 2 and 2 * len(drifted) >= len(inputs)
    half = bool(inputs) and 2 * len(drifted) >= len(inputs)
    if prediction and half:
        return "critical"
    if window.verdict == "schema_mismatch" or prediction or many:
        return "error"
    return "warn"


def owner_of(config: AssayConfig, model: str) -> str | None:
    """The model's owner: ``models.<model>.owner`` in assay.yaml, when given."""
    owner = (config.models.get(model) or {}).get("owner")
    return str(owner) if owner else None


def finding_of(window: WindowResult, config: AssayConfig) -> Finding | None:
    """The finding ``window`` raises (None when its verdict raises none)."""
    severity = severity_of(window)
    if severity is None:
        return None
    flagged = [c for c in window.columns if c.status in RAISED]
    columns = [{"column": c.column, "role": c.role, "status": c.status,
                "statistic": c.statistic, "value": c.value, "p_value": c.p_value,
                "reason": c.reason} for c in flagged]
    names = [c.column for c in flagged]
    what = "drift" if window.verdict == "drift" else "schema mismatch"
    versions = ", ".join(window.versions) or "-"
    summary = (f"{what} on {window.monitor} ({window.deployment}, {window.model} v{versions}): "
               f"{', '.join(names) or 'no column'}; {window.rows:,} rows")
    return Finding(
        id=finding_id(window.monitor, window.verdict, names), monitor=window.monitor,
        deployment=window.deployment, model=window.model, versions=list(window.versions),
        severity=severity, verdict=window.verdict, columns=columns, window_id=window.id,
        time=window.created_at or time.time(), summary=summary,
        owner=owner_of(config, window.model))


def probe_finding(channel: str) -> Finding:
    """A finding that is only a test of ``channel`` (``assay alerts test``): never deduplicated."""
    now = time.time()
    return Finding(
        id=f"test-{hashlib.sha256(f'{channel}{now}'.encode()).hexdigest()[:11]}",
        monitor="-", deployment="-", model="-", versions=[], severity="warn", verdict="test",
        columns=[], window_id=None, time=now,
        summary=f"test alert from assay to channel {channel}: delivery works", test=True)
