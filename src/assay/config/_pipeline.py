"""The ``stages:`` and ``profiles:`` sections of assay.yaml."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator

from assay.config._base import Section

MAX_RETRIES = 10  # a stage that fails more often than this is broken, not flaky

_MEMORY = re.compile(r"^\s*\d+(?:\.\d+)?\s*(?:[KMGT]i?B?|B)?\s*$", re.IGNORECASE)


class Resources(Section):
    """What a stage needs from an executor."""

    cpus: float = Field(default=1, gt=0, allow_inf_nan=False)
    memory: str | None = Field(default=None, description="e.g. '2GB', '512MiB'")
    gpus: float = Field(default=0, ge=0, allow_inf_nan=False)

    @field_validator("memory")
    @classmethod
    def _is_size(cls, value: str | None) -> str | None:
        if value is not None and not _MEMORY.match(value):
            raise ValueError("not an amount of memory; use a number and a unit: 512MB, 2GB, "
                             "4GiB")
        return value


class StageConfig(Section):
    """One node of the pipeline: a shell ``cmd`` or a built-in ``kind``.

    Built-in kinds take their own options as extra keys on the stage; the kind validates them.
    """

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    cmd: str | list[str] | None = None
    kind: str | None = None
    deps: list[str] = Field(default_factory=list)
    params: list[str | dict[str, list[str]]] = Field(default_factory=list)
    outs: list[str] = Field(default_factory=list)
    metrics: list[str] = Field(default_factory=list)
    needs: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    timeout: float | None = Field(default=None, gt=0, allow_inf_nan=False,
                                  description="seconds")
    retries: int = Field(default=0, ge=0, le=MAX_RETRIES)
    resources: Resources = Field(default_factory=Resources)
    owner: str | None = None
    profiles: list[str] | None = Field(
        default=None, description="profiles that run this stage (default: every profile)"
    )
    matrix: dict[str, list[Any]] | None = None
    description: str | None = None

    @field_validator("params", mode="before")
    @classmethod
    def _params_are_names(cls, value: Any) -> Any:
        if isinstance(value, dict) and not all(isinstance(v, list) for v in value.values()):
            raise ValueError(
                "params names keys of params.yaml (a list such as [train.lr, seed]) or of "
                "another file ({other.yaml: [key]}), not values; to pass an estimator's "
                "arguments in kind: train, use hyperparams: {...}"
            )
        return value

    @field_validator("matrix")
    @classmethod
    def _matrix_not_empty(cls, value: dict[str, list[Any]] | None) -> dict[str, list[Any]] | None:
        if value is not None:
            for key, values in value.items():
                if not values:
                    raise ValueError(f"matrix '{key}' has no values")
        return value


class ProfileConfig(Section):
    """A named way to run the pipeline, e.g. ``ci``: a subset of stages and param overrides."""

    description: str | None = None
    params: dict[str, Any] = Field(
        default_factory=dict, description="params.yaml overrides, dotted keys allowed"
    )
    env: dict[str, str] = Field(default_factory=dict)


class ExecutorConfig(Section):
    """Where stages run."""

    kind: Literal["local"] = Field(
        default="local", description="a local process pool (the only executor so far)"
    )
    jobs: int | None = Field(default=None, ge=1, description="parallel jobs (default: cores)")
