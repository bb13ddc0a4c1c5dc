"""The model registry: immutable numbered versions, movable aliases, promotion policies with
approvals, rollbacks, lineage, diffs and model cards.

Every rule (who may approve, what a promotion needs) is enforced here, so the CLI and the team
server are thin faces that cannot bypass it.

>>> from assay.registry import get_version, promote
>>> promote(store, project.config, "churn:3", to="production", actor="ana@example.com")  # doctest: +SKIP
>>> get_version(store, "churn@production").version  # doctest: +SKIP
3
"""

from __future__ import annotations

from assay.registry._aliases import AliasMove, alias_history, rollback_target
from assay.registry._card import ModelCard, model_card
from assay.registry._lineage import dataset_label, diff, lineage, lineage_mermaid
from assay.registry._promotion import (
    Approval,
    approvals_for,
    approve,
    check_promotion,
    promote,
    promote_in,
    reject,
    restore_alias_in,
    rollback,
)
from assay.registry._refs import ModelRef, check_alias, check_name, parse_ref
from assay.registry._register_kind import RegisterOptions
from assay.registry._registration import Registration, register
from assay.registry._versions import (
    ModelVersion,
    RegisteredModel,
    get_version,
    list_models,
    version_in,
    versions,
)

__all__ = [
    "AliasMove",
    "Approval",
    "ModelCard",
    "ModelRef",
    "ModelVersion",
    "RegisterOptions",
    "RegisteredModel",
    "Registration",
    "alias_history",
    "approvals_for",
    "approve",
    "check_alias",
    "check_name",
    "check_promotion",
    "dataset_label",
    "diff",
    "get_version",
    "lineage",
    "lineage_mermaid",
    "list_models",
    "model_card",
    "parse_ref",
    "promote",
    "promote_in",
    "register",
    "reject",
    "restore_alias_in",
    "rollback",
    "rollback_target",
    "version_in",
    "versions",
]
