"""The options of an evaluation (the ``kind: evaluate`` stage's keys), validated by pydantic."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from assay.evaluation._metrics import ALL_METRICS


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


class GateOptions(_Options):
    """One gate. Exactly one of: ``min``/``max`` on ``metric``, ``beats_champion``, ``max_regression``.

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
    beats_champion: BeatsChampion | None = None
    max_regression: MaxRegression | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> GateOptions:
        kinds = [
            self.metric is not None,
            self.beats_champion is not None,
            self.max_regression is not None,
        ]
        if sum(kinds) != 1:
            raise ValueError(
                "a gate needs exactly one of: metric (with min/max), beats_champion, max_regression"
            )
        if self.metric is not None and self.min is None and self.max is None:
            raise ValueError(f"gate on {self.metric!r} needs a min or a max")
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
    slices: dict[str, str] = Field(default_factory=dict)
    fairness: FairnessOptions | None = None
    gates: list[GateOptions] = Field(default_factory=list)
    select: SelectOptions = Field(default_factory=SelectOptions)
    bootstrap: BootstrapOptions = Field(default_factory=BootstrapOptions)
    compare: list[Metric] | None = Field(
        default=None, description="metrics compared with the champion (default: all comparable)"
    )
    allow_pickle: bool = False
    plots: bool = Field(default=True, description="plots in report.html (false: a lighter "
                        "report, say ${params.reports.plots} set false by a CI profile)")

    @model_validator(mode="before")
    @classmethod
    def _candidates_as_list(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("candidates"), str):
            data = {**data, "candidates": [data["candidates"]]}
        return data
