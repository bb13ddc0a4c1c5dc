"""Reading tracked runs: list with filters, show, compare, metric history."""

from __future__ import annotations

import contextlib
import json
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assay.errors import TrackingError, UsageError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from assay.store import Store

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, "!=": operator.ne, "==": operator.eq,
    ">": operator.gt, "<": operator.lt, "=": operator.eq,
}
_EXPR = re.compile(r"^\s*([A-Za-z0-9_.\-/]+)\s*(>=|<=|!=|==|>|<|=)\s*(-?[0-9.eE+\-]+)\s*$")


@dataclass(frozen=True)
class MetricFilter:
    """``roc_auc>0.8``: the metric's latest value compared with a number."""

    key: str
    op: str
    value: float

    @classmethod
    def parse(cls, text: str) -> MetricFilter:
        match = _EXPR.match(text)
        if not match:
            raise UsageError(
                f"Bad metric filter {text!r}; write KEY OP NUMBER, e.g. 'roc_auc>0.8' "
                "(OP: > >= < <= == !=)",
                filter=text,
            )
        try:
            number = float(match.group(3))
        except ValueError:
            raise UsageError(f"Bad number in metric filter {text!r}", filter=text) from None
        return cls(match.group(1), match.group(2), number)

    def accepts(self, value: float | None) -> bool:
        return value is not None and _OPS[self.op](value, self.value)


def parse_pairs(items: list[str], what: str) -> dict[str, str]:
    """``["k=v", ...]`` -> dict."""
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise UsageError(f"Bad {what} filter {item!r}; write KEY=VALUE", filter=item)
        out[key.strip()] = value.strip()
    return out


@dataclass
class RunRow:
    """One tracked stage run with its latest metric values."""

    id: str
    run_id: str
    stage: str
    group: str | None
    status: str
    started_at: float
    ended_at: float | None
    cached: bool
    run_kind: str = ""
    trigger: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    git_commit: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "run_id": self.run_id, "stage": self.stage, "group": self.group,
            "status": self.status, "started_at": self.started_at, "ended_at": self.ended_at,
            "duration": None if self.ended_at is None else self.ended_at - self.started_at,
            "cached": self.cached, "run_kind": self.run_kind, "trigger": self.trigger,
            "params": self.params, "metrics": self.metrics, "tags": self.tags,
            "artifacts": self.artifacts, "git_commit": self.git_commit,
        }


def _decode(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _latest_metrics(conn: Connection, ids: list[str]) -> dict[str, dict[str, float]]:
    from sqlalchemy import select

    from assay.store.tables import metrics

    out: dict[str, dict[str, tuple[int, float, float]]] = {}
    for chunk in range(0, len(ids), 500):
        part = ids[chunk : chunk + 500]
        query = select(metrics.c.stage_run_id, metrics.c.key, metrics.c.value, metrics.c.step,
                       metrics.c.id).where(metrics.c.stage_run_id.in_(part))
        for sid, key, value, step, mid in conn.execute(query):
            seen = out.setdefault(sid, {})
            if key not in seen or (step, mid) >= seen[key][:2]:
                seen[key] = (step, mid, value)
    return {sid: {k: v[2] for k, v in keys.items()} for sid, keys in out.items()}


def _kv(conn: Connection, table: Any, ids: list[str]) -> dict[str, dict[str, str]]:
    from sqlalchemy import select

    out: dict[str, dict[str, str]] = {}
    for chunk in range(0, len(ids), 500):
        query = select(table.c.stage_run_id, table.c.key, table.c.value).where(
            table.c.stage_run_id.in_(ids[chunk : chunk + 500]))
        for sid, key, value in conn.execute(query):
            out.setdefault(sid, {})[key] = value
    return out


def list_runs(
    store: Store,
    *,
    stage: str | None = None,
    params: dict[str, str] | None = None,
    metric_filters: list[MetricFilter] | None = None,
    tags: dict[str, str] | None = None,
    limit: int = 50,
    include_cached: bool = False,
) -> list[RunRow]:
    """Stage runs, newest first, filtered; metric filters use each metric's latest value."""
    from sqlalchemy import and_, select

    from assay.store.tables import metrics, runs, stage_runs
    from assay.store.tables import params as params_table
    from assay.store.tables import tags as tags_table

    query = (
        select(stage_runs, runs.c.kind.label("run_kind"), runs.c.trigger, runs.c.git_commit)
        .join(runs, runs.c.id == stage_runs.c.run_id)
        .order_by(stage_runs.c.started_at.desc(), stage_runs.c.id)
    )
    if stage:
        query = query.where((stage_runs.c.stage == stage) | (stage_runs.c.group == stage))
    if not include_cached:
        query = query.where(stage_runs.c.cached.is_(False))
    for key, value in (params or {}).items():
        alias = params_table.alias()
        encoded = [value, json.dumps(value)]
        with contextlib.suppress(ValueError):
            encoded.append(json.dumps(json.loads(value)))
        query = query.join(alias, and_(alias.c.stage_run_id == stage_runs.c.id,
                                       alias.c.key == key, alias.c.value.in_(encoded)))
    for key, value in (tags or {}).items():
        alias = tags_table.alias()
        query = query.join(alias, and_(alias.c.stage_run_id == stage_runs.c.id,
                                       alias.c.key == key, alias.c.value == value))
    with store.read() as conn:
        if metric_filters:
            keep: set[str] | None = None
            for flt in metric_filters:
                latest: dict[str, tuple[int, int, float]] = {}
                rows = conn.execute(select(metrics.c.stage_run_id, metrics.c.step, metrics.c.id,
                                           metrics.c.value).where(metrics.c.key == flt.key))
                for sid, step, mid, value in rows:
                    if sid not in latest or (step, mid) >= latest[sid][:2]:
                        latest[sid] = (step, mid, value)
                ok = {sid for sid, v in latest.items() if flt.accepts(v[2])}
                keep = ok if keep is None else keep & ok
            kept = keep or set()
            rows_all = []
            for row in conn.execute(query):  # newest first: stop as soon as the page is full
                if row.id in kept:
                    rows_all.append(row)
                    if len(rows_all) >= limit:
                        break
        else:
            rows_all = list(conn.execute(query.limit(limit)))
        ids = [r.id for r in rows_all]
        latest_metrics = _latest_metrics(conn, ids)
        all_params = _kv(conn, params_table, ids)
        all_tags = _kv(conn, tags_table, ids)
    return [
        RunRow(id=r.id, run_id=r.run_id, stage=r.stage, group=r.group, status=r.status,
               started_at=r.started_at, ended_at=r.ended_at, cached=bool(r.cached),
               run_kind=r.run_kind, trigger=r.trigger, git_commit=r.git_commit,
               params={k: _decode(v) for k, v in all_params.get(r.id, {}).items()},
               metrics=latest_metrics.get(r.id, {}), tags=all_tags.get(r.id, {}))
        for r in rows_all
    ]


def resolve(store: Store, ref: str) -> list[str]:
    """Stage-run ids for ``ref``: a stage-run id (or unique prefix), or a run id (its stages).

    Raises:
        TrackingError: nothing matches, or a prefix is ambiguous.
    """
    from sqlalchemy import select

    from assay.store.tables import stage_runs

    if len(ref) < 4 or not re.fullmatch(r"[0-9a-fA-F-]+", ref):
        raise TrackingError(f"No run {ref!r}; give a run id or a prefix of at least 4 characters "
                            "(see: assay runs list)", run=ref)
    with store.read() as conn:
        direct = [r[0] for r in conn.execute(
            select(stage_runs.c.id).where(stage_runs.c.id.startswith(ref)).limit(3))]
        if len(direct) == 1:
            return direct
        if len(direct) > 1:
            raise TrackingError(f"Run prefix {ref!r} is ambiguous; give more characters", run=ref)
        by_run = [r[0] for r in conn.execute(
            select(stage_runs.c.id, stage_runs.c.run_id)
            .where(stage_runs.c.run_id.startswith(ref)).order_by(stage_runs.c.started_at))]
        runs_found = {r[1] for r in conn.execute(
            select(stage_runs.c.id, stage_runs.c.run_id).where(stage_runs.c.run_id.startswith(ref)))}
    if len(runs_found) > 1:
        raise TrackingError(f"Run prefix {ref!r} is ambiguous; give more characters", run=ref)
    if not by_run:
        raise TrackingError(f"No run {ref!r} (see: assay runs list)", run=ref)
    return by_run


def get_runs(store: Store, ids: list[str]) -> list[RunRow]:
    """Full records (params, all latest metrics, tags, artifacts) of stage runs ``ids``."""
    from sqlalchemy import select

    from assay.store.tables import artifacts, runs, stage_runs
    from assay.store.tables import params as params_table
    from assay.store.tables import tags as tags_table

    with store.read() as conn:
        rows = {r.id: r for r in conn.execute(
            select(stage_runs, runs.c.kind.label("run_kind"), runs.c.trigger, runs.c.git_commit)
            .join(runs, runs.c.id == stage_runs.c.run_id).where(stage_runs.c.id.in_(ids)))}
        latest = _latest_metrics(conn, ids)
        all_params = _kv(conn, params_table, ids)
        all_tags = _kv(conn, tags_table, ids)
        arts: dict[str, list[dict[str, Any]]] = {}
        for a in conn.execute(select(artifacts).where(artifacts.c.stage_run_id.in_(ids))):
            arts.setdefault(a.stage_run_id, []).append(
                {"path": a.path, "hash": a.hash, "size": a.size, "kind": a.kind})
    return [
        RunRow(id=r.id, run_id=r.run_id, stage=r.stage, group=r.group, status=r.status,
               started_at=r.started_at, ended_at=r.ended_at, cached=bool(r.cached),
               run_kind=r.run_kind, trigger=r.trigger, git_commit=r.git_commit,
               params={k: _decode(v) for k, v in all_params.get(r.id, {}).items()},
               metrics=latest.get(r.id, {}), tags=all_tags.get(r.id, {}),
               artifacts=arts.get(r.id, []))
        for i in ids if (r := rows.get(i)) is not None
    ]


def compare_runs(rows: list[RunRow]) -> dict[str, Any]:
    """Params and metrics side by side; ``differs`` marks keys whose values are not all equal."""
    def table(attr: str) -> list[dict[str, Any]]:
        keys = sorted({k for r in rows for k in getattr(r, attr)})
        out = []
        for key in keys:
            values = [getattr(r, attr).get(key) for r in rows]
            same = all(json.dumps(v, default=str) == json.dumps(values[0], default=str)
                       for v in values)
            out.append({"key": key, "values": values, "differs": not same})
        return out

    return {"runs": [{"id": r.id, "stage": r.stage, "run_id": r.run_id} for r in rows],
            "params": table("params"), "metrics": table("metrics")}


def metric_history(store: Store, stage_run_id: str, key: str) -> list[tuple[int, float, float]]:
    """(step, value, timestamp) of metric ``key``, in logging order.

    Raises:
        TrackingError: the run never logged ``key`` (the message lists what it logged).
    """
    from sqlalchemy import select

    from assay.store.tables import metrics

    with store.read() as conn:
        rows = [(int(s), float(v), float(t)) for s, v, t in conn.execute(
            select(metrics.c.step, metrics.c.value, metrics.c.ts)
            .where(metrics.c.stage_run_id == stage_run_id, metrics.c.key == key)
            .order_by(metrics.c.step, metrics.c.id))]
        if not rows:
            keys = sorted({r[0] for r in conn.execute(
                select(metrics.c.key).where(metrics.c.stage_run_id == stage_run_id))})
            from assay.config import suggest

            raise TrackingError(
                f"Run {stage_run_id[:8]} has no metric '{key}'{suggest(key, keys)}; it logged: "
                f"{', '.join(keys) or '(none)'}", key=key)
    return rows
