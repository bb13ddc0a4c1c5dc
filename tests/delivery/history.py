"""A delivery history with known answers, written into a real store with the statements the
code itself uses, and a git repository whose commits have fixed times.

Times are offsets from T0, Monday 2026-11-02 00:00 UTC (the start of ISO week 2026-W45). The
story, on deployment ``churn-prod`` (alias ``production``) unless said otherwise:

- commit C1 at T0-2d, commit C2 at T0+5d; dataset ``churn`` version h1 at T0-3d, h2 at T0+4d;
- run r1 (T0-1d) registers v1 (C1, h1); r2 (T0+5d2h) v2 (C2, h2; the run named only in its
  lineage); r3 (T0+9d) v3 (a commit git does not know, h2); r4 (T0+12d) fails; r5 (T0+14d)
  registers v4 (C2, h2);
- rollout #1 v1: T0 .. T0+2h completed; #2 v2: T0+6d .. T0+6d4h completed, and its alias is
  rolled back off v2 30 min later; #3 v3: T0+9d2h .. T0+9d3h rolled back; #4 v4 starts
  T0+14d2h and is still running; #5 v2 goes to ``churn-staging`` (not production);
- monitor window 7 (churn-prod) at T0+1d, alerted at T0+1d10m (two channels); window 8
  (churn-prod) at T0+13d, alerted; window 9 (churn-staging) at T0+2d, alerted;
- a drift trigger fired for window 7 and ended ``done`` with rollout #2; one for window 8 failed
  with rollout #3;
- evaluations: passed at T0-1d (before the window), T0+5d2h30m, T0+9d30m, T0+14d30m; failed at
  T0+12d30m;
- approvals for production: v2 at T0+5d20h, v4 at T0+14d1h30m; v3 rejected at T0+9d1h30m;
  v4 approved for staging too.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from assay.store import Store
from assay.store import statements as sql

H = 3600.0
D = 86400.0
T0 = 1793577600.0  # 2026-11-02T00:00:00Z, a Monday


def make_repo(root: Path) -> dict[str, str]:
    """A git repository at ``root`` with commits C1 (T0-2d) and C2 (T0+5d)."""
    root.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}

    def git(*args: str, when: float | None = None) -> str:
        extra = {} if when is None else {"GIT_AUTHOR_DATE": f"@{int(when)} +0000",
                                         "GIT_COMMITTER_DATE": f"@{int(when)} +0000"}
        done = subprocess.run(["git", *args], cwd=root, env={**env, **extra},
                              capture_output=True, text=True, check=True)
        return done.stdout.strip()

    git("init", "-q")
    commits = {}
    for name, when in (("C1", T0 - 2 * D), ("C2", T0 + 5 * D)):
        (root / "train.py").write_text(f"# {name}\n")
        git("add", "train.py")
        git("commit", "-q", "-m", name, when=when)
        commits[name] = git("rev-parse", "HEAD")
    return commits


def _meta(commit: str, data_hash: str, run_id: str | None = None) -> dict[str, Any]:
    lineage: dict[str, Any] = {"git_commit": commit, "datasets": [
        {"name": "churn", "hash": data_hash, "path": "data/churn.csv"}]}
    if run_id is not None:
        lineage["run_id"] = run_id
    return {"package": {"lineage": lineage}}


def write_history(store: Store, commits: dict[str, str]) -> None:
    """Write the story above into ``store``."""
    c1, c2 = commits["C1"], commits["C2"]
    with store.write() as conn:
        for name, digest, at in (("churn", "h1", T0 - 3 * D), ("churn", "h2", T0 + 4 * D)):
            conn.execute(sql.INSERT_DATASET_VERSION, {
                "name": name, "path": "data/churn.csv", "hash": digest, "kind": "file",
                "size": 1, "nfiles": 1, "rows": 1, "schema": None, "profile": None,
                "git_commit": None, "actor": "ana", "created_at": at, "message": None})
        runs = (("r1", "succeeded", T0 - D), ("r2", "succeeded", T0 + 5 * D + 2 * H),
                ("r3", "succeeded", T0 + 9 * D), ("r4", "failed", T0 + 12 * D),
                ("r5", "succeeded", T0 + 14 * D))
        for run_id, status, at in runs:
            conn.execute(sql.INSERT_RUN, {"id": run_id, "kind": "pipeline", "trigger": "manual",
                                          "status": status, "actor": "ana", "started_at": at,
                                          "ended_at": at + 600})
        conn.execute(sql.INSERT_RUN, {"id": "adhoc", "kind": "adhoc", "trigger": "manual",
                                      "status": "succeeded", "actor": "ana",
                                      "started_at": T0 + 3 * D})
        conn.execute(sql.INSERT_REGISTERED_MODEL, {"name": "churn", "created_at": T0 - D})
        versions = ((1, "r1", T0 - D + H, c1, "h1"), (2, "r2", T0 + 5 * D + 3 * H, c2, "h2"),
                    (3, "r3", T0 + 9 * D + H, "feedface00", "h2"),
                    (4, "r5", T0 + 14 * D + H, c2, "h2"))
        for version, run_id, at, commit, digest in versions:
            # v2 names its run only in its lineage (a package registered outside the run)
            in_lineage = version == 2
            conn.execute(sql.INSERT_MODEL_VERSION, {
                "name": "churn", "version": version, "model_hash": f"m{version}",
                "run_id": None if in_lineage else run_id, "author": "ana", "gates_passed": True,
                "meta": _meta(commit, digest, run_id if in_lineage else None),
                "created_at": at})
        for passed, at in ((True, T0 - D), (True, T0 + 5 * D + 2.5 * H),
                           (True, T0 + 9 * D + 0.5 * H), (False, T0 + 12 * D + 0.5 * H),
                           (True, T0 + 14 * D + 0.5 * H)):
            conn.execute(sql.INSERT_EVALUATION, {"stage_run_id": None, "stage": "evaluate",
                                                 "selected_hash": None, "passed": passed,
                                                 "report": {}, "created_at": at})
        rollouts = (
            ("churn-prod", "production", 1, None, "completed", T0, T0 + 2 * H),
            ("churn-prod", "production", 2, 1, "completed", T0 + 6 * D, T0 + 6 * D + 4 * H),
            ("churn-prod", "production", 3, 2, "rolled_back", T0 + 9 * D + 2 * H,
             T0 + 9 * D + 3 * H),
            ("churn-prod", "production", 4, 2, "running", T0 + 14 * D + 2 * H, None),
            ("churn-staging", "staging", 2, None, "completed", T0 + 5 * D + 4 * H,
             T0 + 5 * D + 5 * H),
        )
        for deployment, alias, version, previous, state, start, end in rollouts:
            details = {"alias": alias, "git_commit": None, "datasets": [], "plan": []}
            rollout_id = int(conn.execute(sql.INSERT_ROLLOUT, {
                "deployment": deployment, "model": "churn", "version": version,
                "from_version": previous, "strategy": "canary", "state": "running",
                "weight": 0.1, "actor": "ana", "details": details,
                "started_at": start}).scalar())
            conn.execute(sql.UPDATE_ROLLOUT, {
                "id": rollout_id, "state": state, "step": 1, "weight": 1.0, "reason": None,
                "details": details, "request": None, "requested_by": None,
                "updated_at": end or start, "ended_at": end})
        moves = (("production", 1, None, "promote", T0),
                 ("staging", 2, None, "promote", T0 + 5 * D + 4 * H),
                 ("production", 2, 1, "promote", T0 + 6 * D),
                 ("production", 1, 2, "rollback", T0 + 6 * D + 4.5 * H),
                 ("production", 3, 1, "promote", T0 + 9 * D + 2 * H),
                 ("production", 1, 3, "rollback", T0 + 9 * D + 3 * H),
                 ("production", 4, 1, "promote", T0 + 14 * D + 2 * H))
        for alias, version, previous, action, at in moves:
            conn.execute(sql.INSERT_ALIAS_MOVE, {
                "name": "churn", "alias": alias, "version": version, "previous_version": previous,
                "action": action, "actor": "ana", "ts": at})
        for version, target, decision, at in ((2, "production", "approve", T0 + 5 * D + 20 * H),
                                               (3, "production", "reject", T0 + 9 * D + 1.5 * H),
                                               (4, "production", "approve",
                                                T0 + 14 * D + 1.5 * H),
                                               (4, "staging", "approve", T0 + 14 * D + 1.2 * H)):
            conn.execute(sql.INSERT_APPROVAL, {
                "name": "churn", "version": version, "target": target, "actor": "raj",
                "roles": ["platform"], "decision": decision, "comment": None,
                "created_at": at})
        for window_id, rollout_id, state, at in ((7, 2, "done", T0 + D + 0.25 * H),
                                                 (8, 3, "failed", T0 + 13 * D + 0.25 * H)):
            firing = int(conn.execute(sql.INSERT_FIRING, {
                "trigger": "retrain-on-drift", "cause": f"window:{window_id}",
                "kind": "monitor", "owner": "w", "details": {"window_id": window_id},
                "actor": "watch", "now": at}).scalar())
            conn.execute(sql.UPDATE_FIRING, {
                "id": firing, "state": state, "run_id": None, "version": None,
                "rollout_id": rollout_id, "reason": None, "details": {"window_id": window_id},
                "now": at + H, "owner": "w"})
    windows = {7: ("churn-prod", T0 + D), 8: ("churn-prod", T0 + 13 * D),
               9: ("churn-staging", T0 + 2 * D)}
    for window_id in range(1, 10):  # 1 to 6: quiet windows long before
        deployment, at = windows.get(window_id, ("churn-prod", T0 - 40 * D + window_id))
        with store.write() as conn:
            recorded = int(conn.execute(sql.INSERT_MONITOR_WINDOW, {
                "monitor": "churn-monitor", "deployment": deployment, "model": "churn",
                "versions": [1], "window_start": at - H, "window_end": at, "rows": 100,
                "verdict": "drift" if window_id in windows else "no_drift", "columns": {},
                "reference": "train", "reference_hash": None, "actor": "watch",
                "created_at": at}).scalar())
            assert recorded == window_id
            store.record_event("monitor.window", "churn-monitor", {
                "window_id": window_id, "deployment": deployment, "verdict": "drift"},
                conn=conn, ts=at)
    for window_id, channel, at in ((7, "ops", T0 + D + 10 * 60), (7, "pager", T0 + D + 11 * 60),
                                   (8, "ops", T0 + 13 * D + 60), (9, "ops", T0 + 2 * D + 60)):
        store.record_event("alert.sent", f"finding-{window_id}", {
            "channel": channel, "monitor": "churn-monitor", "window_id": window_id,
            "severity": "warning"}, ts=at)
    # a failed delivery is no alert anyone saw
    store.record_event("alert.failed", "finding-7", {"window_id": 7}, ts=T0 + 3 * D)
