"""Every table of the metadata store (SQLAlchemy Core). Migrations in ``migrations/`` build them.

A test compares a migrated database with this metadata, so the two never drift apart.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Times are UNIX seconds (float, UTC): portable across SQLite and PostgreSQL, cheap to compare.

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", Float, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("subject", String(512), nullable=False, server_default=""),
    Column("details", JSON, nullable=False),
)
Index("ix_events_kind_ts", events.c.kind, events.c.ts)
Index("ix_events_subject", events.c.subject)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    Column("path", Text, nullable=False),
    Column("hash", String(80), nullable=False),
    Column("kind", String(16), nullable=False),  # file | dir
    Column("size", BigInteger, nullable=False),
    Column("nfiles", BigInteger, nullable=False),
    Column("rows", BigInteger),
    Column("schema", JSON),
    Column("profile", JSON),
    Column("git_commit", String(64)),
    Column("actor", String(255), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("message", Text),
    UniqueConstraint("name", "hash"),
)
Index("ix_dataset_versions_hash", dataset_versions.c.hash)

runs = Table(
    "runs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(255)),
    Column("kind", String(16), nullable=False),  # pipeline | adhoc
    Column("trigger", String(16), nullable=False),  # manual | ci | schedule | data | drift
    Column("status", String(16), nullable=False),  # running | succeeded | failed | interrupted
    Column("profile", String(64)),
    Column("git_commit", String(64)),
    Column("git_dirty", Boolean),
    Column("actor", String(255), nullable=False),
    Column("env_hash", String(80)),
    Column("started_at", Float, nullable=False),
    Column("ended_at", Float),
    Column("exit_code", Integer),
    Column("details", JSON),
)
Index("ix_runs_started_at", runs.c.started_at)

stage_runs = Table(
    "stage_runs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("run_id", String(36), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("stage", String(255), nullable=False),
    Column("group", String(255)),  # matrix group name, or NULL
    Column("status", String(16), nullable=False),  # running | succeeded | failed | cached | skipped
    Column("cache_key", String(80)),
    Column("cached", Boolean, nullable=False, server_default="0"),
    Column("attempt", Integer, nullable=False, server_default="1"),
    Column("started_at", Float, nullable=False),
    Column("ended_at", Float),
    Column("exit_code", Integer),
    Column("log_path", Text),
    Column("details", JSON),
)
Index("ix_stage_runs_run_id", stage_runs.c.run_id)
Index("ix_stage_runs_stage", stage_runs.c.stage)
Index("ix_stage_runs_started_at", stage_runs.c.started_at)

params = Table(
    "params",
    metadata,
    Column("stage_run_id", String(36), ForeignKey("stage_runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False),  # JSON-encoded
)

metrics = Table(
    "metrics",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("stage_run_id", String(36), ForeignKey("stage_runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(255), nullable=False),
    Column("value", Float),  # NULL only for NaN (see assay.store._metric_values)
    Column("step", BigInteger, nullable=False, server_default="0"),
    Column("ts", Float, nullable=False),
    Column("value_kind", String(8)),  # NULL: ``value`` as is; 'nan'; '-0' (negative zero)
)
Index("ix_metrics_run_key", metrics.c.stage_run_id, metrics.c.key)

tags = Table(
    "tags",
    metadata,
    Column("stage_run_id", String(36), ForeignKey("stage_runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("stage_run_id", String(36), ForeignKey("stage_runs.id", ondelete="CASCADE"), nullable=False),
    Column("path", Text, nullable=False),
    Column("hash", String(80), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),  # out | artifact | model | metrics | report
)
Index("ix_artifacts_stage_run", artifacts.c.stage_run_id)
Index("ix_artifacts_hash", artifacts.c.hash)

contract_results = Table(
    "contract_results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("contract", String(255), nullable=False),
    Column("data_hash", String(80)),
    Column("dataset_version_id", Integer, ForeignKey("dataset_versions.id", ondelete="SET NULL")),
    Column("stage_run_id", String(36), ForeignKey("stage_runs.id", ondelete="SET NULL")),
    Column("passed", Boolean, nullable=False),
    Column("errors", Integer, nullable=False),
    Column("warnings", Integer, nullable=False),
    Column("report", JSON, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("created_at", Float, nullable=False),
)
Index("ix_contract_results_data_hash", contract_results.c.data_hash)

logged_models = Table(
    "logged_models",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("stage_run_id", String(36), ForeignKey("stage_runs.id", ondelete="SET NULL")),
    Column("name", String(255), nullable=False),
    Column("hash", String(80), nullable=False),
    Column("flavor", String(32), nullable=False),
    Column("task", String(32)),
    Column("meta", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
)
Index("ix_logged_models_hash", logged_models.c.hash)

evaluations = Table(
    "evaluations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("stage_run_id", String(36), ForeignKey("stage_runs.id", ondelete="SET NULL")),
    Column("stage", String(255), nullable=False),
    Column("selected_hash", String(80)),
    Column("passed", Boolean, nullable=False),
    Column("report", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
)

registered_models = Table(
    "registered_models",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("description", Text),
    Column("created_at", Float, nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), ForeignKey("registered_models.name", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("model_hash", String(80), nullable=False),
    Column("stage_run_id", String(36), ForeignKey("stage_runs.id", ondelete="SET NULL")),
    Column("run_id", String(36)),
    Column("evaluation_id", Integer, ForeignKey("evaluations.id", ondelete="SET NULL")),
    Column("author", String(255), nullable=False),
    Column("gates_passed", Boolean, nullable=False),
    Column("meta", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("name", "version"),
)

aliases = Table(
    "aliases",
    metadata,
    Column("name", String(255), ForeignKey("registered_models.name", ondelete="CASCADE"), primary_key=True),
    Column("alias", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("revision", Integer, nullable=False, server_default="1"),  # optimistic concurrency
    Column("updated_at", Float, nullable=False),
    Column("actor", String(255), nullable=False),
)

alias_history = Table(
    "alias_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    Column("alias", String(64), nullable=False),
    Column("version", Integer),  # NULL when the alias was removed
    Column("previous_version", Integer),
    Column("action", String(16), nullable=False),  # promote | rollback | remove
    Column("actor", String(255), nullable=False),
    Column("ts", Float, nullable=False),
)
Index("ix_alias_history_name_alias", alias_history.c.name, alias_history.c.alias)

approvals = Table(
    "approvals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    Column("version", Integer, nullable=False),
    Column("target", String(64), nullable=False),
    Column("actor", String(255), nullable=False),
    Column("roles", JSON, nullable=False),
    Column("decision", String(16), nullable=False),  # approve | reject
    Column("comment", Text),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("name", "version", "target", "actor"),
)

# What a deployment serves now (one row per deployment name); `assay serve --deployment NAME`
# reads it, and a rollout controller changes it one revision at a time.
deployments = Table(
    "deployments",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("model", String(255), nullable=False),
    Column("stable_version", Integer),  # all traffic outside a rollout
    Column("candidate_version", Integer),
    Column("candidate_weight", Float, nullable=False, server_default="0"),
    Column("mode", String(16), nullable=False, server_default="split"),  # split | shadow
    Column("rollout_id", Integer),
    Column("revision", Integer, nullable=False, server_default="1"),
    Column("updated_at", Float, nullable=False),
)

# Every rollout of a version to a deployment: its plan, state, steps, guard decisions, and who
# did what; the controller's state lives here, so a killed controller resumes or rolls back.
rollouts = Table(
    "rollouts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("deployment", String(255), nullable=False),
    Column("model", String(255), nullable=False),
    Column("version", Integer, nullable=False),
    Column("from_version", Integer),
    Column("strategy", String(16), nullable=False),
    Column("state", String(16), nullable=False),  # running | paused | completed | rolled_back | aborted
    Column("step", Integer, nullable=False, server_default="0"),
    Column("weight", Float, nullable=False, server_default="0"),
    Column("request", String(16)),  # pause | resume | abort | promote_now, asked by a person
    Column("requested_by", String(255)),
    Column("reason", Text),
    Column("actor", String(255), nullable=False),
    Column("controller", String(128)),
    Column("heartbeat", Float),
    Column("details", JSON, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("ended_at", Float),
)
Index("ix_rollouts_deployment", rollouts.c.deployment, rollouts.c.id)
Index("ix_rollouts_model_version", rollouts.c.model, rollouts.c.version)

# One window of a deployment monitor: which prediction-log rows it read, against which reference,
# the verdict and every column's decision (assay monitor NAME; assay monitor history NAME).
monitor_windows = Table(
    "monitor_windows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("monitor", String(255), nullable=False),
    Column("deployment", String(255), nullable=False),
    Column("model", String(255), nullable=False),
    Column("versions", JSON, nullable=False),  # the model versions that answered the rows
    Column("window_start", Float),  # ts of the oldest and newest row (None: an empty window)
    Column("window_end", Float),
    Column("rows", BigInteger, nullable=False),
    Column("verdict", String(32), nullable=False),  # drift | no_drift | insufficient_data | ...
    Column("columns", JSON, nullable=False),  # per column: status, statistic, value, p-value
    Column("reference", Text, nullable=False),  # the reference data's label
    Column("reference_hash", String(80)),
    Column("actor", String(255), nullable=False),
    Column("created_at", Float, nullable=False),
)
Index("ix_monitor_windows_monitor", monitor_windows.c.monitor, monitor_windows.c.id)

# One firing of a trigger (assay watch, assay triggers fire): at most one per (trigger, cause),
# so a cause fires once even across a crash; its state follows the run, the registered version
# and the rollout it started.
trigger_firings = Table(
    "trigger_firings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("trigger", String(255), nullable=False),
    Column("cause", String(512), nullable=False),  # window:17, data:churn:<hash>, schedule:<iso>
    Column("kind", String(16), nullable=False),  # monitor | data | schedule | manual
    # pending | running | awaiting_approval | deploying | done | failed
    Column("state", String(24), nullable=False),
    Column("run_id", String(36)),
    Column("version", Integer),  # the model version the run registered
    Column("rollout_id", Integer),
    Column("reason", Text),
    Column("owner", String(128)),  # the assay watch (or command) working on it
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("details", JSON, nullable=False),  # the cause's facts: window, dataset version, slot
    Column("actor", String(255), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("trigger", "cause"),
)
Index("ix_trigger_firings_trigger", trigger_firings.c.trigger, trigger_firings.c.id)

# Facts about the store itself; ``instance_id`` names this database (a new store, say a fresh
# clone's local SQLite file, gets a new one), so work whose effect lives in the store is cached
# per store (see KindPlan.store_effects).
store_info = Table(
    "store_info",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)


def sqlite_ddl() -> list[str]:
    """The statements ``metadata.create_all`` runs on SQLite (tables sorted by dependency, each
    followed by its indexes). :data:`assay.store._sqlite_schema.STATEMENTS` holds them for
    stores created without SQLAlchemy; a test keeps the two equal
    (regenerate with ``python scripts/gen_sqlite_schema.py``)."""
    from sqlalchemy.dialects import sqlite
    from sqlalchemy.schema import CreateIndex, CreateTable

    dialect = sqlite.dialect()
    out = []
    for table in metadata.sorted_tables:
        out.append(str(CreateTable(table).compile(dialect=dialect)).strip())
        out.extend(str(CreateIndex(index).compile(dialect=dialect)).strip()
                   for index in sorted(table.indexes, key=lambda i: str(i.name)))
    return out
