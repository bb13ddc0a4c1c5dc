"""The ``deployments:`` section of assay.yaml: where a model alias is served and how a new version
reaches its traffic.

.. code-block:: yaml

    deployments:
      churn-prod:
        model: churn@production          # the alias it follows
        url: http://127.0.0.1:8080       # where `assay serve --deployment churn-prod` answers
        # or, instead of url: a local server assay starts, checks and stops itself
        # serve: {port: 8080, host: 127.0.0.1, workers: 1}
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

import ipaddress
import re
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

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


class ServeConfig(Section):
    """A local ``assay serve --deployment NAME`` process that assay manages: every command that
    drives a rollout starts it when it is not running (detached, so it outlives the command),
    adopts it when it is, and ``assay deployments stop NAME`` stops it."""

    port: int = Field(ge=1, le=65535, description="the port it listens on")
    host: str = Field(
        default="127.0.0.1",
        description="the address it binds (an IP address; 0.0.0.0: every interface)")
    workers: int = Field(default=1, ge=1, le=64, description="worker processes")
    max_concurrency: int | None = Field(
        default=None, ge=1, description="requests in flight at once (assay serve's default: 64)")
    log_dir: str | None = Field(
        default=None, min_length=1,
        description="prediction-log folder (default: .assay/predictions)")
    allow_pickle: bool = Field(
        default=False, description="serve pyfunc (pickle) models registered with the opt-in")

    @field_validator("host")
    @classmethod
    def _is_address(cls, value: str) -> str:
        if value == "localhost":
            return "127.0.0.1"
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address: bind 127.0.0.1 (this machine "
                             "only, the default) or 0.0.0.0 (every interface)") from None
        return value

    @property
    def url(self) -> str:
        """Where the server answers on this machine (a wildcard bind is reached on loopback)."""
        address = ipaddress.ip_address(self.host)
        if address.is_unspecified:
            address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
        host = f"[{address}]" if address.version == 6 else str(address)
        return f"http://{host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        """True when only this machine can reach the server."""
        return ipaddress.ip_address(self.host).is_loopback

    def arguments(self) -> list[str]:
        """The ``assay serve`` options this section stands for (after ``--deployment NAME``)."""
        args = ["--host", self.host, "--port", str(self.port), "--workers", str(self.workers)]
        if self.max_concurrency is not None:
            args += ["--max-concurrency", str(self.max_concurrency)]
        if self.log_dir is not None:
            args += ["--log-dir", self.log_dir]
        if self.allow_pickle:
            args.append("--allow-pickle")
        return args


#: Steps a strategy takes when ``steps`` is not given.
DEFAULT_STEPS: dict[str, tuple[Step, ...]] = {
    "direct": (),
    "canary": (Step(weight=0.1), Step(weight=0.5)),
    "shadow": (Step(weight=1.0, min_requests=500, min_seconds=60),),
    "blue_green": (Step(weight=1.0, min_requests=200, min_seconds=60),),
}


class DeploymentConfig(Section):
    """One deployment: the alias it follows, where it is served, how a new version rolls out.

    It is served either at ``url`` (a server someone else runs) or by ``serve`` (a local server
    assay manages); :attr:`url` is where it answers in both cases.
    """

    # ``served_at`` is written ``url:`` in assay.yaml (and only so): the name ``url`` is the
    # property every reader uses, whichever of the two says where the deployment is served.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)

    model: str = Field(description="MODEL@ALIAS the deployment follows, e.g. churn@production")
    served_at: str | None = Field(
        default=None, alias="url",
        description="where `assay serve --deployment NAME` answers (a server you run); "
                    "or give serve: instead")
    serve: ServeConfig | None = Field(
        default=None, description="a local `assay serve` process assay starts and stops; or "
                                  "give url: instead")
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

    @field_validator("served_at")
    @classmethod
    def _is_http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return None if value is None else value.rstrip("/")

    @model_validator(mode="after")
    def _served_once(self) -> DeploymentConfig:
        if self.served_at is not None and self.serve is not None:
            raise ValueError("a deployment has url: (a server you run) or serve: (a local "
                             "server assay manages), not both; remove one")
        if self.served_at is None and self.serve is None:
            raise ValueError("a deployment says where it is served: add url: "
                             "http://HOST:PORT (a server you run) or serve: {port: PORT} (a "
                             "local server assay manages)")
        return self

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
    def url(self) -> str:
        """Where the deployment's server answers (``url:``, or derived from ``serve:``)."""
        if self.serve is not None:
            return self.serve.url
        assert self.served_at is not None  # one of the two, by _served_once
        return self.served_at

    @property
    def is_managed(self) -> bool:
        """True when assay starts and stops the deployment's server (``serve:``)."""
        return self.serve is not None

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
