"""The ``team:`` and ``promotion:`` sections of assay.yaml.

.. code-block:: yaml

    team:
      - {id: ana@example.com, roles: [ml]}
      - {id: raj@example.com, roles: [platform]}
    promotion:
      production:
        from: [staging]             # only versions that hold `staging` may move to production
        gates: all                  # all | none | [gate names]
        approvals: [{count: 1, roles: [platform]}]
        author_may_approve: false
        approval_expiry: 7d         # s, m, h, d, w
        deployed: true              # serves users (the default for production only)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, Field

from assay.config._base import Section

Role = Literal["data", "ml", "platform", "admin"]

#: The roles a team member may hold.
ROLES: tuple[str, ...] = get_args(Role)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``'7d'``, ``'12h'``, ``'30m'``, ``'45s'`` or ``'2w'``.

    Raises:
        ValueError: not a duration.
    """
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration; use a number and a unit: 30m, 12h, 7d, 2w")
    return float(match[1]) * _UNIT_SECONDS[match[2]]


def _duration_text(text: str) -> str:
    parse_duration(text)
    return text


#: A config field holding a duration as written (``7d``, ``30m``), checked when read.
Duration = Annotated[str, AfterValidator(_duration_text)]


class Member(Section):
    """A team member: an identity (as ASSAY_USER / git email gives it) and roles."""

    id: str = Field(min_length=1)
    name: str | None = None
    roles: list[Role] = Field(default_factory=list)


class ApprovalRule(Section):
    """How many approvals a promotion needs, from which roles (any member when empty)."""

    count: int = Field(default=1, ge=0)
    roles: list[Role] = Field(default_factory=list)


class PromotionPolicy(Section):
    """The policy for moving a model version into one alias."""

    from_aliases: list[str] = Field(default_factory=list, alias="from")
    gates: Literal["all", "none"] | list[str] = "all"
    approvals: list[ApprovalRule] = Field(default_factory=list)
    author_may_approve: bool = False
    approval_expiry: Duration | None = Field(default=None, description="e.g. '7d', '12h'")
    deployed: bool | None = Field(
        default=None,
        description="the version holding this alias serves users (default: only for production)",
    )

    @property
    def expiry_seconds(self) -> float | None:
        """How long an approval counts, in seconds (None: forever)."""
        return None if self.approval_expiry is None else parse_duration(self.approval_expiry)

    def is_deployed(self, alias: str) -> bool:
        """True if the version holding ``alias`` (this policy's alias) serves users."""
        return self.deployed if self.deployed is not None else alias == "production"

    @property
    def approvals_required(self) -> int:
        """The total number of approvals the policy asks for."""
        return sum(rule.count for rule in self.approvals)


PRODUCTION_ALIASES = ("production", "prod", "live")
"""Aliases whose version serves users unless their ``promotion:`` policy says ``deployed: false``."""


def serves_users(promotion: Mapping[str, PromotionPolicy], alias: str) -> bool:
    """True if the version holding ``alias`` serves users (a production deployment).

    The policy's ``deployed:`` decides when it says; otherwise the production names
    (:data:`PRODUCTION_ALIASES`) do. The doctor and the delivery report both ask this.

    Args:
        promotion: the ``promotion:`` section (alias -> policy).
        alias: the alias a deployment follows.
    """
    policy = promotion.get(alias)
    if policy is not None and policy.deployed is not None:
        return policy.deployed
    return alias in PRODUCTION_ALIASES
