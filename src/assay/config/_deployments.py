"""The ``deployments:`` section of assay.yaml: where a model alias is served and how a new version
reaches its traffic.

.. code-block:: yaml

    deployments:
      churn-prod:
        model: churn@production          # the alias it follows
        url: http://127.0.0.1:8080       # where `assay serve --deployment churn-prod` answers
        strategy: canary                 # direct | canary | shadow | blue_green
        steps:                           # the candidate's share of traffic, step by step
          - {weight: 0.1, min_requests: 200, min_seconds: 30}
          - {weight: 0.5, min_requests: 500, min_seconds: 30}
        sticky: {header: X-Customer-Id}  # or {column: customer_id}; absent: random per request
        guards:
          alpha: 0.05                    # chance an identical candidate is rolled back
          min_requests: 200              # no guard decides on fewer candidate requests
          error_rate: {max: 0.01}
          p99_ms: {max: 250}
          prediction_shift: {max: 0.1}
          live_quality: {max_drop: 0.02, min_labels: 200}   # from POST /feedback labels
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from assay.config._base import Section

Strategy = Literal["direct", "canary", "shadow", "blue_green"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_MODEL_ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*@[A-Za-z][A-Za-z0-9_-]*$")


class Step(Section):
    """One step of a rollout: the candidate's share of traffic (mirrored traffic in shadow mode)
    and how long it holds before the guards may let it move on."""

    weight: float = Field(gt=0.0, le=1.0, description="the candidate's share of requests")
    min_requests: int = Field(default=200, ge=1, description="candidate requests, at least")
    min_seconds: float = Field(default=30.0, ge=0.0, description="time at this step, at least")


class ErrorRateGuard(Section):
    """Roll back when the share of the candidate's answers that fail (its model refused or
    failed the request, or timed out) is above ``max``."""

    max: float = Field(ge=0.0, lt=1.0)


class LatencyGuard(Section):
    """Roll back when the candidate's 99th-percentile latency is above ``max`` milliseconds."""

    max: float = Field(gt=0.0)


class ShiftGuard(Section):
    """Roll back when the share of any predicted class (or value bucket) differs from the
    incumbent's by more than ``max`` (on the same traffic in shadow mode)."""

    max: float = Field(default=0.1, gt=0.0, lt=1.0)


class LiveQualityGuard(Section):
    """Roll back when the candidate's live quality, scored on the labels clients send to the
    server's ``POST /feedback``, is below the incumbent's by more than ``max_drop``: accuracy
    points for a classifier; for a regressor, its mean absolute error above the incumbent's by
    more than ``max_drop`` times the incumbent's. Labels arrive late: the step holds until
    both variants have ``min_labels`` scored predictions."""

    max_drop: float = Field(default=0.02, ge=0.0, lt=1.0)
    min_labels: int = Field(default=200, ge=1, description="labelled predictions per variant")


class GuardsConfig(Section):
    """The guards checked at every step, from the server's own measurements."""

    alpha: float = Field(
        default=0.05, gt=0.0, lt=0.5,
        description="the chance a candidate that meets every bound is rolled back, per rollout")
    min_requests: int = Field(
        default=200, ge=1, description="no guard decides on fewer candidate requests")
    error_rate: ErrorRateGuard | None = None
    p99_ms: LatencyGuard | None = None
    prediction_shift: ShiftGuard | None = None
    live_quality: LiveQualityGuard | None = None

    @property
    def active(self) -> list[str]:
        """The guards configured, in the order they are checked."""
        return [name for name in ("error_rate", "p99_ms", "prediction_shift", "live_quality")
                if getattr(self, name) is not None]


class Sticky(Section):
    """What keeps one caller on one variant: a request header or an input column."""

    header: str | None = Field(default=None, min_length=1)
    column: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_key(self) -> Sticky:
        if (self.header is None) == (self.column is None):
            raise ValueError("sticky takes one of header or column")
        return self


#: Steps a strategy takes when ``steps`` is not given.
DEFAULT_STEPS: dict[str, tuple[Step, ...]] = {
    "direct": (),
    "canary": (Step(weight=0.1), Step(weight=0.5)),
    "shadow": (Step(weight=1.0, min_requests=500, min_seconds=60),),
    "blue_green": (Step(weight=1.0, min_requests=200, min_seconds=60),),
}


class DeploymentConfig(Section):
    """One deployment: the alias it follows, where it is served, how a new version rolls out."""

    model: str = Field(description="MODEL@ALIAS the deployment follows, e.g. churn@production")
    url: str = Field(
        default="http://127.0.0.1:8080",
        description="where `assay serve --deployment NAME` answers")
    strategy: Strategy = "canary"
    steps: tuple[Step, ...] | None = Field(
        default=None, description="the candidate's share of traffic per step")
    sticky: Sticky | None = None
    guards: GuardsConfig = Field(default_factory=GuardsConfig)

    @field_validator("model")
    @classmethod
    def _is_alias(cls, value: str) -> str:
        if not _MODEL_ALIAS.match(value):
            raise ValueError(f"{value!r} is not MODEL@ALIAS (e.g. churn@production): a "
                             "deployment follows an alias")
        return value

    @field_validator("url")
    @classmethod
    def _is_http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _steps_fit(self) -> DeploymentConfig:
        steps = self.steps
        if steps is None:
            return self
        if self.strategy == "direct" and steps:
            raise ValueError("a direct deployment has no steps (it swaps at once); use "
                             "strategy: canary for steps")
        if self.strategy == "canary":
            weights = [s.weight for s in steps]
            if weights != sorted(weights) or len(set(weights)) != len(weights):
                raise ValueError("canary steps must raise the weight at every step")
            if weights and weights[-1] >= 1.0:
                raise ValueError("the last canary step is below 1.0: after it, the candidate "
                                 "takes all traffic")
        if self.strategy in ("shadow", "blue_green") and len(steps) != 1:
            raise ValueError(f"a {self.strategy} deployment has exactly one step (its "
                             "observation window)")
        if self.strategy == "blue_green" and steps and steps[0].weight != 1.0:
            raise ValueError("a blue_green step has weight 1.0 (traffic flips at once)")
        return self

    @property
    def model_name(self) -> str:
        return self.model.split("@", 1)[0]

    @property
    def alias(self) -> str:
        return self.model.split("@", 1)[1]

    @property
    def plan(self) -> tuple[Step, ...]:
        """The steps this deployment's rollouts take."""
        return self.steps if self.steps is not None else DEFAULT_STEPS[self.strategy]


def check_name(name: str) -> str:
    """``name`` if it can name a deployment.

    Raises:
        ValueError: it cannot.
    """
    if not _NAME.match(name):
        raise ValueError(f"{name!r} cannot name a deployment: use letters, digits, '.', '_' "
                         "and '-' (at most 63)")
    return name
