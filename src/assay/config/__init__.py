"""Configuration: the assay.yaml schema (pydantic), loading with line-aware errors, JSON Schema.

>>> from assay.config import Project
>>> project = Project.load()          # finds assay.yaml upwards from the working directory
>>> project.config.stages             # parsed, validated sections
"""

from __future__ import annotations

import json
from typing import Any

from assay._project_files import CONFIG_FILE
from assay.config._base import Section
from assay.config._errors import config_error_from, suggest, valid_keys
from assay.config._kinds import KindPlan, PlanContext, StageContext, StageKind
from assay.config._pipeline import ExecutorConfig, ProfileConfig, Resources, StageConfig
from assay.config._project import Project, find_root, load_model
from assay.config._schema import (
    AssayConfig,
    CacheConfig,
    ContractRef,
    DatasetConfig,
    LinkType,
    MonitoringConfig,
    RemoteConfig,
)
from assay.config._team import ApprovalRule, Member, PromotionPolicy, Role
from assay.config._yaml import Loc, parse_yaml, read_yaml


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


__all__ = [
    "CONFIG_FILE",
    "ApprovalRule",
    "AssayConfig",
    "CacheConfig",
    "ContractRef",
    "DatasetConfig",
    "ExecutorConfig",
    "KindPlan",
    "LinkType",
    "Loc",
    "Member",
    "MonitoringConfig",
    "PlanContext",
    "ProfileConfig",
    "Project",
    "PromotionPolicy",
    "RemoteConfig",
    "Resources",
    "Role",
    "Section",
    "StageConfig",
    "StageContext",
    "StageKind",
    "config_error_from",
    "find_root",
    "json_schema",
    "load_model",
    "parse_yaml",
    "read_yaml",
    "suggest",
    "valid_keys",
]
