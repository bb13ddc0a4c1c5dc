"""Deployments: a model alias served behind a deployment, and rollouts that move a new version
into its traffic step by step (direct, canary, shadow, blue-green), checked by guards on the
server's own measurements and rolled back automatically when one fails.

>>> rollout = start(store, project.config, "churn-prod", 4, actor="raj@example.com")  # doctest: +SKIP
>>> Controller(store, project.config, "churn-prod", actor="raj@example.com").run(rollout)  # doctest: +SKIP
"""

from __future__ import annotations

from assay.deployment._rollout import (
    ACTIVE,
    REQUESTS,
    Deployment,
    Rollout,
    active_rollout,
    ask,
    claim,
    complete,
    current,
    deployment_config,
    get_rollout,
    rollouts_of,
    save_details,
    set_traffic,
    start,
    withdraw,
)

__all__ = [
    "ACTIVE",
    "REQUESTS",
    "Deployment",
    "Rollout",
    "active_rollout",
    "ask",
    "claim",
    "complete",
    "current",
    "deployment_config",
    "get_rollout",
    "rollouts_of",
    "save_details",
    "set_traffic",
    "start",
    "withdraw",
]
