"""Every SQL statement assay runs, written once, with ``:name`` placeholders.

The same text runs on every store (:class:`assay.store.SqliteStore` through ``sqlite3``,
:class:`assay.store.SqlAlchemyStore` on SQLite or PostgreSQL), so it is portable SQL: identifiers
that are keywords somewhere (``"key"``, ``"trigger"``, ``"group"``) are quoted, upserts are
``ON CONFLICT ... DO UPDATE``, inserted ids come from ``RETURNING``. A statement names its JSON
parameters and JSON result columns; the store encodes and decodes those (see
:mod:`assay.store._protocol`), so callers pass and get plain Python values.

Queries whose shape depends on the question (``IN`` lists, optional filters) are built by the
functions below from fixed text and whitelisted names, never from caller-supplied SQL; each
returns the statement and its parameters: ``conn.execute(*metric_points_of(ids))``.

The tables themselves are defined once, in :mod:`assay.store._tables` (SQLAlchemy metadata and
Alembic migrations); the SQLite DDL for stores created without SQLAlchemy is generated from them
(:mod:`assay.store._sqlite_schema`). Standard library only: the fast paths import this module.

To add a statement: write it here (one constant, or one builder for a dynamic shape), name its
JSON parameters and columns, and cover it in ``tests/store/test_backends.py``, which runs on
every store implementation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Statement:
    """One SQL statement with ``:name`` placeholders.

    Attributes:
        sql: the text, the same on every backend.
        json_params: parameters bound to JSON columns (passed as Python values, encoded once).
        json_columns: result columns holding JSON (returned as Python values).
        defaults: values of parameters a caller may leave out (an INSERT's optional columns),
            so that a new nullable column is added here and nowhere else.
    """

    sql: str
    json_params: frozenset[str] = frozenset()
    json_columns: frozenset[str] = frozenset()
    defaults: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)


Query = tuple[Statement, dict[str, Any]]
"""A statement built for one question, with its parameters."""

MAX_IN = 500
"""Most values one ``IN (...)`` list binds (callers ask in chunks of this many)."""


def _sql(text: str, *, json_params: tuple[str, ...] = (), json_columns: tuple[str, ...] = (),
         defaults: Mapping[str, Any] | None = None) -> Statement:
    return Statement(" ".join(text.split()), frozenset(json_params), frozenset(json_columns),
                     dict(defaults or {}))


def _in_list(prefix: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """``(":p0, :p1", {"p0": ..., "p1": ...})`` for an ``IN (...)`` of ``values``."""
    if not values or len(values) > MAX_IN:
        raise ValueError(f"an IN list takes 1 to {MAX_IN} values, got {len(values)}")
    params = {f"{prefix}{i}": value for i, value in enumerate(values)}
    return ", ".join(f":{key}" for key in params), params


# -- the store itself ----------------------------------------------------------------------

SQLITE_TABLES = _sql("SELECT name FROM sqlite_master WHERE type = 'table'")
"""(SQLite only) the tables of a database file: empty for a new store."""

SCHEMA_REVISION = _sql("SELECT version_num FROM alembic_version")

ALEMBIC_VERSION_DDL = _sql(
    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
    "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))")
"""The version table exactly as Alembic creates it (so later migrations upgrade from the stamp)."""

STAMP_REVISION = _sql("INSERT INTO alembic_version (version_num) VALUES (:revision)")

MIGRATION_LOCK = _sql("SELECT pg_advisory_lock(:key)")
"""(PostgreSQL) wait for the one migrator's lock; held until :data:`MIGRATION_UNLOCK`."""

MIGRATION_UNLOCK = _sql("SELECT pg_advisory_unlock(:key)")

WAL_CHECKPOINT = _sql("PRAGMA wal_checkpoint(FULL)")
"""(SQLite) everything into the main file (before it is copied as a backup)."""

INSTANCE_ID = _sql("""SELECT value FROM store_info WHERE "key" = 'instance_id'""")
"""The store's identity (a random id made with its schema): a fresh clone's store has a new one."""

NEW_INSTANCE_ID = _sql("""INSERT INTO store_info ("key", value) VALUES ('instance_id', :value)""")


# -- events --------------------------------------------------------------------------------

INSERT_EVENT = _sql(
    "INSERT INTO events (ts, actor, kind, subject, details) "
    "VALUES (:ts, :actor, :kind, :subject, :details) RETURNING id",
    json_params=("details",))


def events_query(*, kind: str | None = None, subject: str | None = None,
                 since: float | None = None, limit: int | None = None) -> Query:
    """Events, oldest first; ``kind`` ending in ``.`` matches a family (``data.``)."""
    where: list[str] = []
    params: dict[str, Any] = {}
    if kind is not None:
        if kind.endswith("."):
            where.append("kind LIKE :kind")
            params["kind"] = kind + "%"
        else:
            where.append("kind = :kind")
            params["kind"] = kind
    if subject is not None:
        where.append("subject = :subject")
        params["subject"] = subject
    if since is not None:
        where.append("ts >= :since")
        params["since"] = since
    text = "SELECT id, ts, actor, kind, subject, details FROM events"
    if where:
        text += " WHERE " + " AND ".join(where)
    text += " ORDER BY id"
    if limit is not None:
        text += " LIMIT :limit"
        params["limit"] = limit
    return _sql(text, json_columns=("details",)), params


# -- runs and stage runs -------------------------------------------------------------------

INSERT_RUN = _sql(
    """INSERT INTO runs (id, name, kind, "trigger", status, profile, git_commit, git_dirty,
    actor, env_hash, started_at, ended_at, exit_code, details) VALUES (:id, :name, :kind,
    :trigger, :status, :profile, :git_commit, :git_dirty, :actor, :env_hash, :started_at,
    :ended_at, :exit_code, :details)""",
    json_params=("details",),
    defaults={"name": None, "profile": None, "git_commit": None, "git_dirty": None,
              "env_hash": None, "ended_at": None, "exit_code": None, "details": {}})
"""A new run: ``id``, ``kind``, ``trigger``, ``status``, ``actor`` and ``started_at`` are
required, the other columns default to NULL (``details`` to ``{}``)."""

FINISH_RUN = _sql(
    "UPDATE runs SET status = :status, ended_at = :ended_at, exit_code = :exit_code "
    "WHERE id = :id")

FINISH_RUN_WITH_DETAILS = _sql(
    "UPDATE runs SET status = :status, ended_at = :ended_at, exit_code = :exit_code, "
    "details = :details WHERE id = :id",
    json_params=("details",))

RUNNING_PIPELINE_RUNS = _sql(
    "SELECT id, details FROM runs WHERE status = 'running' AND kind = 'pipeline'",
    json_columns=("details",))

INTERRUPT_RUN = _sql(
    "UPDATE runs SET status = 'interrupted', ended_at = :ended_at, details = :details "
    "WHERE id = :id AND status = 'running'",
    json_params=("details",))
"""Mark a run whose runner died; ``rowcount`` 0 if it was no longer running."""

INSERT_STAGE_RUN = _sql(
    """INSERT INTO stage_runs (id, run_id, stage, "group", status, cache_key, cached, attempt,
    started_at, ended_at, exit_code, log_path, details) VALUES (:id, :run_id, :stage, :group,
    :status, :cache_key, :cached, :attempt, :started_at, :ended_at, :exit_code, :log_path,
    :details)""",
    json_params=("details",),
    defaults={"group": None, "cache_key": None, "cached": False, "attempt": 1,
              "ended_at": None, "exit_code": None, "log_path": None, "details": {}})
"""A new stage run: ``id``, ``run_id``, ``stage``, ``status`` and ``started_at`` are required."""

FINISH_STAGE_RUN = _sql(
    "UPDATE stage_runs SET status = :status, ended_at = :ended_at, exit_code = :exit_code "
    "WHERE id = :id")

FINISH_STAGE_RUN_WITH_DETAILS = _sql(
    "UPDATE stage_runs SET status = :status, ended_at = :ended_at, exit_code = :exit_code, "
    "details = :details WHERE id = :id",
    json_params=("details",))

END_RUNNING_STAGE_RUNS = _sql(
    "UPDATE stage_runs SET status = :status, ended_at = :ended_at, details = :details "
    "WHERE run_id = :run_id AND status = 'running'",
    json_params=("details",))
"""No stage run outlives its run: those still ``running`` end with it."""


# -- params, tags, metrics, artifacts ------------------------------------------------------

INSERT_PARAM = _sql(
    """INSERT INTO params (stage_run_id, "key", value) VALUES (:stage_run_id, :key, :value)""")

PUT_PARAM = _sql(
    """INSERT INTO params (stage_run_id, "key", value) VALUES (:stage_run_id, :key, :value)
    ON CONFLICT (stage_run_id, "key") DO UPDATE SET value = excluded.value""")
"""A param logged again overwrites the earlier value."""

PUT_TAG = _sql(
    """INSERT INTO tags (stage_run_id, "key", value) VALUES (:stage_run_id, :key, :value)
    ON CONFLICT (stage_run_id, "key") DO UPDATE SET value = excluded.value""")

INSERT_METRIC = _sql(
    """INSERT INTO metrics (stage_run_id, "key", value, value_kind, step, ts)
    VALUES (:stage_run_id, :key, :value, :value_kind, :step, :ts)""")
"""One point; ``value``/``value_kind`` as :func:`assay.store._metric_values.metric_columns`
encodes it (NaN and -0.0 survive every backend)."""

INSERT_ARTIFACT = _sql(
    "INSERT INTO artifacts (stage_run_id, path, hash, size, kind) "
    "VALUES (:stage_run_id, :path, :hash, :size, :kind)")


def metric_keys_of(stage_run_ids: Sequence[str]) -> Query:
    """(stage_run_id, key) of every point the stage runs logged."""
    marks, params = _in_list("i", stage_run_ids)
    return _sql(f"""SELECT stage_run_id, "key" FROM metrics WHERE stage_run_id IN ({marks})"""
                ), params


def metric_points_of(stage_run_ids: Sequence[str]) -> Query:
    """(stage_run_id, key, value, value_kind, step, id) of every point of the stage runs."""
    marks, params = _in_list("i", stage_run_ids)
    return _sql(f"""SELECT stage_run_id, "key", value, value_kind, step, id FROM metrics
                WHERE stage_run_id IN ({marks})"""), params


METRIC_POINTS_BY_KEY = _sql(
    """SELECT stage_run_id, step, id, value, value_kind FROM metrics WHERE "key" = :key""")

METRIC_HISTORY = _sql(
    """SELECT step, value, value_kind, ts FROM metrics WHERE stage_run_id = :stage_run_id
    AND "key" = :key ORDER BY step, id""")

METRIC_KEYS = _sql(
    """SELECT DISTINCT "key" FROM metrics WHERE stage_run_id = :stage_run_id""")

_KEY_VALUE_TABLES = ("params", "tags")


def key_values_of(table: str, stage_run_ids: Sequence[str]) -> Query:
    """(stage_run_id, key, value) of the stage runs' ``params`` or ``tags``."""
    if table not in _KEY_VALUE_TABLES:
        raise ValueError(f"not a key-value table: {table!r}")
    marks, params = _in_list("i", stage_run_ids)
    return _sql(f"""SELECT stage_run_id, "key", value FROM {table}
                WHERE stage_run_id IN ({marks})"""), params


def artifacts_of(stage_run_ids: Sequence[str]) -> Query:
    """(stage_run_id, path, hash, size, kind) of the stage runs' artifacts, in logged order."""
    marks, params = _in_list("i", stage_run_ids)
    return _sql(f"""SELECT stage_run_id, path, hash, size, kind FROM artifacts
                WHERE stage_run_id IN ({marks}) ORDER BY id"""), params


# -- reading tracked runs ------------------------------------------------------------------

STAGE_RUN_COLUMNS = (
    "s.id", "s.run_id", "s.stage", 's."group"', "s.status", "s.started_at", "s.ended_at",
    "s.cached", "s.exit_code", "s.attempt", "s.cache_key", "s.log_path", "r.kind", "r.name",
    'r."trigger"', "r.status", "r.profile", "r.git_commit", "r.git_dirty", "r.actor",
    "r.env_hash", "r.started_at", "r.ended_at", "r.exit_code",
)
"""What a stage-run row of the tracking queries holds, in order (its run's columns follow)."""

_STAGE_RUNS_FROM = (f"SELECT {', '.join(STAGE_RUN_COLUMNS)} "
                    "FROM stage_runs s JOIN runs r ON r.id = s.run_id")


def stage_run_list(*, stage: str | None = None, include_cached: bool = True,
                   params: Mapping[str, Sequence[str]] | None = None,
                   tags: Mapping[str, str] | None = None, limit: int | None = None) -> Query:
    """Stage runs (:data:`STAGE_RUN_COLUMNS`), newest first.

    Args:
        stage: a stage name or matrix group.
        include_cached: False leaves out cache hits.
        params: param name -> the stored texts that match (any of them).
        tags: tag name -> value.
        limit: at most this many rows.
    """
    joins: list[str] = []
    where: list[str] = []
    bound: dict[str, Any] = {}
    if stage:
        where.append('(s.stage = :stage OR s."group" = :stage)')
        bound["stage"] = stage
    if not include_cached:
        where.append("s.cached = :cached")
        bound["cached"] = False
    for n, (key, values) in enumerate((params or {}).items()):
        marks, values_bound = _in_list(f"pv{n}_", list(values))
        joins.append(f"""JOIN params p{n} ON p{n}.stage_run_id = s.id AND p{n}."key" = :pk{n}
                     AND p{n}.value IN ({marks})""")
        bound.update(values_bound, **{f"pk{n}": key})
    for n, (key, value) in enumerate((tags or {}).items()):
        joins.append(f"""JOIN tags t{n} ON t{n}.stage_run_id = s.id AND t{n}."key" = :tk{n}
                     AND t{n}.value = :tv{n}""")
        bound.update({f"tk{n}": key, f"tv{n}": value})
    text = " ".join([_STAGE_RUNS_FROM, *joins])
    if where:
        text += " WHERE " + " AND ".join(where)
    text += " ORDER BY s.started_at DESC, s.id"
    if limit is not None:
        text += " LIMIT :limit"
        bound["limit"] = limit
    return _sql(text), bound


def stage_runs_by_id(stage_run_ids: Sequence[str]) -> Query:
    """Stage runs (:data:`STAGE_RUN_COLUMNS`) by id."""
    marks, params = _in_list("i", stage_run_ids)
    return _sql(f"{_STAGE_RUNS_FROM} WHERE s.id IN ({marks})"), params


LAST_STAGE_RUN = _sql(
    """SELECT s.status, s.exit_code, s.run_id, s.details FROM stage_runs s
    WHERE s.stage = :stage AND s.status <> 'running' ORDER BY s.started_at DESC, s.id LIMIT 1""",
    json_columns=("details",))
"""How stage instance ``stage`` last ended (status, exit code, run id, details with its
``reason``): ``assay status`` says a stage that ran and failed failed."""

STAGE_RUNS_BY_PREFIX = _sql("SELECT id FROM stage_runs WHERE id LIKE :prefix LIMIT 3")
"""Up to 3 stage runs whose id starts with ``prefix`` (give ``prefix`` ending in ``%``)."""

STAGE_RUNS_BY_RUN_PREFIX = _sql(
    "SELECT id, run_id FROM stage_runs WHERE run_id LIKE :prefix ORDER BY started_at, id")

STAGE_RUN_ID = _sql("SELECT id FROM stage_runs WHERE id = :id")
"""The stage run ``id`` if it is recorded (rows that name a stage run keep it only then)."""


# -- datasets ------------------------------------------------------------------------------

DATASET_VERSION_ID = _sql("SELECT id FROM dataset_versions WHERE name = :name AND hash = :hash")

INSERT_DATASET_VERSION = _sql(
    """INSERT INTO dataset_versions (name, path, hash, kind, size, nfiles, rows, schema,
    profile, git_commit, actor, created_at, message) VALUES (:name, :path, :hash, :kind, :size,
    :nfiles, :rows, :schema, :profile, :git_commit, :actor, :created_at, :message)""",
    json_params=("schema", "profile"))

DATASET_VERSION_NUMBER = _sql(
    "SELECT count(*) FROM dataset_versions WHERE name = :name AND id <= "
    "(SELECT min(id) FROM dataset_versions WHERE name = :name AND hash = :hash)")
"""The version number of (name, hash): versions are numbered from 1 per name, in added order."""

DATASET_VERSIONS = _sql(
    """SELECT name, path, hash, kind, size, nfiles, rows, schema, profile, actor, created_at,
    git_commit, message FROM dataset_versions WHERE name = :name ORDER BY id""",
    json_columns=("schema", "profile"))

DATASET_NAMES = _sql("SELECT DISTINCT name FROM dataset_versions ORDER BY name")

DATASET_VERSIONS_OF_HASH = _sql(
    """SELECT d.id, d.name, d.created_at, d.git_commit, (SELECT count(*) FROM dataset_versions o
    WHERE o.name = d.name AND o.id <= d.id) FROM dataset_versions d WHERE d.hash = :hash
    ORDER BY d.id""")
"""(id, name, created_at, git_commit, version number) of every recorded version with this hash
(the same bytes may be a version of several names), oldest first."""


def contract_results_for(data_hashes: Sequence[str]) -> Query:
    """(data_hash, contract, passed, errors, warnings, created_at), oldest first."""
    marks, params = _in_list("h", data_hashes)
    return _sql(f"""SELECT data_hash, contract, passed, errors, warnings, created_at
                FROM contract_results WHERE data_hash IN ({marks})
                ORDER BY created_at, id"""), params


OBJECT_REFERENCES = _sql(
    """SELECT hash FROM dataset_versions
    UNION ALL SELECT hash FROM artifacts
    UNION ALL SELECT hash FROM logged_models
    UNION ALL SELECT model_hash FROM model_versions
    UNION ALL SELECT selected_hash FROM evaluations
    UNION ALL SELECT env_hash FROM runs""")
"""Every object id a row names (NULLs included): dataset versions, run artifacts and stage
outs, logged and registered models, selected candidates, run environments."""

MODEL_VERSION_METAS = _sql("SELECT meta FROM model_versions", json_columns=("meta",))


# -- registry ------------------------------------------------------------------------------

ALIAS_MODEL_HASH = _sql(
    "SELECT mv.model_hash FROM aliases a JOIN model_versions mv "
    "ON mv.name = a.name AND mv.version = a.version WHERE a.name = :name AND a.alias = :alias")
"""The model hash behind ``name@alias`` (no row while the alias is unset)."""

REGISTERED_MODELS = _sql("SELECT name, created_at FROM registered_models ORDER BY name")

REGISTERED_MODEL = _sql("SELECT name FROM registered_models WHERE name = :name")

INSERT_REGISTERED_MODEL = _sql(
    "INSERT INTO registered_models (name, created_at) VALUES (:name, :created_at)")

MODEL_VERSION_COLUMNS = ("name", "version", "model_hash", "author", "gates_passed", "created_at",
                         "run_id", "stage_run_id", "evaluation_id", "meta")
"""What a model-version row of :data:`MODEL_VERSION` and :data:`MODEL_VERSIONS` holds, in
order (``gates_passed`` is 0/1 on SQLite: read it with ``bool()``)."""

_MODEL_VERSIONS_FROM = f"SELECT {', '.join(MODEL_VERSION_COLUMNS)} FROM model_versions"

MODEL_VERSION = _sql(f"{_MODEL_VERSIONS_FROM} WHERE name = :name AND version = :version",
                     json_columns=("meta",))

MODEL_VERSIONS = _sql(f"{_MODEL_VERSIONS_FROM} WHERE name = :name ORDER BY version",
                      json_columns=("meta",))

LATEST_MODEL_VERSION = _sql("SELECT max(version) FROM model_versions WHERE name = :name")
"""The highest version number of ``name`` (NULL before the first)."""

MODEL_VERSION_COUNTS = _sql(
    "SELECT name, count(*), max(version) FROM model_versions GROUP BY name")
"""(name, number of versions, latest version) of every model with a version."""

MODEL_VERSION_OF_HASH = _sql(
    "SELECT version FROM model_versions WHERE name = :name AND model_hash = :hash "
    "ORDER BY version LIMIT 1")
"""The version of ``name`` that holds the package ``hash`` (registering it again finds it)."""

MODEL_HASH = _sql(
    "SELECT model_hash FROM model_versions WHERE name = :name AND version = :version")

INSERT_MODEL_VERSION = _sql(
    """INSERT INTO model_versions (name, version, model_hash, stage_run_id, run_id,
    evaluation_id, author, gates_passed, meta, created_at) VALUES (:name, :version, :model_hash,
    :stage_run_id, :run_id, :evaluation_id, :author, :gates_passed, :meta, :created_at)""",
    json_params=("meta",),
    defaults={"stage_run_id": None, "run_id": None, "evaluation_id": None})
"""A new version; two writers that took the same number break ``(name, version)``'s
uniqueness (:class:`~assay.errors.ConstraintViolation`), and the loser retries."""

RUN_ACTOR = _sql("SELECT actor FROM runs WHERE id = :id")

RUN_OF_LOGGED_MODEL = _sql(
    "SELECT s.run_id, s.id FROM logged_models l JOIN stage_runs s ON s.id = l.stage_run_id "
    "WHERE l.hash = :hash ORDER BY l.id DESC LIMIT 1")
"""(run id, stage run id) that most recently logged the package ``hash``."""

SELECTED_EVALUATION = _sql(
    "SELECT id FROM evaluations WHERE stage = :stage AND selected_hash = :hash "
    "ORDER BY id DESC LIMIT 1")
"""The latest evaluation of stage ``stage`` that selected the package ``hash``."""

ALIASES_OF = _sql("SELECT alias, version FROM aliases WHERE name = :name ORDER BY alias")

ALIAS_REVISION = _sql(
    "SELECT version, revision FROM aliases WHERE name = :name AND alias = :alias")
"""(version, revision) of ``name@alias``; no row while the alias is unset."""

INSERT_ALIAS = _sql(
    "INSERT INTO aliases (name, alias, version, revision, updated_at, actor) "
    "VALUES (:name, :alias, :version, 1, :updated_at, :actor)")
"""A new alias at revision 1; of two writers creating it, the second breaks the primary key
(:class:`~assay.errors.ConstraintViolation`): it lost the race."""

MOVE_ALIAS = _sql(
    "UPDATE aliases SET version = :version, revision = revision + 1, updated_at = :updated_at, "
    "actor = :actor WHERE name = :name AND alias = :alias AND revision = :revision")
"""Compare-and-set: the alias moves only from the ``revision`` the caller decided on
(``rowcount`` 0: another move came first)."""

INSERT_ALIAS_MOVE = _sql(
    "INSERT INTO alias_history (name, alias, version, previous_version, action, actor, ts) "
    "VALUES (:name, :alias, :version, :previous_version, :action, :actor, :ts)")


def alias_moves(name: str, alias: str | None = None) -> Query:
    """(alias, version, previous_version, action, actor, ts) of every move of ``name``'s
    aliases (or of one alias), oldest first."""
    text = ("SELECT alias, version, previous_version, action, actor, ts FROM alias_history "
            "WHERE name = :name")
    params: dict[str, Any] = {"name": name}
    if alias is not None:
        text += " AND alias = :alias"
        params["alias"] = alias
    return _sql(text + " ORDER BY id"), params


def approvals_of(name: str, version: int, target: str | None = None) -> Query:
    """(target, actor, roles, decision, comment, created_at) of the decisions on
    ``name:version`` (for one target alias, or all), oldest first."""
    text = ("SELECT target, actor, roles, decision, comment, created_at FROM approvals "
            "WHERE name = :name AND version = :version")
    params: dict[str, Any] = {"name": name, "version": version}
    if target is not None:
        text += " AND target = :target"
        params["target"] = target
    return _sql(text + " ORDER BY id", json_columns=("roles",)), params


INSERT_APPROVAL = _sql(
    """INSERT INTO approvals (name, version, target, actor, roles, decision, comment,
    created_at) VALUES (:name, :version, :target, :actor, :roles, :decision, :comment,
    :created_at)""",
    json_params=("roles",))
"""One decision; a second by the same actor on the same version and target breaks
uniqueness (:class:`~assay.errors.ConstraintViolation`)."""

DELETE_APPROVAL = _sql(
    "DELETE FROM approvals WHERE name = :name AND version = :version AND target = :target "
    "AND actor = :actor")
"""An actor's decision (an expired one is deleted before it is renewed)."""

RUN_SUMMARY = _sql(
    """SELECT id, status, "trigger", actor, git_commit, started_at, profile, details FROM runs
    WHERE id = :id""", json_columns=("details",))

STAGE_RUNS_OF_RUN = _sql(
    "SELECT id, stage, status, cached FROM stage_runs WHERE run_id = :run_id "
    "ORDER BY started_at")

DEPLOYMENTS_OF_VERSION = _sql(
    "SELECT id, deployment AS target, state, weight AS traffic FROM rollouts "
    "WHERE model = :name AND version = :version ORDER BY id")
"""The rollouts of one model version (lineage's ``deployments``)."""


# -- deployments and rollouts --------------------------------------------------------------

_DEPLOYMENT_COLUMNS = ("name, model, stable_version, candidate_version, candidate_weight, mode, "
                       "rollout_id, revision, updated_at")

DEPLOYMENT = _sql(f"SELECT {_DEPLOYMENT_COLUMNS} FROM deployments WHERE name = :name")
"""What one deployment serves now (``assay serve --deployment NAME`` polls this)."""

DEPLOYMENTS = _sql(f"SELECT {_DEPLOYMENT_COLUMNS} FROM deployments ORDER BY name")

INSERT_DEPLOYMENT = _sql(
    "INSERT INTO deployments (name, model, stable_version, candidate_version, candidate_weight, "
    "mode, rollout_id, revision, updated_at) VALUES (:name, :model, :stable_version, NULL, 0, "
    "'split', NULL, 1, :updated_at) ON CONFLICT (name) DO NOTHING")
"""A deployment's first row (its stable version); nothing if it exists."""

UPDATE_DEPLOYMENT = _sql(
    "UPDATE deployments SET stable_version = :stable_version, "
    "candidate_version = :candidate_version, candidate_weight = :candidate_weight, "
    "mode = :mode, rollout_id = :rollout_id, revision = revision + 1, updated_at = :updated_at "
    "WHERE name = :name AND revision = :revision")
"""Compare-and-set: a new revision of what the deployment serves, from the ``revision`` the
caller read (``rowcount`` 0: another change came first)."""

_ROLLOUT_COLUMNS = ("id, deployment, model, version, from_version, strategy, state, step, weight, "
                    "request, requested_by, reason, actor, controller, heartbeat, details, "
                    "started_at, updated_at, ended_at")

INSERT_ROLLOUT = _sql(
    "INSERT INTO rollouts (deployment, model, version, from_version, strategy, state, step, "
    "weight, actor, details, started_at, updated_at) VALUES (:deployment, :model, :version, "
    ":from_version, :strategy, :state, 0, :weight, :actor, :details, :started_at, :started_at) "
    "RETURNING id",
    json_params=("details",))

ROLLOUT = _sql(f"SELECT {_ROLLOUT_COLUMNS} FROM rollouts WHERE id = :id",
               json_columns=("details",))

ROLLOUTS_OF_DEPLOYMENT = _sql(
    f"SELECT {_ROLLOUT_COLUMNS} FROM rollouts WHERE deployment = :deployment "
    "ORDER BY id DESC LIMIT :limit",
    json_columns=("details",))
"""A deployment's rollouts, newest first."""

ROLLOUTS_SINCE = _sql(
    f"SELECT {_ROLLOUT_COLUMNS} FROM rollouts WHERE started_at >= :since ORDER BY id",
    json_columns=("details",))

ACTIVE_ROLLOUT = _sql(
    f"SELECT {_ROLLOUT_COLUMNS} FROM rollouts WHERE deployment = :deployment "
    "AND state IN ('running', 'paused') ORDER BY id DESC LIMIT 1",
    json_columns=("details",))

UPDATE_ROLLOUT = _sql(
    "UPDATE rollouts SET state = :state, step = :step, weight = :weight, reason = :reason, "
    "details = :details, request = :request, requested_by = :requested_by, "
    "updated_at = :updated_at, ended_at = :ended_at WHERE id = :id",
    json_params=("details",))

CLAIM_ROLLOUT = _sql(
    "UPDATE rollouts SET controller = :controller, heartbeat = :now WHERE id = :id "
    "AND state IN ('running', 'paused') AND (controller IS NULL OR controller = :controller "
    "OR heartbeat IS NULL OR heartbeat < :stale)")
"""The lease on a rollout: taken (``rowcount`` 1) when free, ours, or its controller's heartbeat
is older than ``stale``; renewed by the same call."""

REQUEST_ROLLOUT = _sql(
    "UPDATE rollouts SET request = :request, requested_by = :requested_by, "
    "updated_at = :updated_at WHERE id = :id AND state IN ('running', 'paused')")
"""A person's request (pause, resume, abort, promote_now) for the rollout's controller."""


# -- monitor windows ------------------------------------------------------------------------

_MONITOR_WINDOW_COLUMNS = ("id, monitor, deployment, model, versions, window_start, window_end, "
                           "rows, verdict, columns, reference, reference_hash, actor, created_at")

INSERT_MONITOR_WINDOW = _sql(
    "INSERT INTO monitor_windows (monitor, deployment, model, versions, window_start, "
    "window_end, rows, verdict, columns, reference, reference_hash, actor, created_at) VALUES "
    "(:monitor, :deployment, :model, :versions, :window_start, :window_end, :rows, :verdict, "
    ":columns, :reference, :reference_hash, :actor, :created_at) RETURNING id",
    json_params=("versions", "columns"))

MONITOR_WINDOWS = _sql(
    f"SELECT {_MONITOR_WINDOW_COLUMNS} FROM monitor_windows WHERE monitor = :monitor "
    "ORDER BY id DESC LIMIT :limit",
    json_columns=("versions", "columns"))
"""A monitor's windows, newest first."""


# -- trigger firings ------------------------------------------------------------------------

_FIRING_COLUMNS = ('id, "trigger", cause, kind, state, run_id, version, rollout_id, reason, '
                   "owner, attempts, details, actor, created_at, updated_at")

INSERT_FIRING = _sql(
    'INSERT INTO trigger_firings ("trigger", cause, kind, state, owner, attempts, details, '
    "actor, created_at, updated_at) VALUES (:trigger, :cause, :kind, 'pending', :owner, 1, "
    ":details, :actor, :now, :now) RETURNING id",
    json_params=("details",))
"""A new ``pending`` firing (attempt 1); fails on the unique (trigger, cause): a cause fires
once."""

FIRING_BY_CAUSE = _sql(
    f'SELECT {_FIRING_COLUMNS} FROM trigger_firings WHERE "trigger" = :trigger AND cause = :cause',
    json_columns=("details",))

FIRING = _sql(f"SELECT {_FIRING_COLUMNS} FROM trigger_firings WHERE id = :id",
              json_columns=("details",))

FIRINGS = _sql(
    f"SELECT {_FIRING_COLUMNS} FROM trigger_firings ORDER BY id DESC LIMIT :limit",
    json_columns=("details",))
"""Every trigger's firings, newest first."""

FIRINGS_OF_TRIGGER = _sql(
    f'SELECT {_FIRING_COLUMNS} FROM trigger_firings WHERE "trigger" = :trigger '
    "ORDER BY id DESC LIMIT :limit",
    json_columns=("details",))
"""One trigger's firings, newest first."""

UNFINISHED_FIRINGS = _sql(
    f"SELECT {_FIRING_COLUMNS} FROM trigger_firings WHERE state IN "
    "('pending', 'running', 'awaiting_approval', 'deploying') ORDER BY id",
    json_columns=("details",))
"""Firings still under way (or left so by a watch that died), oldest first."""

UPDATE_FIRING = _sql(
    "UPDATE trigger_firings SET state = :state, run_id = :run_id, version = :version, "
    "rollout_id = :rollout_id, reason = :reason, details = :details, "
    "updated_at = :now WHERE id = :id AND owner = :owner",
    json_params=("details",))
"""Move a firing on; only its owner may (``rowcount`` 0: another watch took it over)."""

TAKE_FIRING = _sql(
    "UPDATE trigger_firings SET owner = :owner, attempts = attempts + 1, updated_at = :now "
    "WHERE id = :id AND owner = :previous")
"""Take a firing over from ``previous`` (an owner that no longer runs): compare and set, so
two watches cannot both take it (``rowcount`` 0: the other one did)."""


# -- delivery history (read only: the delivery report) --------------------------------------

DELIVERY_ROLLOUTS = _sql(f"SELECT {_ROLLOUT_COLUMNS} FROM rollouts ORDER BY id",
                         json_columns=("details",))
"""Every rollout, oldest first (what came after a window still tells whether a change in it
failed, and when service came back)."""

DELIVERY_MODEL_VERSIONS = _sql(
    "SELECT name, version, run_id, created_at, meta FROM model_versions ORDER BY id",
    json_columns=("meta",))
"""(name, version, run_id, created_at, meta) of every registered version: its lineage (commit,
datasets) is in ``meta``."""

DELIVERY_PIPELINE_RUNS = _sql(
    """SELECT id, status, "trigger", started_at, ended_at, git_commit FROM runs
    WHERE kind = 'pipeline' ORDER BY started_at, id""")

DELIVERY_EVALUATIONS = _sql(
    "SELECT e.id, e.passed, e.created_at, s.run_id FROM evaluations e "
    "LEFT JOIN stage_runs s ON s.id = e.stage_run_id "
    "WHERE e.created_at >= :since AND e.created_at < :until ORDER BY e.id")
"""(id, passed, created_at, run_id) of the evaluations made in [since, until)."""

DELIVERY_APPROVALS = _sql(
    "SELECT name, version, target, actor, decision, created_at FROM approvals ORDER BY id")

DELIVERY_ALIAS_MOVES = _sql(
    "SELECT name, alias, version, previous_version, action, actor, ts FROM alias_history "
    "ORDER BY id")

DELIVERY_FIRINGS = _sql(
    f"SELECT {_FIRING_COLUMNS} FROM trigger_firings WHERE kind = 'monitor' "
    "AND rollout_id IS NOT NULL ORDER BY id",
    json_columns=("details",))
"""Firings of monitor triggers that started a rollout, oldest first."""

def monitor_windows_by_id(window_ids: Sequence[int]) -> Query:
    """(id, deployment, created_at) of the monitor windows ``window_ids``."""
    marks, params = _in_list("w", window_ids)
    return _sql(f"SELECT id, deployment, created_at FROM monitor_windows WHERE id IN ({marks})"
                ), params


DELIVERY_DATASET_VERSIONS = _sql(
    "SELECT name, hash, created_at FROM dataset_versions ORDER BY id")


# -- logged models, evaluations, contract results ----------------------------------------

INSERT_LOGGED_MODEL = _sql(
    "INSERT INTO logged_models (stage_run_id, name, hash, flavor, task, meta, created_at) "
    "VALUES (:stage_run_id, :name, :hash, :flavor, :task, :meta, :created_at) RETURNING id",
    json_params=("meta",))

LOGGED_MODEL = _sql("SELECT hash, name FROM logged_models WHERE id = :id")

LOGGED_MODEL_OF_STAGE_RUN = _sql(
    "SELECT hash, name FROM logged_models WHERE stage_run_id = :stage_run_id "
    "ORDER BY id DESC LIMIT 1")
"""(hash, name) of the latest model a stage run logged."""

LOGGED_MODEL_OF_RUN = _sql(
    "SELECT l.hash, l.name FROM logged_models l JOIN stage_runs s ON s.id = l.stage_run_id "
    "WHERE s.run_id = :run_id ORDER BY l.id DESC LIMIT 1")
"""(hash, name) of the latest model any stage run of a run logged."""

INSERT_EVALUATION = _sql(
    "INSERT INTO evaluations (stage_run_id, stage, selected_hash, passed, report, created_at) "
    "VALUES (:stage_run_id, :stage, :selected_hash, :passed, :report, :created_at) RETURNING id",
    json_params=("report",))

INSERT_CONTRACT_RESULT = _sql(
    """INSERT INTO contract_results (contract, data_hash, dataset_version_id, stage_run_id,
    passed, errors, warnings, report, actor, created_at) VALUES (:contract, :data_hash,
    :dataset_version_id, :stage_run_id, :passed, :errors, :warnings, :report, :actor,
    :created_at) RETURNING id""",
    json_params=("report",))

CONTRACT_RESULT_COLUMNS = ("id", "contract", "data_hash", "dataset_version_id", "stage_run_id",
                           "passed", "errors", "warnings", "report", "actor", "created_at")
"""What a row of :func:`recent_contract_results` holds, in order."""


def recent_contract_results(*, data_hash: str | None = None, contract: str | None = None,
                            limit: int = 20) -> Query:
    """Stored contract results (:data:`CONTRACT_RESULT_COLUMNS`), newest first, of one data
    hash and/or one contract."""
    where: list[str] = []
    params: dict[str, Any] = {"limit": limit}
    if data_hash is not None:
        where.append("data_hash = :data_hash")
        params["data_hash"] = data_hash
    if contract is not None:
        where.append("contract = :contract")
        params["contract"] = contract
    text = f"SELECT {', '.join(CONTRACT_RESULT_COLUMNS)} FROM contract_results"
    if where:
        text += " WHERE " + " AND ".join(where)
    return _sql(text + " ORDER BY id DESC LIMIT :limit", json_columns=("report",)), params


# -- local SQLite files beside the project (not the metadata store) ------------------------

STAT_CACHE_SCHEMA = _sql(
    """CREATE TABLE IF NOT EXISTS state (path TEXT PRIMARY KEY, inode INTEGER NOT NULL,
    size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, oid TEXT NOT NULL)""")

STAT_CACHE_UNDER = _sql(
    "SELECT path, inode, size, mtime_ns, oid FROM state WHERE path >= :low AND path < :high")
"""Entries whose path sorts between ``low`` and ``high`` (a folder: its path, and its path
followed by the highest code point)."""


def stat_cache_entries(paths: Sequence[str]) -> Query:
    """(path, inode, size, mtime_ns, oid) of the given paths."""
    marks, params = _in_list("p", paths)
    return _sql(f"SELECT path, inode, size, mtime_ns, oid FROM state WHERE path IN ({marks})"
                ), params


PUT_STAT_CACHE_ENTRY = _sql(
    """INSERT INTO state (path, inode, size, mtime_ns, oid)
    VALUES (:path, :inode, :size, :mtime_ns, :oid) ON CONFLICT (path) DO UPDATE SET
    inode = excluded.inode, size = excluded.size, mtime_ns = excluded.mtime_ns,
    oid = excluded.oid""")

RUN_CACHE_SCHEMA = _sql("CREATE TABLE IF NOT EXISTS keys (key TEXT PRIMARY KEY, outs TEXT NOT NULL)")

RUN_CACHE_OUTS = _sql("SELECT outs FROM keys WHERE key = :key")

PUT_RUN_CACHE_OUTS = _sql(
    "INSERT INTO keys (key, outs) VALUES (:key, :outs) "
    "ON CONFLICT (key) DO UPDATE SET outs = excluded.outs")
