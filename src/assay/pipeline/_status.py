"""Why a stage is stale: which dep, param, command or out changed since the lock was written."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from assay.pipeline._aliases import ALIAS_PARAM_PREFIX, STORE_PARAM, is_pseudo_param
from assay.pipeline._cache_key import compute_cache_key, definition_hash
from assay.pipeline._dag import Dag, Stage
from assay.pipeline._hashes import StatCache
from assay.pipeline._lock import LockEntry


@dataclass(frozen=True)
class StageState:
    """A stage's freshness against the lock file."""

    stage: str
    key: str
    stale: bool
    reasons: list[str] = field(default_factory=list)
    dep_hashes: dict[str, str | None] = field(default_factory=dict)
    definition: dict[str, Any] = field(default_factory=dict)  # the resolved definition
    definition_digest: str = ""  # its hash, as the lock records it
    # set by plan_pipeline: a stale stage whose outs for its key are in the local cache (a run
    # restores it instead of running it), and why its last run failed, if it did
    restorable: bool = False
    failed: str | None = None

    @property
    def action(self) -> str | None:
        """What a run does with this stage: None (up to date), ``restore`` or ``run``."""
        return None if not self.stale else "restore" if self.restorable else "run"

    def to_json(self) -> dict[str, Any]:
        return {"stage": self.stage, "stale": self.stale, "reasons": self.reasons,
                "key": self.key, "action": self.action, "failed": self.failed}


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings -> ``{"a.b": leaf}`` (an empty mapping is a leaf)."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_leaves(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _mapping_changes(what: str, old: Any, new: Any) -> list[str]:
    """``option 'a.b' changed: 1 -> 2`` for every leaf that differs between two mappings."""
    before, after = _leaves(old or {}), _leaves(new or {})
    found = []
    for key in sorted(set(before) | set(after), key=lambda k: (k not in before, k)):
        if key not in after:
            found.append(f"{what} '{key}' removed")
        elif key not in before:
            found.append(f"{what} '{key}' added ({_short(after[key])})")
        elif before[key] != after[key]:
            found.append(f"{what} '{key}' changed: {_short(before[key])} -> {_short(after[key])}")
    return found


def _definition_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between the definition recorded in the lock and the current one."""
    if not old:
        return ["definition changed"]
    labels = {"cmd": "command", "kind": "kind", "deps": "deps list", "outs": "outs list",
              "metrics": "metrics list"}
    changed: list[str] = []
    differing = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    for key in differing:
        if key == "options":
            changed.extend(_mapping_changes("option", old.get(key), new.get(key)))
        elif key == "env":
            changed.extend(_mapping_changes("env", old.get(key), new.get(key)))
        elif key == "params":
            # params that are new are reported with their values by stage_state
            dropped = sorted(set(old.get(key) or []) - set(new.get(key) or []))
            changed.extend(f"param '{p}' no longer used" for p in dropped
                           if not is_pseudo_param(p))
        else:
            changed.append(f"{labels.get(key, key)} changed")
    if not changed and differing != ["params"]:
        return ["definition changed"]
    return changed


def stage_state(
    stage: Stage,
    entry: LockEntry | None,
    hashes: StatCache,
    *,
    stale_upstream: list[str] | None = None,
) -> StageState:
    """Compare ``stage`` as defined now with its lock ``entry``."""
    dep_hashes = {dep: hashes.hash_path(dep) for dep in stage.deps}
    definition = stage.definition()
    key = compute_cache_key(definition, dep_hashes, stage.params)
    definition_digest = definition_hash(definition)
    if entry is None:
        return StageState(stage.name, key, True, ["never run"], dep_hashes, definition,
                          definition_digest)
    reasons: list[str] = []
    if entry.definition != definition_digest:
        reasons.extend(_definition_changes(entry.definition_body, definition))
    for dep, digest in dep_hashes.items():
        if dep not in entry.deps:
            reasons.append(f"dep '{dep}' added")
        elif digest is None:
            reasons.append(f"dep '{dep}' missing")
        elif entry.deps[dep] != digest:
            reasons.append(f"dep '{dep}' changed")
    for key_name, value in stage.params.items():
        if key_name == STORE_PARAM:
            if entry.params.get(key_name, value) != value:
                reasons.append("another metadata store (its registry effects are not in this "
                               "store yet)")
            continue
        if key_name.startswith(ALIAS_PARAM_PREFIX):
            if entry.params.get(key_name, value) != value:
                ref = key_name[len(ALIAS_PARAM_PREFIX) :]
                before = entry.params.get(key_name)
                reasons.append(
                    f"alias '{ref}' moved: model {str(before or 'none')[:12]} -> "
                    f"{str(value or 'none')[:12]}"
                )
            continue
        if key_name not in entry.params:
            reasons.append(f"param '{key_name}' added ({_short(value)})")
        elif entry.params[key_name] != value:
            reasons.append(
                f"param '{key_name}' changed: {_short(entry.params[key_name])} -> {_short(value)}"
            )
    for out in stage.all_outs:
        recorded = entry.out_hashes.get(out)
        current = hashes.hash_path(out)
        if current is None:
            reasons.append(f"out '{out}' missing")
        elif recorded is not None and recorded != current:
            reasons.append(f"out '{out}' modified")
    for upstream in stale_upstream or []:
        reasons.append(f"upstream stage '{upstream}' is stale")
    if not reasons and entry.key != key:
        reasons.append("cache key changed")
    return StageState(stage.name, key, bool(reasons), reasons, dep_hashes, definition,
                      definition_digest)


def pipeline_status(
    dag: Dag, names: list[str], lock: dict[str, LockEntry], hashes: StatCache
) -> list[StageState]:
    """States of ``names`` in order; a stage downstream of a stale one is stale too."""
    states: dict[str, StageState] = {}
    for name in names:
        stage = dag.stages[name]
        stale_up = [n for n in stage.needs if n in states and states[n].stale]
        states[name] = stage_state(stage, lock.get(name), hashes, stale_upstream=stale_up)
    return [states[n] for n in names]
