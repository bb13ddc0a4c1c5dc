"""Deployments: a model alias served behind a deployment, and rollouts that move a new version
into its traffic step by step (direct, canary, shadow, blue-green), checked by guards on the
server's own measurements and rolled back automatically when one fails.

A deployment with ``serve:`` runs on a local ``assay serve`` process assay manages
(``ManagedServer``: started, adopted, restarted and stopped by the commands that drive
rollouts).

Guards (``check_guards``) are statistical tests on one step's samples (``samples_from_exposition``
and ``delta`` read them from the server's ``/metrics``); a candidate that meets every bound is
rolled back with probability at most the guards' ``alpha`` over the whole rollout.

>>> rollout = start(store, project.config, "churn-prod", 4, actor="raj@example.com")  # doctest: +SKIP
>>> Controller(store, project.config, "churn-prod", actor="raj@example.com").run(rollout)  # doctest: +SKIP
"""

from __future__ import annotations

from assay.deployment._controller import Controller, Observation, Progress, ServerProbe
from assay.deployment._guards import (
    P99_TAIL,
    GuardDecision,
    VariantSample,
    accuracy_p_value,
    binomial_p_value,
    check_guards,
    check_live_quality,
    guard_alpha,
    shift_p_value,
)
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
from assay.deployment._samples import delta, samples_from_exposition
from assay.deployment._server import (
    Launch,
    ManagedServer,
    ServerState,
    Stopped,
    server_state,
)

__all__ = [
    "ACTIVE",
    "P99_TAIL",
    "REQUESTS",
    "Controller",
    "Deployment",
    "GuardDecision",
    "Launch",
    "ManagedServer",
    "Observation",
    "Progress",
    "Rollout",
    "ServerProbe",
    "ServerState",
    "Stopped",
    "VariantSample",
    "accuracy_p_value",
    "active_rollout",
    "ask",
    "binomial_p_value",
    "check_guards",
    "check_live_quality",
    "claim",
    "complete",
    "current",
    "delta",
    "deployment_config",
    "get_rollout",
    "guard_alpha",
    "rollouts_of",
    "samples_from_exposition",
    "save_details",
    "server_state",
    "set_traffic",
    "shift_p_value",
    "start",
    "withdraw",
]
