"""Reading tracked runs: list with filters, show, compare, metric history.

Every function takes a store, a store URL or an open :class:`RunReader` (one snapshot for
several questions); the queries are in :mod:`assay.store.statements`.
"""

from __future__ import annotations

import contextlib
import json
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import TrackingError, UsageError
from assay.store import statements as sql
from assay.store._metric_values import metric_value
from assay.tracking._reader import RunReader, chunks, snapshot

if TYPE_CHECKING:
    from assay.store import Store

    Source = Store | str | RunReader

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


@dataclass(frozen=True)
class RunRow:
    """One tracked stage run, the pipeline (or ad-hoc) run it belongs to, and its latest
    metric values."""

    id: str
    run_id: str
    stage: str
    group: str | None
    status: str
    started_at: float
    ended_at: float | None
    cached: bool
    exit_code: int | None = None
    attempt: int = 1
    cache_key: str | None = None
    log_path: str | None = None
    run_kind: str = ""
    run_name: str | None = None
    trigger: str = ""
    run_status: str = ""
    profile: str | None = None
    git_commit: str | None = None
    git_dirty: bool | None = None
    user: str = ""
    env_hash: str | None = None
    run_started_at: float | None = None
    run_ended_at: float | None = None
    run_exit_code: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def duration(self) -> float | None:
        return None if self.ended_at is None else self.ended_at - self.started_at

    @property
    def run_duration(self) -> float | None:
        if self.run_ended_at is None or self.run_started_at is None:
            return None
        return self.run_ended_at - self.run_started_at

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "run_id": self.run_id, "stage": self.stage, "group": self.group,
            "status": self.status, "started_at": self.started_at, "ended_at": self.ended_at,
            "duration": self.duration, "cached": self.cached, "exit_code": self.exit_code,
            "attempt": self.attempt, "cache_key": self.cache_key, "log_path": self.log_path,
            "run_kind": self.run_kind, "run_name": self.run_name, "trigger": self.trigger,
            "run_status": self.run_status, "profile": self.profile,
            "git_commit": self.git_commit, "git_dirty": self.git_dirty, "user": self.user,
            "env_hash": self.env_hash, "run_started_at": self.run_started_at,
            "run_ended_at": self.run_ended_at, "run_duration": self.run_duration,
            "run_exit_code": self.run_exit_code,
            "params": self.params, "metrics": self.metrics, "tags": self.tags,
            "artifacts": self.artifacts,
        }


def _decode(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _row(r: tuple[Any, ...], *, params: dict[str, str], metrics: dict[str, float],
         tags: dict[str, str], artifacts: list[dict[str, Any]] | None = None) -> RunRow:
    """A row of :data:`assay.store.statements.STAGE_RUN_COLUMNS` as a RunRow."""
    return RunRow(
        id=r[0], run_id=r[1], stage=r[2], group=r[3], status=r[4], started_at=float(r[5]),
        ended_at=r[6], cached=bool(r[7]), exit_code=r[8], attempt=int(r[9] or 1),
        cache_key=r[10], log_path=r[11], run_kind=r[12], run_name=r[13], trigger=r[14],
        run_status=r[15], profile=r[16], git_commit=r[17],
        git_dirty=None if r[18] is None else bool(r[18]), user=r[19], env_hash=r[20],
        run_started_at=r[21], run_ended_at=r[22], run_exit_code=r[23],
        params={k: _decode(v) for k, v in params.items()}, metrics=metrics, tags=tags,
        artifacts=artifacts or [],
    )


def _latest_metrics(db: RunReader, ids: list[str]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, tuple[int, int, float]]] = {}
    for part in chunks(ids):
        for sid, key, value, kind, step, mid in db.execute(*sql.metric_points_of(part)):
            seen = out.setdefault(sid, {})
            if key not in seen or (step, mid) >= seen[key][:2]:
                seen[key] = (step, mid, metric_value(value, kind))
    return {sid: {k: v[2] for k, v in keys.items()} for sid, keys in out.items()}


def _kv(db: RunReader, table: str, ids: list[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for part in chunks(ids):
        for sid, key, value in db.execute(*sql.key_values_of(table, part)):
            out.setdefault(sid, {})[key] = value
    return out


def _passing(db: RunReader, flt: MetricFilter) -> set[str]:
    """Stage runs whose latest value of ``flt.key`` passes ``flt``."""
    latest: dict[str, tuple[int, int, float]] = {}
    for sid, step, mid, value, kind in db.execute(sql.METRIC_POINTS_BY_KEY, {"key": flt.key}):
        if sid not in latest or (step, mid) >= latest[sid][:2]:
            latest[sid] = (step, mid, metric_value(value, kind))
    return {sid for sid, v in latest.items() if flt.accepts(v[2])}


def list_runs(
    source: Source,
    *,
    stage: str | None = None,
    params: dict[str, str] | None = None,
    metric_filters: list[MetricFilter] | None = None,
    tags: dict[str, str] | None = None,
    limit: int = 50,
    include_cached: bool = False,
) -> list[RunRow]:
    """Stage runs, newest first, filtered; metric filters use each metric's latest value.

    ``params`` values match the logged value whether it was logged as a string or as JSON
    (``depth=6`` matches ``log_param("depth", 6)``).
    """
    matching: dict[str, list[str]] = {}
    for key, value in (params or {}).items():
        encoded = [value, json.dumps(value)]
        with contextlib.suppress(ValueError):
            encoded.append(json.dumps(json.loads(value)))
        matching[key] = list(dict.fromkeys(encoded))
    # with metric filters, rows are read newest first until the page is full
    statement, bound = sql.stage_run_list(stage=stage, include_cached=include_cached,
                                          params=matching, tags=tags,
                                          limit=None if metric_filters else limit)
    with snapshot(source) as db:
        if metric_filters:
            keep: set[str] | None = None
            for flt in metric_filters:
                ok = _passing(db, flt)
                keep = ok if keep is None else keep & ok
            kept = keep or set()
            found = []
            for row in db.execute(statement, bound):
                if row[0] in kept:
                    found.append(row)
                    if len(found) >= limit:
                        break
        else:
            found = db.execute(statement, bound).fetchall()
        ids = [r[0] for r in found]
        latest = _latest_metrics(db, ids)
        all_params = _kv(db, "params", ids)
        all_tags = _kv(db, "tags", ids)
    return [_row(r, params=all_params.get(r[0], {}), metrics=latest.get(r[0], {}),
                 tags=all_tags.get(r[0], {})) for r in found]


def resolve(source: Source, ref: str) -> list[str]:
    """Stage-run ids for ``ref``: a stage-run id (or unique prefix), or a run id (its stages).

    Raises:
        TrackingError: nothing matches, or a prefix is ambiguous.
    """
    if len(ref) < 4 or not re.fullmatch(r"[0-9a-fA-F-]+", ref):
        raise TrackingError(f"No run {ref!r}; give a run id or a prefix of at least 4 characters "
                            "(see: assay runs list)", run=ref)
    pattern = {"prefix": ref.lower() + "%"}
    with snapshot(source) as db:
        direct = [r[0] for r in db.execute(sql.STAGE_RUNS_BY_PREFIX, pattern)]
        if len(direct) == 1:
            return direct
        if len(direct) > 1:
            raise TrackingError(f"Run prefix {ref!r} is ambiguous; give more characters", run=ref)
        by_run = db.execute(sql.STAGE_RUNS_BY_RUN_PREFIX, pattern).fetchall()
    if len({r[1] for r in by_run}) > 1:
        raise TrackingError(f"Run prefix {ref!r} is ambiguous; give more characters", run=ref)
    if not by_run:
        raise TrackingError(f"No run {ref!r} (see: assay runs list)", run=ref)
    return [r[0] for r in by_run]


def get_runs(source: Source, ids: list[str]) -> list[RunRow]:
    """Full records (params, all latest metrics, tags, artifacts) of stage runs ``ids``."""
    rows: dict[str, tuple[Any, ...]] = {}
    arts: dict[str, list[dict[str, Any]]] = {}
    with snapshot(source) as db:
        for part in chunks(ids):
            rows.update((r[0], r) for r in db.execute(*sql.stage_runs_by_id(part)))
            for sid, path, oid, size, kind in db.execute(*sql.artifacts_of(part)):
                arts.setdefault(sid, []).append(
                    {"path": path, "hash": oid, "size": size, "kind": kind})
        latest = _latest_metrics(db, ids)
        all_params = _kv(db, "params", ids)
        all_tags = _kv(db, "tags", ids)
    return [_row(r, params=all_params.get(i, {}), metrics=latest.get(i, {}),
                 tags=all_tags.get(i, {}), artifacts=arts.get(i, []))
            for i in ids if (r := rows.get(i)) is not None]


def compare_runs(rows: list[RunRow]) -> dict[str, Any]:
    """Params and metrics side by side; ``differs`` marks keys whose values are not all equal.

    A run that never logged a key has ``None`` in ``values`` and ``True`` in ``missing``; a
    key logged with the value ``None`` has ``None`` and ``False``. Missing and ``None`` differ.
    """
    def table(attr: str) -> list[dict[str, Any]]:
        keys = sorted({k for r in rows for k in getattr(r, attr)})
        out = []
        for key in keys:
            present = [key in getattr(r, attr) for r in rows]
            values = [getattr(r, attr).get(key) for r in rows]
            shapes = {(p, json.dumps(v, default=str, sort_keys=True))
                      for p, v in zip(present, values, strict=True)}
            out.append({"key": key, "values": values, "missing": [not p for p in present],
                        "differs": len(shapes) > 1})
        return out

    return {"runs": [{"id": r.id, "stage": r.stage, "run_id": r.run_id} for r in rows],
            "params": table("params"), "metrics": table("metrics")}


def metric_history(source: Source, stage_run_id: str, key: str) -> list[tuple[int, float, float]]:
    """(step, value, timestamp) of metric ``key``, in step order (NaN and ±Inf as floats).

    Raises:
        TrackingError: the run never logged ``key`` (the message lists what it logged).
    """
    with snapshot(source) as db:
        rows = [(int(s), metric_value(v, kind), float(t)) for s, v, kind, t in db.execute(
            sql.METRIC_HISTORY, {"stage_run_id": stage_run_id, "key": key})]
        if not rows:
            keys = sorted({r[0] for r in db.execute(
                sql.METRIC_KEYS, {"stage_run_id": stage_run_id})})
    if not rows:
        from assay.config import suggest

        raise TrackingError(
            f"Run {stage_run_id[:8]} has no metric '{key}'{suggest(key, keys)}; it logged: "
            f"{', '.join(keys) or '(none)'}", key=key)
    return rows


def run_environment(row: RunRow, cache_dir: Path) -> dict[str, Any]:
    """The environment fingerprint ``row``'s run recorded: Python, platform, packages.

    Raises:
        TrackingError: the run recorded no environment.
        ObjectNotFound: the fingerprint is not in the cache at ``cache_dir``.
        CorruptObject: the fingerprint's bytes do not match its hash.
    """
    from assay.errors import ObjectNotFound
    from assay.objects import LocalCache

    if not row.env_hash:
        raise TrackingError(f"Run {row.run_id[:8]} recorded no environment", run=row.run_id)
    try:
        body = LocalCache(cache_dir).read_bytes(row.env_hash)
    except ObjectNotFound:
        raise ObjectNotFound(
            f"Environment {row.env_hash[:12]} of run {row.run_id[:8]} is not in the cache "
            f"{cache_dir}; it was recorded on another machine or removed by gc",
            oid=row.env_hash) from None
    data: dict[str, Any] = json.loads(body)
    return data
