"""Shared pydantic base for every config section: unknown keys are errors."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A config section: frozen, and unknown keys are rejected (with a suggestion)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
