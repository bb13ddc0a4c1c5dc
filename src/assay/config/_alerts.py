"""The ``alerts:`` section of assay.yaml: where a monitor's findings are sent.

.. code-block:: yaml

    alerts:
      cooldown: 1h                        # the same finding is sent to a channel once per 1h
      channels:
        ops:                              # a webhook: POST the alert as JSON
          url: https://hooks.example.com/assay
          format: json                    # json | slack
          secret_env: ASSAY_ALERT_SECRET  # the HMAC-SHA256 key's environment variable
          timeout: 5                      # seconds per attempt
          retries: 3                      # attempts after the first (webhooks only)
          backoff: 1                      # seconds before the first retry, doubled each time
        pager:                            # a command: the alert JSON on its stdin
          command: [./scripts/page.sh, --team, ml]
          timeout: 10
      routes:
        - {channels: [ops]}                                # every finding (severity warn and up)
        - {channels: [pager], severity: error, owner: ml}  # errors of models owned by ml
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from assay.config._base import Section
from assay.config._team import Duration, parse_duration

Severity = Literal["warn", "error", "critical"]

#: Severities from the least to the most urgent.
SEVERITIES: tuple[Severity, ...] = ("warn", "error", "critical")

#: The cooldown when ``alerts.cooldown`` is not given.
DEFAULT_COOLDOWN = "1h"

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ChannelConfig(Section):
    """One channel: a webhook (``url:``) or a command (``command:``, an argv list)."""

    url: str | None = Field(default=None, min_length=1, description="the webhook's http(s) URL")
    command: list[str] | None = Field(
        default=None, min_length=1, description="argv of a command; the alert JSON is its stdin")
    format: Literal["json", "slack"] = Field(
        default="json", description="webhook body: the alert (json) or a Slack message (slack)")
    secret_env: str | None = Field(
        default=None, description="the environment variable holding the HMAC-SHA256 secret")
    timeout: float = Field(default=5.0, gt=0.0, le=300.0, description="seconds per attempt")
    retries: int = Field(default=3, ge=0, le=10, description="webhook attempts after the first")
    backoff: float = Field(default=1.0, ge=0.0, le=60.0,
                           description="seconds before the first retry, doubled at each retry")
    cooldown: Duration | None = Field(
        default=None, description="overrides alerts.cooldown for this channel (30m, 1h, 1d)")

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secret(cls, data: Any) -> Any:
        if isinstance(data, dict):
            inline = [k for k in ("secret", "token", "password") if k in data]
            if inline:
                raise ValueError(
                    f"{inline[0]}: a secret never goes in assay.yaml; put it in an environment "
                    "variable and name it: secret_env: ASSAY_ALERT_SECRET")
        return data

    @field_validator("url")
    @classmethod
    def _is_http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value

    @field_validator("secret_env")
    @classmethod
    def _is_env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError(f"{value!r} is not an environment variable's name; secret_env "
                             "names the variable (e.g. ASSAY_ALERT_SECRET), not the secret")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> ChannelConfig:
        if (self.url is None) == (self.command is None):
            raise ValueError("a channel takes url: (a webhook, e.g. url: "
                             "https://hooks.example.com/assay) or command: (an argv list), "
                             "exactly one")
        if self.command is not None:
            given = [k for k in ("format", "secret_env", "retries", "backoff")
                     if k in self.model_fields_set]
            if given:
                raise ValueError(f"{', '.join(given)} belong to a webhook (url:); a command "
                                 "channel takes command:, timeout and cooldown")
        return self

    @property
    def kind(self) -> Literal["webhook", "command"]:
        return "webhook" if self.url is not None else "command"


class RouteConfig(Section):
    """Which findings go to which channels: those of ``severity`` or above, of models owned by
    ``owner`` (a team member's id or a role; any owner when absent), of ``monitors`` (every
    monitor when absent)."""

    channels: list[str] = Field(min_length=1, description="channel names under alerts.channels")
    severity: Severity = Field(default="warn", description="the least severity routed")
    owner: str | None = Field(
        default=None, min_length=1,
        description="a team member's id or a role (data, ml, platform, admin)")
    monitors: list[str] | None = Field(default=None, description="only these monitors")

    def admits(self, severity: str) -> bool:
        """True when a finding of ``severity`` is at or above this route's."""
        return SEVERITIES.index(severity) >= SEVERITIES.index(self.severity)  # type: ignore[arg-type]


class AlertsConfig(Section):
    """Channels, the routes from findings to them, and the cooldown between repeats."""

    channels: dict[str, ChannelConfig] = Field(default_factory=dict)
    routes: list[RouteConfig] = Field(default_factory=list)
    cooldown: Duration = Field(default=DEFAULT_COOLDOWN,
                          description="the same finding is sent to a channel once per this")

    def cooldown_of(self, channel: str) -> float:
        """Seconds during which a finding already sent to ``channel`` is not sent again."""
        own = self.channels[channel].cooldown
        return parse_duration(own if own is not None else self.cooldown)
