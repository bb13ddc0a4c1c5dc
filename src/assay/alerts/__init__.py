"""Alerts: a monitor window's finding, routed by severity and owner to the channels of
``alerts:`` in assay.yaml (a webhook, JSON or Slack-shaped and HMAC-signed, or a command), sent
at most once per finding and channel within a cooldown, with bounded retries; every outcome is
an event (``alert.sent``, ``alert.failed``, ``alert.suppressed``). See docs/monitoring.md.

>>> from assay.alerts import send_alerts
>>> deliveries = send_alerts(project, store, window, actor="ci")  # doctest: +SKIP
>>> [(d.channel, d.status) for d in deliveries]  # doctest: +SKIP
[('ops', 'sent')]
"""

from __future__ import annotations

from assay.alerts._delivery import DELIVERY_HEADER, SIGNATURE_HEADER, Outcome, deliver, sign
from assay.alerts._dispatch import Delivery, channels_for, send_alerts, send_test
from assay.alerts._finding import Finding, finding_id, finding_of, owner_of, severity_of

__all__ = [
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "Delivery",
    "Finding",
    "Outcome",
    "channels_for",
    "deliver",
    "finding_id",
    "finding_of",
    "owner_of",
    "send_alerts",
    "send_test",
    "severity_of",
    "sign",
]
