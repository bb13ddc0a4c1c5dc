"""Run records in the metadata store: runs, stage runs, params, metrics files, artifacts."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay._identity import current_user

if TYPE_CHECKING:
    from assay.objects import LocalCache
    from assay.store import Store

CI_VARS = ("CI", "GITHUB_ACTIONS", "GITLAB_CI", "SEMAPHORE", "JENKINS_URL", "BUILDKITE")
TRIGGERS = ("manual", "ci", "schedule", "data", "drift")


def detect_trigger(explicit: str | None) -> str:
    """``--trigger`` if given, ``ci`` under a CI system, else ``manual``."""
    if explicit:
        return explicit
    if any(os.environ.get(var) for var in CI_VARS):
        return "ci"
    return "manual"


def git_state(root: Path) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the repository holding ``root``; (None, None) outside git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10,
            check=False,
        )
        if head.returncode != 0:
            return None, None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
            capture_output=True, text=True, timeout=10, check=False,
        )
        return head.stdout.strip(), bool(dirty.stdout.strip())
    except (OSError, subprocess.TimeoutExpired):
        return None, None


def environment_fingerprint() -> dict[str, Any]:
    """Python version, platform and installed packages (name -> version)."""
    from importlib.metadata import distributions

    packages = {}
    for dist in distributions():
        name = dist.metadata["Name"]
        if name:
            packages[str(name).lower()] = dist.version
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "packages": dict(sorted(packages.items())),
    }


def store_environment(cache: LocalCache) -> str:
    """Save the fingerprint as an object; returns its hash (``runs.env_hash``)."""
    body = json.dumps(environment_fingerprint(), sort_keys=True, indent=1).encode()
    return cache.add_bytes(body, durable=False)


def new_id() -> str:
    return str(uuid.uuid4())


def start_run(
    store: Store,
    *,
    run_id: str,
    kind: str,
    trigger: str,
    profile: str | None,
    root: Path | None,
    env_hash: str | None,
    name: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    from assay.store.tables import runs

    commit, dirty = git_state(root) if root is not None else (None, None)
    with store.write() as conn:
        conn.execute(
            runs.insert().values(
                id=run_id, name=name, kind=kind, trigger=trigger, status="running",
                profile=profile, git_commit=commit, git_dirty=dirty, actor=current_user(),
                env_hash=env_hash, started_at=time.time(), details=details or {},
            )
        )
        store.record_event(f"run.{kind}.started", run_id, {"trigger": trigger}, conn=conn)


def finish_run(store: Store, run_id: str, *, status: str, exit_code: int,
               details: dict[str, Any] | None = None) -> None:
    from assay.store.tables import runs

    values: dict[str, Any] = {"status": status, "ended_at": time.time(), "exit_code": exit_code}
    if details is not None:
        values["details"] = details
    with store.write() as conn:
        conn.execute(runs.update().where(runs.c.id == run_id).values(**values))
        store.record_event(f"run.{status}", run_id, {"exit_code": exit_code}, conn=conn)


def start_stage_run(
    store: Store,
    *,
    stage_run_id: str,
    run_id: str,
    stage: str,
    group: str | None,
    status: str,
    cache_key: str | None,
    attempt: int = 1,
    log_path: str | None = None,
    params: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
    ended: bool = False,
) -> None:
    from assay.store.tables import params as params_table
    from assay.store.tables import stage_runs

    now = time.time()
    with store.write() as conn:
        conn.execute(
            stage_runs.insert().values(
                id=stage_run_id, run_id=run_id, stage=stage, group=group, status=status,
                cache_key=cache_key, cached=status == "cached", attempt=attempt,
                started_at=now, ended_at=now if ended else None,
                exit_code=0 if ended else None, log_path=log_path, details=details or {},
            )
        )
        if params:
            conn.execute(
                params_table.insert(),
                [
                    {"stage_run_id": stage_run_id, "key": k, "value": json.dumps(v, default=str)}
                    for k, v in params.items()
                ],
            )


def finish_stage_run(
    store: Store,
    stage_run_id: str,
    *,
    status: str,
    exit_code: int | None,
    metrics: dict[str, float] | None = None,
    artifacts: list[tuple[str, str, int, str]] | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Close a stage run; add metrics-file values not already logged and out artifacts."""
    from sqlalchemy import select

    from assay.store.tables import artifacts as artifacts_table
    from assay.store.tables import metrics as metrics_table
    from assay.store.tables import stage_runs

    now = time.time()
    values: dict[str, Any] = {"status": status, "ended_at": now, "exit_code": exit_code}
    if details is not None:
        values["details"] = details
    with store.write() as conn:
        conn.execute(stage_runs.update().where(stage_runs.c.id == stage_run_id).values(**values))
        if metrics:
            logged = {
                row.key
                for row in conn.execute(
                    select(metrics_table.c.key).where(metrics_table.c.stage_run_id == stage_run_id)
                )
            }
            rows = [
                {"stage_run_id": stage_run_id, "key": k, "value": float(v), "step": 0, "ts": now}
                for k, v in metrics.items()
                if k not in logged
            ]
            if rows:
                conn.execute(metrics_table.insert(), rows)
        if artifacts:
            conn.execute(
                artifacts_table.insert(),
                [
                    {"stage_run_id": stage_run_id, "path": p, "hash": h, "size": s, "kind": k}
                    for p, h, s, k in artifacts
                ],
            )


def read_metrics_file(path: Path) -> dict[str, float]:
    """Numeric leaves of a JSON/YAML metrics file, flattened with dots ({} if unreadable)."""
    from assay.pipeline._params import flatten

    try:
        text = path.read_text()
    except OSError:
        return {}
    data: Any
    try:
        data = json.loads(text)
    except ValueError:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            return {}
    return {
        k: float(v)
        for k, v in flatten(data).items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
