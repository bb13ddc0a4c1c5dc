"""Delivering one alert to one channel: a webhook POST (signed, retried with backoff) or a
command (the alert on its stdin). Nothing here raises on a failed delivery: the outcome says
what happened, and the caller records it."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.config import ChannelConfig

#: Answers worth another attempt: a timeout or rate limit, or any server error.
_RETRIED_4XX = (408, 429)
#: The signature header's name, its value is ``sha256=<hex HMAC-SHA256 of the body>``.
SIGNATURE_HEADER = "X-Assay-Signature"
#: The delivery id header's name (the same on every attempt of one delivery).
DELIVERY_HEADER = "X-Assay-Delivery"


@dataclass(frozen=True)
class Outcome:
    """How delivering one alert ended."""

    ok: bool
    attempts: int
    delivery: str
    status_code: int | None = None
    reason: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "attempts": self.attempts, "delivery": self.delivery,
                "status_code": self.status_code, "reason": self.reason,
                "seconds": round(self.seconds, 3)}


def sign(body: bytes, secret: str) -> str:
    """The ``X-Assay-Signature`` value of ``body``: ``sha256=`` and the hex HMAC-SHA256."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def body_of(alert: dict[str, Any], slack: dict[str, Any], channel: ChannelConfig) -> bytes:
    """The bytes a channel sends: the alert document, or the Slack message for ``slack``."""
    doc = slack if channel.format == "slack" else alert
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8")


def deliver(channel: ChannelConfig, alert: dict[str, Any], slack: dict[str, Any], *,
            root: Path) -> Outcome:
    """Send ``alert`` through ``channel`` (a webhook, or a command run in ``root``)."""
    delivery = uuid.uuid4().hex
    started = time.monotonic()
    if channel.url is not None:
        outcome = _post(channel, body_of(alert, slack, channel), delivery)
    else:
        outcome = _run(channel, body_of(alert, slack, channel), delivery, root)
    return Outcome(ok=outcome.ok, attempts=outcome.attempts, delivery=delivery,
                   status_code=outcome.status_code, reason=outcome.reason,
                   seconds=time.monotonic() - started)


def _post(channel: ChannelConfig, body: bytes, delivery: str) -> Outcome:
    """POST ``body`` at most ``1 + retries`` times, ``backoff * 2**n`` seconds apart; a 2xx
    delivers; a connection error, a timeout, a 5xx, 408 or 429 is tried again; any other answer
    (a redirect, a 4xx) stops at once."""
    import httpx

    assert channel.url is not None
    headers = {"Content-Type": "application/json", DELIVERY_HEADER: delivery,
               "User-Agent": "assay-alerts"}
    if channel.secret_env is not None:
        secret = os.environ.get(channel.secret_env)
        if not secret:
            return Outcome(ok=False, attempts=0, delivery=delivery,
                           reason=f"environment variable {channel.secret_env} (secret_env) is "
                                  "not set; export it with the webhook's secret")
        headers[SIGNATURE_HEADER] = sign(body, secret)
    attempts = 0
    status: int | None = None
    reason = ""
    with httpx.Client(timeout=channel.timeout, follow_redirects=False) as client:
        for attempt in range(1 + channel.retries):
            if attempt:
                time.sleep(channel.backoff * 2 ** (attempt - 1))
            attempts += 1
            try:
                answer = client.post(channel.url, content=body, headers=headers)
            except httpx.TimeoutException:
                status, reason = None, f"no answer within {channel.timeout:g}s"
                continue
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                status, reason = None, f"{type(exc).__name__}: {exc}"
                continue
            status = answer.status_code
            if 200 <= status < 300:
                return Outcome(ok=True, attempts=attempts, delivery=delivery, status_code=status)
            reason = f"HTTP {status}: {answer.text[:200]}".strip()
            if 300 <= status < 400:
                reason += " (redirects are not followed: give the final URL)"
            if status < 500 and status not in _RETRIED_4XX:
                break
    return Outcome(ok=False, attempts=attempts, delivery=delivery, status_code=status,
                   reason=reason)


def _run(channel: ChannelConfig, body: bytes, delivery: str, root: Path) -> Outcome:
    """Run the command once, ``body`` on its stdin; exit 0 within ``timeout`` delivers."""
    assert channel.command is not None
    env = {**os.environ, "ASSAY_ALERT_DELIVERY": delivery}
    try:
        done = subprocess.run(channel.command, input=body, cwd=root, env=env,
                              capture_output=True, timeout=channel.timeout, check=False)
    except subprocess.TimeoutExpired:
        return Outcome(ok=False, attempts=1, delivery=delivery,
                       reason=f"the command did not finish within {channel.timeout:g}s")
    except OSError as exc:
        return Outcome(ok=False, attempts=1, delivery=delivery,
                       reason=f"cannot run {channel.command[0]!r}: {exc.strerror or exc}")
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        return Outcome(ok=False, attempts=1, delivery=delivery,
                       reason=f"the command exited {done.returncode}"
                              + (f": {tail[0][:200]}" if tail[0] else ""))
    return Outcome(ok=True, attempts=1, delivery=delivery)
