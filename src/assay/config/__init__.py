"""Configuration: the assay.yaml schema (pydantic), loading with line-aware errors, JSON Schema,
and the one bounded YAML reader every YAML file goes through.

>>> from assay.config import Project
>>> project = Project.load()          # finds assay.yaml upwards from the working directory
>>> project.config.stages             # parsed, validated sections

Names load lazily: ``from assay.config import read_yaml`` (pointer files, params files) does not
import pydantic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay._layout import CONFIG_FILE
from assay._lazy import lazy_attributes
from assay.config._yaml import Loc, parse_yaml, read_yaml

if TYPE_CHECKING:
    from assay.config._alerts import SEVERITIES, AlertsConfig, ChannelConfig, RouteConfig, Severity
    from assay.config._base import Section
    from assay.config._deployments import (
        DeploymentConfig,
        GuardsConfig,
        ServeConfig,
        Step,
        Sticky,
    )
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
        MonitorWindow,
        RemoteConfig,
        json_schema,
    )
    from assay.config._team import (
        PRODUCTION_ALIASES,
        ApprovalRule,
        Member,
        PromotionPolicy,
        Role,
        serves_users,
    )
    from assay.config._triggers import TriggerConfig

_LAZY: dict[str, str] = {
    "AlertsConfig": "assay.config._alerts",
    "ChannelConfig": "assay.config._alerts",
    "RouteConfig": "assay.config._alerts",
    "SEVERITIES": "assay.config._alerts",
    "Severity": "assay.config._alerts",
    "ApprovalRule": "assay.config._team",
    "PRODUCTION_ALIASES": "assay.config._team",
    "serves_users": "assay.config._team",
    "AssayConfig": "assay.config._schema",
    "CacheConfig": "assay.config._schema",
    "ContractRef": "assay.config._schema",
    "DatasetConfig": "assay.config._schema",
    "DeploymentConfig": "assay.config._deployments",
    "ExecutorConfig": "assay.config._pipeline",
    "GuardsConfig": "assay.config._deployments",
    "KindPlan": "assay.config._kinds",
    "LinkType": "assay.config._schema",
    "Member": "assay.config._team",
    "MonitorWindow": "assay.config._schema",
    "MonitoringConfig": "assay.config._schema",
    "PlanContext": "assay.config._kinds",
    "ProfileConfig": "assay.config._pipeline",
    "Project": "assay.config._project",
    "PromotionPolicy": "assay.config._team",
    "RemoteConfig": "assay.config._schema",
    "Resources": "assay.config._pipeline",
    "Role": "assay.config._team",
    "Section": "assay.config._base",
    "ServeConfig": "assay.config._deployments",
    "StageConfig": "assay.config._pipeline",
    "StageContext": "assay.config._kinds",
    "StageKind": "assay.config._kinds",
    "TriggerConfig": "assay.config._triggers",
    "Step": "assay.config._deployments",
    "Sticky": "assay.config._deployments",
    "config_error_from": "assay.config._errors",
    "find_root": "assay.config._project",
    "json_schema": "assay.config._schema",
    "load_model": "assay.config._project",
    "suggest": "assay.config._errors",
    "valid_keys": "assay.config._errors",
}

__all__ = [
    "CONFIG_FILE",
    "PRODUCTION_ALIASES",
    "SEVERITIES",
    "AlertsConfig",
    "ApprovalRule",
    "AssayConfig",
    "CacheConfig",
    "ChannelConfig",
    "ContractRef",
    "DatasetConfig",
    "DeploymentConfig",
    "ExecutorConfig",
    "GuardsConfig",
    "KindPlan",
    "LinkType",
    "Loc",
    "Member",
    "MonitorWindow",
    "MonitoringConfig",
    "PlanContext",
    "ProfileConfig",
    "Project",
    "PromotionPolicy",
    "RemoteConfig",
    "Resources",
    "Role",
    "RouteConfig",
    "Section",
    "ServeConfig",
    "Severity",
    "StageConfig",
    "StageContext",
    "StageKind",
    "Step",
    "Sticky",
    "TriggerConfig",
    "config_error_from",
    "find_root",
    "json_schema",
    "load_model",
    "parse_yaml",
    "read_yaml",
    "serves_users",
    "suggest",
    "valid_keys",
]

__getattr__, __dir__ = lazy_attributes("assay.config", _LAZY, __all__, globals())
