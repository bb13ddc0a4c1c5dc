"""The assay.yaml schema: the root model and the foundation's sections."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field, field_validator

from assay.config._base import Section
from assay.config._deployments import DeploymentConfig, check_name
from assay.config._pipeline import ExecutorConfig, ProfileConfig, StageConfig
from assay.config._team import Member, PromotionPolicy

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


class MonitoringConfig(Section):
    """How drift is watched for the version holding one alias (``monitoring: {ALIAS: ...}``).

    For now only ``external``: the alias is watched by a system outside assay (a dashboard
    URL, or text saying where). assay's own drift monitoring adds fields here.
    """

    external: str = Field(
        min_length=1, description="where drift for this alias is watched (URL or text)"
    )


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
        default_factory=dict, description="per alias (production, ...): where drift is watched"
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
