"""The ``triggers:`` section of assay.yaml: what starts a pipeline run without a person.

.. code-block:: yaml

    triggers:
      retrain-on-drift:
        monitor: churn-drift          # a finding of this monitor (drift, schema mismatch)...
        severity: error               # ...of this severity or above (warn | error | critical)
        profile: default              # the pipeline profile the run uses
        deploy: churn-prod            # roll the version the run registers out to this deployment
        cooldown: 1d                  # at most one firing per 1d (monitor triggers: default 1d)
      new-data:
        data: churn                   # a new version of this dataset (assay data add)
      weekly:
        schedule: "0 3 * * 1"         # cron, in UTC: Mondays at 03:00
        force: true                   # rerun every stage even when nothing changed

``assay watch`` evaluates them; ``assay triggers list`` shows them; ``assay triggers fire NAME
--dry-run`` says what one would do.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from assay.config._alerts import Severity
from assay.config._base import Section
from assay.config._team import Duration, parse_duration

#: A monitor trigger fires at most once per this when ``cooldown:`` is not given: a drift that
#: persists raises a finding in every window, and one retraining answers them all.
DEFAULT_MONITOR_COOLDOWN = "1d"

#: What each kind of trigger records as the run's ``trigger`` (see ``assay run --trigger``).
RUN_LABELS: dict[str, Literal["drift", "data", "schedule"]] = {
    "monitor": "drift", "data": "data", "schedule": "schedule"}


def check_cron(text: str) -> str:
    """``text`` if it is a five-field cron expression croniter accepts.

    Raises:
        ValueError: it is not.
    """
    from croniter import croniter

    fields = text.split()
    if len(fields) != 5 or not croniter.is_valid(text):
        raise ValueError(
            f"{text!r} is not a cron expression; give five fields, minute hour day month "
            "weekday, in UTC: '0 3 * * 1' (Mondays at 03:00), '*/15 * * * *' (every 15 minutes)")
    return text


class TriggerConfig(Section):
    """One trigger: its cause (exactly one of ``monitor``, ``data``, ``schedule``), the run it
    starts, and where the version that run registers is rolled out."""

    monitor: str | None = Field(
        default=None, min_length=1,
        description="a monitor under monitoring: whose findings fire the trigger")
    severity: Severity = Field(
        default="warn", description="the least severity of a monitor's finding that fires")
    data: str | None = Field(
        default=None, min_length=1,
        description="a dataset under datasets: whose new versions fire the trigger")
    schedule: str | None = Field(
        default=None, min_length=1, description="a cron expression in UTC ('0 3 * * 1')")
    profile: str = Field(default="default", min_length=1,
                         description="the pipeline profile the run uses")
    force: bool = Field(default=False,
                        description="rerun every stage even when nothing changed")
    deploy: str | None = Field(
        default=None, min_length=1,
        description="a deployment the version the run registers is rolled out to (its "
                    "alias's promotion policy applies)")
    cooldown: Duration | None = Field(
        default=None,
        description="at most one firing per this (default: 1d for monitor triggers, none "
                    "for the others)")

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value is None else check_cron(value)

    @model_validator(mode="after")
    def _one_cause(self) -> TriggerConfig:
        given = [k for k in ("monitor", "data", "schedule") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "a trigger takes exactly one cause: monitor: NAME (a monitor's findings), "
                "data: NAME (a dataset's new versions) or schedule: CRON ('0 3 * * 1')"
                + (f"; got {', '.join(given)}" if given else ""))
        if "severity" in self.model_fields_set and self.monitor is None:
            raise ValueError("severity: belongs to a monitor trigger (monitor: NAME)")
        return self

    @property
    def kind(self) -> Literal["monitor", "data", "schedule"]:
        if self.monitor is not None:
            return "monitor"
        return "data" if self.data is not None else "schedule"

    @property
    def run_label(self) -> Literal["drift", "data", "schedule"]:
        """What the runs it starts record as their ``trigger``."""
        return RUN_LABELS[self.kind]

    @property
    def source(self) -> str:
        """The cause as written: the monitor, the dataset or the cron expression."""
        return str(self.monitor or self.data or self.schedule)

    @property
    def cooldown_seconds(self) -> float:
        """Seconds after a firing during which the trigger does not fire again (0: none)."""
        if self.cooldown is not None:
            return parse_duration(self.cooldown)
        return parse_duration(DEFAULT_MONITOR_COOLDOWN) if self.kind == "monitor" else 0.0
