"""The assay.yaml schema: the root model and the foundation's sections."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from assay.config._alerts import AlertsConfig
from assay.config._base import Section
from assay.config._deployments import DeploymentConfig, check_name
from assay.config._pipeline import ExecutorConfig, ProfileConfig, StageConfig
from assay.config._team import Duration, Member, PromotionPolicy, parse_duration
from assay.config._triggers import TriggerConfig

LinkType = Literal["reflink", "hardlink", "symlink", "copy"]


class CacheConfig(Section):
    """The local content-addressed cache."""

    dir: str = ".assay/cache"
    type: list[LinkType] = Field(
        default_factory=lambda: list[LinkType](["reflink", "copy"]),
        description="how workspace files link to the cache, in order of preference",
    )
    gc_grace_minutes: float = Field(
        default=60.0, ge=0, allow_inf_nan=False,
        description="assay gc keeps unreferenced objects and temp files younger than this",
    )

    @field_validator("type", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class RemoteConfig(Section):
    """A remote object store: any fsspec URL, with storage options."""

    url: str
    options: dict[str, Any] = Field(default_factory=dict)
    jobs: int = Field(default=8, ge=1, le=128, description="parallel transfers")


class ContractRef(Section):
    """A contract registered in assay.yaml."""

    path: str | None = Field(default=None, description="contracts/NAME.yaml")
    data: str | None = Field(default=None, description="dataset name or path it validates")
    reference: str | None = Field(default=None, description="reference dataset for drift checks")
    pandera: str | None = Field(default=None, description="module:schema of a Pandera schema")


class DatasetConfig(Section):
    """A named dataset path (data versioned with ``assay data add``)."""

    path: str
    description: str | None = None


class MonitorWindow(Section):
    """Which rows of the prediction log one window takes: the newest ``rows``, or those of the
    last ``duration`` (``1h``, ``30m``, ``7d``)."""

    rows: int | None = Field(default=None, ge=1, description="the newest N rows")
    duration: Duration | None = Field(default=None, description="the rows of the last 1h, 30m, 7d")

    @model_validator(mode="after")
    def _one_bound(self) -> MonitorWindow:
        if (self.rows is None) == (self.duration is None):
            raise ValueError("a window takes one of rows (e.g. {rows: 10000}) or duration (e.g. "
                             "{duration: 1h})")
        return self

    @property
    def seconds(self) -> float | None:
        return None if self.duration is None else parse_duration(self.duration)


#: The rows a window takes when ``window:`` is not given.
DEFAULT_WINDOW_ROWS = 10_000
#: How often ``assay watch`` computes a monitor's window when ``every:`` is not given.
DEFAULT_MONITOR_EVERY = "15m"


class MonitoringConfig(Section):
    """One entry of ``monitoring:``: either a place outside assay where drift is watched
    (``external:``, keyed by the alias it watches) or assay's own monitor of a deployment's
    prediction log (``deployment:``, keyed by the monitor's name; see docs/monitoring.md).

    .. code-block:: yaml

        monitoring:
          production: {external: https://grafana.example.com/d/churn}
          churn-drift:
            deployment: churn-prod        # its prediction log is compared with ...
            reference: churn@v3           # ... this dataset version (default: the training
                                          # data of the version the deployment serves)
            window: {rows: 5000}          # or {duration: 1h}; default the newest 10,000 rows
            columns: [tenure, plan]       # default: every input column, and the prediction
            alpha: 0.05
            correction: bh                # bh | bonferroni | none
            contract: churn               # row checks on each window (default: the contract
                                          # whose data: is the reference dataset; false: none)
    """

    external: str | None = Field(
        default=None, min_length=1,
        description="where drift for this alias is watched (URL or text)")
    deployment: str | None = Field(
        default=None, min_length=1, description="the deployment whose prediction log is watched")
    dataset: str | None = Field(
        default=None, min_length=1, description="a dataset under datasets: whose every new "
        "version is compared with the reference (default: its first version)")
    reference: str | None = Field(
        default=None, min_length=1, description="dataset name or NAME@VERSION to compare with "
        "(default: the training data of the version the deployment serves)")
    window: MonitorWindow | None = Field(
        default=None, description="{rows: N} or {duration: 1h}; default the newest 10,000 rows")
    columns: list[str] | None = Field(
        default=None, description="input columns to watch (default: every one, and the prediction)")
    alpha: float = Field(default=0.05, gt=0.0, lt=0.5, description="false-alarm rate of a "
                         "window's verdict when nothing drifted")
    correction: Literal["bh", "bonferroni", "none"] = Field(
        default="bh", description="how the columns' tests are combined")
    log_dir: str | None = Field(
        default=None, description="the server's prediction-log folder (default .assay/predictions)")
    every: Duration | None = Field(
        default=None, description="how often assay watch computes a window (default 15m)")
    min_accuracy: float | None = Field(
        default=None, gt=0.0, lt=1.0, description="a classifier's accuracy bound: a window "
        "whose accuracy is shown below it at alpha raises a quality finding (realised from "
        "30+ feedback labels, else estimated without labels)")
    contract: str | Literal[False] | None = Field(
        default=None, description="the contract whose row checks (types, nulls, ranges, allowed "
        "values, regex) each window must pass; default: the one whose data: is the reference "
        "dataset, if any; false: none")

    @model_validator(mode="after")
    def _one_kind(self) -> MonitoringConfig:
        kinds = [k for k in ("external", "deployment", "dataset") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a monitoring entry takes one of external: (where drift is watched "
                             "outside assay), deployment: (the deployment assay monitors) or "
                             "dataset: (the dataset whose new versions assay monitors)")
        if self.dataset is not None:
            own = [k for k in ("window", "log_dir", "min_accuracy") if getattr(self, k) is not None]
            if own:
                raise ValueError(f"{', '.join(own)} belong to a deployment monitor; a dataset "
                                 "monitor's window is a whole dataset version")
        if self.external is not None:
            own = [k for k in ("reference", "window", "columns", "log_dir", "every",
                                "contract", "min_accuracy")
                   if getattr(self, k) is not None]
            if own:
                raise ValueError(f"{', '.join(own)} belong to a deployment monitor; an external "
                                 "entry only says where drift is watched")
        return self

    @property
    def window_or_default(self) -> MonitorWindow:
        return self.window or MonitorWindow(rows=DEFAULT_WINDOW_ROWS)

    @property
    def watches_data(self) -> bool:
        """True for assay's own monitors (a deployment's traffic, a dataset's versions), False
        for an ``external:`` entry."""
        return self.deployment is not None or self.dataset is not None

    @property
    def every_seconds(self) -> float:
        """Seconds between two windows ``assay watch`` computes."""
        return parse_duration(self.every or DEFAULT_MONITOR_EVERY)


class AssayConfig(Section):
    """The root of assay.yaml."""

    project: str | None = None
    store: str | None = Field(default=None, description="SQLAlchemy URL of the metadata store")
    cache: CacheConfig = Field(default_factory=CacheConfig)
    remotes: dict[str, RemoteConfig] = Field(default_factory=dict)
    default_remote: str | None = None
    datasets: dict[str, DatasetConfig] = Field(default_factory=dict)
    params: list[str] = Field(default_factory=lambda: ["params.yaml"])
    contracts: dict[str, ContractRef] = Field(default_factory=dict)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    stages: dict[str, StageConfig] = Field(default_factory=dict)
    profiles: dict[str, ProfileConfig] = Field(default_factory=dict)
    team: list[Member] = Field(default_factory=list)
    promotion: dict[str, PromotionPolicy] = Field(default_factory=dict)
    models: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per registered model: intended_use, limitations, ..."
    )
    deployments: dict[str, DeploymentConfig] = Field(
        default_factory=dict, description="per deployment: the alias it serves, strategy, guards"
    )
    monitoring: dict[str, MonitoringConfig] = Field(
        default_factory=dict, description="per alias (production, ...): where drift is watched "
        "outside assay; or per monitor name: a deployment assay monitors"
    )
    alerts: AlertsConfig = Field(
        default_factory=AlertsConfig, description="channels, routes and cooldown of the "
        "alerts a monitor's findings raise (see docs/monitoring.md)"
    )
    triggers: dict[str, TriggerConfig] = Field(
        default_factory=dict, description="per trigger: what starts a pipeline run without a "
        "person (a monitor's finding, a new dataset version, a schedule) and where its model "
        "is rolled out (see docs/triggers.md)"
    )

    @field_validator("remotes", mode="before")
    @classmethod
    def _url_shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: ({"url": v} if isinstance(v, str) else v) for k, v in value.items()}
        return value

    @field_validator("deployments")
    @classmethod
    def _deployment_names(cls, value: dict[str, DeploymentConfig]) -> dict[str, DeploymentConfig]:
        for name in value:
            check_name(name)
        return value

    @field_validator("triggers")
    @classmethod
    def _trigger_names(cls, value: dict[str, TriggerConfig]) -> dict[str, TriggerConfig]:
        for name in value:
            check_name(name)
        return value

    def watched_aliases(self) -> set[str]:
        """The aliases whose drift is watched: an ``external:`` entry names its alias, a
        deployment monitor watches the alias its deployment follows."""
        out = set()
        for key, entry in self.monitoring.items():
            if entry.external is not None:
                out.add(key)
            elif entry.deployment in self.deployments:
                out.add(self.deployments[entry.deployment].alias)
        return out

    @field_validator("datasets", mode="before")
    @classmethod
    def _path_shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: ({"path": v} if isinstance(v, str) else v) for k, v in value.items()}
        return value


def _allow_shorthands(schema: dict[str, Any]) -> None:
    """Admit the short forms the loader accepts (``remotes: {origin: URL}``, ``datasets: {x:
    PATH}``, ``cache: {type: copy}``), so editors do not flag documented configurations."""
    props = schema["properties"]
    for key in ("remotes", "datasets"):
        ref = props[key]["additionalProperties"]
        props[key]["additionalProperties"] = {"anyOf": [{"type": "string"}, ref]}
    link = schema["$defs"]["CacheConfig"]["properties"]["type"]
    items = link.pop("items")
    link.pop("type")
    link["anyOf"] = [items, {"type": "array", "items": items}]


def json_schema() -> str:
    """The JSON Schema of assay.yaml, for editor completion."""
    schema = AssayConfig.model_json_schema(by_alias=True)
    _allow_shorthands(schema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "assay.yaml"
    return json.dumps(schema, indent=2, sort_keys=True)
