"""Routing a finding to its channels, skipping those that had it within their cooldown, and
recording every outcome as an event (``alert.sent``, ``alert.failed``, ``alert.suppressed``).

The cooldown's state is the event log itself: the last ``alert.sent`` of a finding to a channel
(subject: the finding's id), so it survives restarts and is shared by every process using the
store."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assay.alerts._delivery import Outcome, deliver
from assay.alerts._finding import Finding, finding_of, probe_finding

if TYPE_CHECKING:
    from assay.config import AssayConfig, Project
    from assay.monitoring import WindowResult
    from assay.store import Store


@dataclass(frozen=True)
class Delivery:
    """What happened to one finding on one channel: ``sent``, ``failed`` or ``suppressed``."""

    channel: str
    finding: str
    status: str
    severity: str
    outcome: Outcome | None = None
    last_sent: float | None = None

    @property
    def reason(self) -> str | None:
        if self.status == "suppressed":
            return "sent within the channel's cooldown"
        return self.outcome.reason if self.outcome is not None else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"channel": self.channel, "finding": self.finding,
                               "status": self.status, "severity": self.severity,
                               "reason": self.reason}
        if self.outcome is not None:
            out.update(attempts=self.outcome.attempts, status_code=self.outcome.status_code,
                       delivery=self.outcome.delivery)
        if self.last_sent is not None:
            out["last_sent"] = self.last_sent
        return out


def is_member_of(config: AssayConfig, owner: str | None, wanted: str) -> bool:
    """True when ``owner`` is ``wanted`` (a member's id) or a team member holding role
    ``wanted``."""
    if owner is None:
        return False
    if owner == wanted:
        return True
    return any(m.id == owner and wanted in m.roles for m in config.team)


def channels_for(config: AssayConfig, finding: Finding) -> list[str]:
    """The channels the routes send ``finding`` to, in the order the routes name them."""
    out: list[str] = []
    for route in config.alerts.routes:
        if not route.admits(finding.severity):
            continue
        if route.monitors is not None and finding.monitor not in route.monitors:
            continue
        if route.owner is not None and not is_member_of(config, finding.owner, route.owner):
            continue
        out.extend(c for c in route.channels if c not in out)
    return out


def _last_sent(store: Store, finding: str, channel: str, since: float) -> float | None:
    sent = [e for e in store.events(kind="alert.sent", subject=finding, since=since)
            if e.details.get("channel") == channel]
    return sent[-1].ts if sent else None


def _send(project: Project, store: Store, finding: Finding, channel: str, *, actor: str,
          dedupe: bool) -> Delivery:
    config = project.config.alerts
    if dedupe:
        last = _last_sent(store, finding.id, channel,
                          since=time.time() - config.cooldown_of(channel))
        if last is not None:
            store.record_event("alert.suppressed", finding.id, {
                "channel": channel, "monitor": finding.monitor, "severity": finding.severity,
                "window_id": finding.window_id, "last_sent": last,
                "cooldown": config.cooldown_of(channel)}, actor=actor)
            return Delivery(channel=channel, finding=finding.id, status="suppressed",
                            severity=finding.severity, last_sent=last)
    outcome = deliver(config.channels[channel], finding.to_alert(), finding.to_slack(),
                      root=project.root)
    details: dict[str, Any] = {
        "channel": channel, "monitor": finding.monitor, "severity": finding.severity,
        "verdict": finding.verdict, "window_id": finding.window_id, "test": finding.test,
        "attempts": outcome.attempts, "status_code": outcome.status_code,
        "delivery": outcome.delivery}
    if not outcome.ok:
        details["reason"] = outcome.reason
    store.record_event("alert.sent" if outcome.ok else "alert.failed", finding.id, details,
                       actor=actor)
    return Delivery(channel=channel, finding=finding.id,
                    status="sent" if outcome.ok else "failed", severity=finding.severity,
                    outcome=outcome)


def send_alerts(project: Project, store: Store, window: WindowResult, *,
                actor: str) -> list[Delivery]:
    """Send the finding ``window`` raises to the channels its routes name (none when it raises
    none), each at most once per the channel's cooldown; every outcome is an event.

    A channel that is down, slow or refuses never raises here: its delivery ends ``failed``
    after the channel's bounded attempts.
    """
    finding = finding_of(window, project.config)
    if finding is None:
        return []
    return [_send(project, store, finding, channel, actor=actor, dedupe=True)
            for channel in channels_for(project.config, finding)]


def send_test(project: Project, store: Store, channel: str, *, actor: str) -> Delivery:
    """Send a test alert through ``channel`` (no cooldown applies); recorded as an event.

    Raises:
        AlertError: no such channel.
    """
    from assay.config import suggest
    from assay.errors import AlertError

    known = sorted(project.config.alerts.channels)
    if channel not in project.config.alerts.channels:
        raise AlertError(f"no channel '{channel}' under alerts.channels in assay.yaml "
                         f"(channels: {', '.join(known) or 'none'}){suggest(channel, known)}",
                         channel=channel)
    return _send(project, store, probe_finding(channel), channel, actor=actor, dedupe=False)
