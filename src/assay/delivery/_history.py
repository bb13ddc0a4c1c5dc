"""What the metadata store remembers of delivery, read in one snapshot: rollouts, registered
versions, pipeline runs, evaluations, approvals, alias moves, trigger firings, dataset versions,
alerts and monitor windows. Read only; every statement is in :mod:`assay.store.statements`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assay.store import statements as sql

if TYPE_CHECKING:
    from assay.config import AssayConfig, PromotionPolicy
    from assay.store import Store

FINISHED = ("completed", "rolled_back", "aborted")
"""States of a rollout that ended."""
WITHDRAWN = ("rolled_back", "aborted")
"""States of a rollout whose candidate was taken out of traffic."""


@dataclass(frozen=True)
class RolloutRecord:
    """One rollout, as the report needs it."""

    id: int
    deployment: str
    model: str
    version: int
    from_version: int | None
    state: str
    alias: str | None
    git_commit: str | None
    started_at: float
    ended_at: float | None

    @property
    def ref(self) -> str:
        return f"{self.model}:{self.version}"


@dataclass(frozen=True)
class VersionRecord:
    """One registered model version: its run, registration time and lineage."""

    name: str
    version: int
    run_id: str | None
    """The run that registered it (recorded with the version, else named by its lineage)."""
    created_at: float
    git_commit: str | None
    datasets: tuple[tuple[str | None, str], ...]
    """(dataset name, content hash) of the data it was trained on."""


@dataclass(frozen=True)
class RunRecord:
    id: str
    status: str
    started_at: float
    git_commit: str | None


@dataclass(frozen=True)
class EvaluationRecord:
    id: int
    passed: bool
    created_at: float


@dataclass(frozen=True)
class ApprovalRecord:
    name: str
    version: int
    target: str
    decision: str
    created_at: float


@dataclass(frozen=True)
class AliasMoveRecord:
    name: str
    alias: str
    version: int | None
    previous_version: int | None
    action: str
    ts: float


@dataclass(frozen=True)
class FiringRecord:
    """A monitor trigger's firing that started a rollout."""

    id: int
    trigger: str
    state: str
    rollout_id: int
    window_id: int | None
    created_at: float


@dataclass(frozen=True)
class AlertRecord:
    """One ``alert.sent`` event (a finding delivered to a channel)."""

    finding: str
    monitor: str | None
    window_id: int | None
    ts: float


@dataclass(frozen=True)
class History:
    """Everything the report counts, as of one read of the store."""

    rollouts: tuple[RolloutRecord, ...]
    versions: Mapping[tuple[str, int], VersionRecord]
    runs: Mapping[str, RunRecord]
    evaluations: tuple[EvaluationRecord, ...]
    approvals: tuple[ApprovalRecord, ...]
    moves: tuple[AliasMoveRecord, ...]
    firings: tuple[FiringRecord, ...]
    data_created: Mapping[str, tuple[tuple[str, float], ...]]
    """content hash -> (dataset name, created_at) of every version recorded with it."""
    alerts: tuple[AlertRecord, ...]
    windows: Mapping[int, tuple[str, float]]
    """monitor window id -> (deployment, recorded at)."""
    promotion: Mapping[str, PromotionPolicy] = field(default_factory=dict)
    deployment_aliases: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    """deployment name -> (model, alias) from assay.yaml."""

    def alias_of(self, rollout: RolloutRecord) -> str | None:
        """The alias the rollout's deployment follows (recorded with it, else assay.yaml's)."""
        if rollout.alias:
            return rollout.alias
        configured = self.deployment_aliases.get(rollout.deployment)
        return configured[1] if configured else None

    def is_production(self, rollout: RolloutRecord) -> bool:
        """True when the rollout went to a deployment that serves users."""
        from assay.config import serves_users

        alias = self.alias_of(rollout)
        return alias is not None and serves_users(self.promotion, alias)


def _json_dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _version_record(row: tuple[Any, ...]) -> VersionRecord:
    name, version, run_id, created_at, meta = row
    lineage = _json_dict(_json_dict(_json_dict(meta).get("package")).get("lineage"))
    datasets = tuple(
        (d.get("name"), str(d.get("hash") or d.get("oid")))
        for d in lineage.get("datasets") or []
        if isinstance(d, dict) and (d.get("hash") or d.get("oid")))
    return VersionRecord(str(name), int(version), run_id or lineage.get("run_id") or None,
                         float(created_at), lineage.get("git_commit") or None, datasets)


def _rollout_record(row: tuple[Any, ...]) -> RolloutRecord:
    (rollout_id, deployment, model, version, from_version, _strategy, state, *_rest) = row
    details = _json_dict(row[15])
    ended = row[18]
    return RolloutRecord(
        int(rollout_id), str(deployment), str(model), int(version),
        None if from_version is None else int(from_version), str(state),
        details.get("alias") or None, details.get("git_commit") or None, float(row[16]),
        None if ended is None else float(ended))


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def load_history(store: Store, config: AssayConfig | None, *, since: float,
                 until: float) -> History:
    """Read the delivery history: every rollout, version, run, approval, alias move and
    firing (what came after a window still says whether a change in it failed and when service
    came back), and the alerts and evaluations of ``[since, until)``.

    Args:
        store: the metadata store (only read).
        config: the project's assay.yaml (which aliases serve users, which alias each
            deployment follows); None uses the default rule (production, prod, live).
        since: the earliest moment a report window starts.
        until: the latest moment a report window ends.
    """
    with store.read() as conn:
        rollouts = tuple(_rollout_record(r) for r in conn.execute(sql.DELIVERY_ROLLOUTS))
        versions = {(v.name, v.version): v for v in map(
            _version_record, conn.execute(sql.DELIVERY_MODEL_VERSIONS))}
        runs = {str(r[0]): RunRecord(str(r[0]), str(r[1]), float(r[3]), r[5])
                for r in conn.execute(sql.DELIVERY_PIPELINE_RUNS)}
        evaluations = tuple(
            EvaluationRecord(int(r[0]), bool(r[1]), float(r[2]))
            for r in conn.execute(sql.DELIVERY_EVALUATIONS, {"since": since, "until": until}))
        approvals = tuple(
            ApprovalRecord(str(r[0]), int(r[1]), str(r[2]), str(r[4]), float(r[5]))
            for r in conn.execute(sql.DELIVERY_APPROVALS))
        moves = tuple(
            AliasMoveRecord(str(r[0]), str(r[1]), _int_or_none(r[2]), _int_or_none(r[3]),
                            str(r[4]), float(r[6]))
            for r in conn.execute(sql.DELIVERY_ALIAS_MOVES))
        firings = tuple(
            FiringRecord(int(r[0]), str(r[1]), str(r[4]), int(r[7]),
                         _int_or_none(_json_dict(r[11]).get("window_id")), float(r[13]))
            for r in conn.execute(sql.DELIVERY_FIRINGS))
        data_created: dict[str, list[tuple[str, float]]] = {}
        for name, digest, created_at in conn.execute(sql.DELIVERY_DATASET_VERSIONS):
            data_created.setdefault(str(digest), []).append((str(name), float(created_at)))
    alerts = tuple(
        AlertRecord(e.subject, e.details.get("monitor"), _int_or_none(e.details.get("window_id")),
                    e.ts)
        for e in store.events(kind="alert.sent", since=since) if e.ts < until)
    wanted = sorted({i for i in [*(a.window_id for a in alerts), *(f.window_id for f in firings)]
                     if i is not None})
    windows: dict[int, tuple[str, float]] = {}
    with store.read() as conn:
        for start in range(0, len(wanted), sql.MAX_IN):
            for window_id, deployment, created_at in conn.execute(
                    *sql.monitor_windows_by_id(wanted[start:start + sql.MAX_IN])):
                windows[int(window_id)] = (str(deployment or ""), float(created_at))
    promotion: Mapping[str, PromotionPolicy] = {} if config is None else config.promotion
    deployment_aliases = {} if config is None else {
        name: (d.model_name, d.alias) for name, d in config.deployments.items()}
    return History(
        rollouts=rollouts, versions=versions, runs=runs, evaluations=evaluations,
        approvals=approvals, moves=moves, firings=firings,
        data_created={k: tuple(v) for k, v in data_created.items()}, alerts=alerts,
        windows=windows, promotion=promotion, deployment_aliases=deployment_aliases)
