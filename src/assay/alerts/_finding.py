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
            "summary": self.summary, "test": self.test, **self.extra,
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
    """The severity of ``window``'s finding (None: it raises none): the most urgent of

    - its drift: ``critical`` when the prediction drifted and so did at least half of the input
      columns; ``error`` for a schema mismatch, or the prediction drifted, or at least half of
      the input columns (and at least two) drifted; ``warn`` for any other drift;
    - its data quality: ``error`` when an error-severity check of its contract failed;
    - its accuracy below the monitor's ``min_accuracy``: ``error`` shown by feedback labels,
      ``warn`` shown by the label-free estimate.
    """
    levels = []
    if window.verdict in RAISED:
        inputs = [c for c in window.columns if c.role != _PREDICTION_ROLE]
        drifted = [c for c in inputs if c.status == "drift"]
        prediction = any(c.role == _PREDICTION_ROLE and c.status == "drift"
                         for c in window.columns)
        many = len(drifted) >= 2 and 2 * len(drifted) >= len(inputs)
        half = bool(inputs) and 2 * len(drifted) >= len(inputs)
        if prediction and half:
            levels.append("critical")
        elif window.verdict == "schema_mismatch" or prediction or many:
            levels.append("error")
        else:
            levels.append("warn")
    if window.data_quality == "fail":
        levels.append("error")
    alarm = window.quality_alarm or {}
    if alarm.get("alarm"):
        levels.append("error" if alarm.get("source") == "realised" else "warn")
    return max(levels, key=_SEVERITY_ORDER.index) if levels else None


_SEVERITY_ORDER = ("warn", "error", "critical")


def owner_of(config: AssayConfig, model: str) -> str | None:
    """The model's owner: ``models.<model>.owner`` in assay.yaml, when given."""
    owner = (config.models.get(model) or {}).get("owner")
    return str(owner) if owner else None


def finding_of(window: WindowResult, config: AssayConfig) -> Finding | None:
    """The finding ``window`` raises (None when it raises none): its drift, its failed data
    quality checks, its accuracy below the monitor's bound."""
    severity = severity_of(window)
    if severity is None:
        return None
    parts: list[tuple[str, str]] = []
    keys: list[str] = []
    flagged = [c for c in window.columns if c.status in RAISED] \
        if window.verdict in RAISED else []
    columns = [{"column": c.column, "role": c.role, "status": c.status,
                "statistic": c.statistic, "value": c.value, "p_value": c.p_value,
                "reason": c.reason} for c in flagged]
    if window.verdict in RAISED:
        names = [c.column for c in flagged]
        keys += names
        parts.append(("drift" if window.verdict == "drift" else "schema mismatch",
                      ", ".join(names) or "no column"))
    extra: dict[str, Any] = {}
    if window.data_quality == "fail":
        failed = [c for c in window.failed_checks if c.get("severity") == "error"]
        keys += [f"check:{c['check']}" for c in failed]
        parts.append(("data quality", ", ".join(
            f"{c['check']} ({c.get('failed_rows', 0):,} rows)" for c in failed)))
        extra["failed_checks"] = failed
    alarm = window.quality_alarm or {}
    if alarm.get("alarm"):
        keys.append("quality")
        parts.append(("low accuracy", f"{alarm['source']} {alarm['value']:.3f} below "
                                      f"{alarm['bound']:g} (p={alarm['p_value']:.2g})"))
        extra["quality_alarm"] = alarm
    verdict = window.verdict if window.verdict in RAISED else (
        "data_quality" if window.data_quality == "fail" else "quality")
    versions = ", ".join(window.versions) or "-"
    (what, detail), rest = parts[0], parts[1:]
    source = (f"{window.deployment}, {window.model} v{versions}" if window.deployment
              else f"dataset {window.model} {versions}")
    summary = (f"{what} on {window.monitor} ({source}): "
               f"{detail}" + "".join(f"; {w}: {d}" for w, d in rest)
               + f"; {window.rows:,} rows")
    return Finding(
        id=finding_id(window.monitor, verdict, keys), monitor=window.monitor,
        deployment=window.deployment, model=window.model, versions=list(window.versions),
        severity=severity, verdict=verdict, columns=columns, window_id=window.id,
        time=window.created_at or time.time(), summary=summary,
        owner=owner_of(config, window.model), extra=extra)


def probe_finding(channel: str) -> Finding:
    """A finding that is only a test of ``channel`` (``assay alerts test``): never deduplicated."""
    now = time.time()
    return Finding(
        id=f"test-{hashlib.sha256(f'{channel}{now}'.encode()).hexdigest()[:11]}",
        monitor="-", deployment="-", model="-", versions=[], severity="warn", verdict="test",
        columns=[], window_id=None, time=now,
        summary=f"test alert from assay to channel {channel}: delivery works", test=True)
