"""Configuration: the assay.yaml schema (pydantic), loading with line-aware errors, JSON Schema.

>>> from assay.config import Project
>>> project = Project.load()          # finds assay.yaml upwards from the working directory
>>> project.config.stages             # parsed, validated sections
"""

from __future__ import annotations

import json

from assay.config._base import Section
from assay.config._errors import config_error_from, suggest, valid_keys
from assay.config._kinds import KindPlan, PlanContext, StageContext, StageKind
from assay.config._pipeline import ExecutorConfig, ProfileConfig, Resources, StageConfig
from assay.config._project import CONFIG_FILE, Project, find_root, load_model
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


def json_schema() -> str:
    """The JSON Schema of assay.yaml, for editor completion."""
    schema = AssayConfig.model_json_schema(by_alias=True)
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
