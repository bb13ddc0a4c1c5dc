"""The ``team:`` and ``promotion:`` sections of assay.yaml."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from assay.config._base import Section

Role = Literal["data", "ml", "platform", "admin"]


class Member(Section):
    """A team member: an identity (as ASSAY_USER / git email gives it) and roles."""

    id: str
    name: str | None = None
    roles: list[Role] = Field(default_factory=list)


class ApprovalRule(Section):
    """How many approvals a promotion needs, from which roles."""

    count: int = Field(default=1, ge=0)
    roles: list[Role] = Field(default_factory=list)


class PromotionPolicy(Section):
    """The policy for moving a model version into one alias."""

    from_aliases: list[str] = Field(default_factory=list, alias="from")
    gates: Literal["all", "none"] | list[str] = "all"
    approvals: list[ApprovalRule] = Field(default_factory=list)
    author_may_approve: bool = False
    approval_expiry: str | None = Field(default=None, description="e.g. '7d', '12h'")
