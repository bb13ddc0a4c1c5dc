"""The options of an evaluation (the ``kind: evaluate`` stage's keys), validated by pydantic."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from assay.metrics import ALL_METRICS, check_pos_label


def _known_metric(name: str) -> str:
    """A metric some evaluation computes; typos are caught when assay.yaml is read (with the
    line), not after training. Whether it fits the task is checked once the task is known."""
    if name not in ALL_METRICS:
        from assay.config import suggest

        raise ValueError(f"unknown metric {name!r}{suggest(name, list(ALL_METRICS))}")
    return name


Metric = Annotated[str, AfterValidator(_known_metric)]


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BeatsChampion(_Options):
    """Pass only when the CI's lower bound of the improvement over the champion clears min_delta."""

    metric: Metric
    min_delta: float = 0.0
    confidence: float = Field(default=0.95, gt=0, lt=1)


class MaxRegression(_Options):
    """Pass unless the candidate is worse than the champion by more than ``max_delta``."""

    metric: Metric
    max_delta: float = Field(default=0.0, ge=0)


class NonInferiority(_Options):
    """Pass only when the CI's lower bound of (candidate - champion) is above ``-margin``: the
    candidate is at most ``margin`` worse, shown at the stated confidence (a truly worse one
    passes at most (1 - confidence) / 2 of the time)."""

    metric: Metric
    margin: float = Field(default=0.0, ge=0)
    confidence: float = Field(default=0.95, gt=0, lt=1)


class BeatsBaseline(_Options):
    """Pass only when the candidate beats the constant baseline (majority class, mean) by more
    than ``margin`` on ``metric``."""

    metric: Metric
    margin: float = Field(default=0.0, ge=0)


class GateBounds(_Options):
    """A gate's bounds under one profile (``profiles: {ci: {max: 0.2}}``): each replaces the
    gate's own bound of that name when ``assay run --profile`` names the profile."""

    min: float | None = None
    max: float | None = None
    margin: float | None = Field(default=None, ge=0)
    min_delta: float | None = None
    max_delta: float | None = Field(default=None, ge=0)


_BOUND_OF = {  # the profile bound -> the gate keys it can replace
    "min": ("metric",),
    "max": ("metric",),
    "margin": ("beats_baseline", "non_inferiority"),
    "min_delta": ("beats_champion",),
    "max_delta": ("max_regression",),
}


class GateOptions(_Options):
    """One gate. Exactly one of: ``min``/``max`` on ``metric``, ``beats_baseline``,
    ``beats_champion``, ``non_inferiority``, ``max_regression``.

    Fairness, latency and size bounds are ``min``/``max`` on their metrics
    (``demographic_parity_difference``, ``equalized_odds_difference``, ``latency_ms_per_row``,
    ``model_size_mb``).
    """

    name: str | None = None
    metric: Metric | None = None
    min: float | None = None
    max: float | None = None
    dataset: str | None = Field(default=None, description="default: the first dataset")
    slice: str = "all"
    beats_baseline: BeatsBaseline | None = None
    beats_champion: BeatsChampion | None = None
    non_inferiority: NonInferiority | None = None
    max_regression: MaxRegression | None = None
    profiles: dict[str, GateBounds] = Field(
        default_factory=dict,
        description="bounds that replace this gate's own under a profile (assay run --profile)",
    )

    @property
    def kind(self) -> str:
        """The gate's kind: ``metric``, ``beats_baseline``, ``beats_champion``, ..."""
        for key in ("metric", "beats_baseline", "beats_champion", "non_inferiority"):
            if getattr(self, key) is not None:
                return key
        return "max_regression"

    def for_profile(self, profile: str | None) -> GateOptions:
        """This gate with the bounds ``profile`` sets, and no ``profiles``."""
        bounds = self.profiles.get(profile or "")
        update: dict[str, Any] = {"profiles": {}}
        if bounds is not None:
            for key, value in bounds.model_dump(exclude_none=True).items():
                if self.kind == "metric":
                    update[key] = value
                else:
                    spec = getattr(self, self.kind)
                    update[self.kind] = spec.model_copy(update={key: value})
        return self.model_copy(update=update)

    @property
    def champion_comparison(self) -> BeatsChampion | NonInferiority | MaxRegression | None:
        """The comparison with the champion this gate makes, if it makes one."""
        return self.beats_champion or self.non_inferiority or self.max_regression

    @model_validator(mode="after")
    def _one_kind(self) -> GateOptions:
        kinds = [
            self.metric is not None,
            self.beats_baseline is not None,
            self.beats_champion is not None,
            self.non_inferiority is not None,
            self.max_regression is not None,
        ]
        if sum(kinds) != 1:
            raise ValueError(
                "a gate needs exactly one of: metric (with min/max), beats_baseline, "
                "beats_champion, non_inferiority, max_regression"
            )
        if self.metric is not None and self.min is None and self.max is None:
            raise ValueError(f"gate on {self.metric!r} needs a min or a max")
        for profile, bounds in self.profiles.items():
            for key in bounds.model_dump(exclude_none=True):
                if self.kind not in _BOUND_OF[key]:
                    raise ValueError(
                        f"profiles.{profile}.{key} does not apply to a {self.kind} gate "
                        f"(it sets the bound of {' or '.join(_BOUND_OF[key])})"
                    )
                if key in ("min", "max") and getattr(self, key) is None:
                    raise ValueError(
                        f"profiles.{profile}.{key}: the gate has no {key} to replace; give it one"
                    )
        return self


class SelectOptions(_Options):
    """How the best passing candidate is chosen."""

    metric: Metric | None = None
    dataset: str | None = None
    slice: str = "all"
    mode: Literal["max", "min"] | None = None


class BootstrapOptions(_Options):
    """The paired bootstrap against the champion."""

    resamples: int = Field(default=1000, ge=10, le=100_000)
    confidence: float = Field(default=0.95, gt=0, lt=1)
    seed: int = 0


class FairnessOptions(_Options):
    """Per-group metrics for a sensitive column, plus parity differences."""

    column: str
    metrics: list[Metric] = Field(default_factory=lambda: ["accuracy", "recall", "precision"])


class EvaluateOptions(_Options):
    """Options of ``kind: evaluate``."""

    candidates: list[str] = Field(min_length=1)
    champion: str | None = None
    datasets: dict[str, str] = Field(min_length=1)
    target: str
    threshold: float = Field(default=0.5, ge=0, le=1)
    pos_label: Annotated[str | int | bool | None, BeforeValidator(check_pos_label)] = Field(
        default=None,
        description="the positive class of a binary target (default: the class that sorts last)",
    )
    slices: dict[str, str] = Field(default_factory=dict)
    fairness: FairnessOptions | None = None
    gates: list[GateOptions] = Field(default_factory=list)
    select: SelectOptions = Field(default_factory=SelectOptions)
    bootstrap: BootstrapOptions = Field(default_factory=BootstrapOptions)
    multiplicity: Literal["holm", "none"] = Field(
        default="holm",
        description="adjust interval gates against the champion for the number of challengers",
    )
    compare: list[Metric] | None = Field(
        default=None, description="metrics compared with the champion (default: all comparable)"
    )
    allow_pickle: bool = False
    plots: bool = Field(default=True, description="plots in report.html (false: a lighter "
                        "report, say ${params.reports.plots} set false by a CI profile)")

    def for_profile(self, profile: str | None) -> EvaluateOptions:
        """The options a run under ``profile`` uses (None: the plain run): each gate with the
        bounds its ``profiles`` entry for that profile sets."""
        return self.model_copy(update={"gates": [g.for_profile(profile) for g in self.gates]})

    def gate_profiles(self) -> set[str]:
        """Every profile some gate sets bounds for."""
        return {name for gate in self.gates for name in gate.profiles}

    @model_validator(mode="before")
    @classmethod
    def _candidates_as_list(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("candidates"), str):
            data = {**data, "candidates": [data["candidates"]]}
        return data
