"""One suite for every store implementation: the plain ``sqlite3`` store, the SQLAlchemy store on
SQLite and the SQLAlchemy store on PostgreSQL run the same tests, through the domain functions
that use them (pipeline records, the orphaned-run sweep, tracking writes and reads, dataset
versions, gc roots, registry versions, alias moves, approvals and lineage, logged models,
evaluations, contract results) and through the protocol itself (transactions, errors, locks,
the disk reserve). What a store wrote is checked through SQLAlchemy's typed tables, so a file one
implementation wrote is what every other one reads."""

from __future__ import annotations

import fcntl
import math
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assay.errors import ConstraintViolation, DataError, StoreError
from assay.store import Statement, Store, statements
from assay.store._metric_values import metric_columns, metric_value
from tests.conftest import TmpProject, store_connection
from tests.small_disk import fill, small_disk
from tests.store.backends import IMPLEMENTATIONS, Backend, backend_for

NOW = 1_700_000_000.0


@pytest.fixture(params=IMPLEMENTATIONS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from backend_for(request.param, tmp_path)


@pytest.fixture
def store(backend: Backend) -> Iterator[Store]:
    opened = backend.open()
    try:
        yield opened
    finally:
        opened.close()


def _run(store: Store, run_id: str = "run-1", *, details: dict[str, Any] | None = None) -> None:
    from assay.pipeline._records import start_run

    start_run(store, run_id=run_id, kind="pipeline", trigger="manual", profile="fast",
              root=None, env_hash="e" * 64, details=details)


def _stage_run(store: Store, stage_run_id: str, run_id: str = "run-1", **extra: Any) -> None:
    from assay.pipeline._records import start_stage_run

    fields: dict[str, Any] = {"stage": "train", "group": None, "status": "running",
                              "cache_key": "k" * 64, **extra}
    start_stage_run(store, stage_run_id=stage_run_id, run_id=run_id, **fields)


def _pg_disk_full() -> Statement:
    """A statement PostgreSQL fails with SQLSTATE 53100, as when its disk is full."""
    return Statement("DO $$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on "
                     "device' USING ERRCODE = 'disk_full'; END $$")


class TestStore:
    """The protocol and every statement family, on every implementation."""

    # -- runs and stage runs ----------------------------------------------------------------

    def test_a_run_starts_and_finishes_with_its_events(self, backend: Backend,
                                                        store: Store) -> None:
        from assay.pipeline._records import finish_run
        from assay.store.tables import runs

        _run(store, details={"stages": ["train"], "force": False})
        finish_run(store, "run-1", status="succeeded", exit_code=0,
                   details={"stages": {"train": "succeeded"}})
        with store_connection(backend.url) as conn:
            row = conn.execute(runs.select()).one()
        assert (row.id, row.kind, row.trigger, row.status, row.profile, row.exit_code) == (
            "run-1", "pipeline", "manual", "succeeded", "fast", 0)
        assert (row.git_commit, row.git_dirty, row.env_hash, row.actor) == (
            None, None, "e" * 64, "tester@example.com")
        assert row.details == {"stages": {"train": "succeeded"}}
        assert row.started_at <= row.ended_at
        assert [(e.kind, e.subject, e.details) for e in store.events()] == [
            ("run.pipeline.started", "run-1", {"trigger": "manual"}),
            ("run.succeeded", "run-1", {"exit_code": 0})]

    def test_finishing_a_run_ends_the_stage_runs_it_left_running(self, backend: Backend,
                                                                 store: Store) -> None:
        from assay.pipeline._records import UNRECORDED_REASON, finish_run, finish_stage_run
        from assay.store.tables import runs, stage_runs

        _run(store)
        _stage_run(store, "done")
        _stage_run(store, "left")
        finish_stage_run(store, "done", status="succeeded", exit_code=0)
        finish_run(store, "run-1", status="interrupted", exit_code=130)
        with store_connection(backend.url) as conn:
            ended = {r.id: (r.status, r.exit_code, r.details)
                     for r in conn.execute(stage_runs.select())}
            run = conn.execute(runs.select()).one()
        assert ended == {"done": ("succeeded", 0, {}),
                         "left": ("interrupted", None, {"reason": UNRECORDED_REASON})}
        assert (run.status, run.exit_code, run.details) == ("interrupted", 130, {})

    def test_the_last_stage_run_of_a_stage_says_how_it_ended(self, backend: Backend,
                                                             store: Store) -> None:
        from assay.pipeline._records import StageRunBatch

        _run(store)
        batch = StageRunBatch()
        batch.start(stage_run_id="s1", run_id="run-1", stage="prep", group=None,
                    status="running", cache_key="k1")
        batch.finish("s1", status="failed", exit_code=3, details={"reason": "exited with code 3"})
        batch.start(stage_run_id="s2", run_id="run-1", stage="train", group=None,
                    status="running", cache_key="k2")
        batch.commit(store)
        with store.read() as conn:
            prep = conn.execute(statements.LAST_STAGE_RUN, {"stage": "prep"}).fetchone()
            train = conn.execute(statements.LAST_STAGE_RUN, {"stage": "train"}).fetchone()
        assert prep == ("failed", 3, "run-1", {"reason": "exited with code 3"})
        assert train is None  # still running: not an ending

    def test_a_batch_writes_stage_runs_params_metrics_and_artifacts(self, backend: Backend,
                                                                   store: Store) -> None:
        from assay.pipeline._records import StageRunBatch
        from assay.store.tables import artifacts, metrics, params, stage_runs

        _run(store)
        batch = StageRunBatch()
        batch.start(stage_run_id="s1", run_id="run-1", stage="train@rf", group="train",
                    status="running", cache_key="k1", log_path="logs/s1.log",
                    params={"depth": 4, "model": "rf", "@alias:churn@production": "h"})
        batch.start(stage_run_id="s2", run_id="run-1", stage="prep", group=None,
                    status="cached", cache_key="k2", ended=True, details={"restored": True})
        batch.commit(store)
        with store.write() as conn:  # a point the stage logged itself wins over its file
            conn.execute(statements.INSERT_METRIC, {"stage_run_id": "s1", "key": "auc",
                                                    "value": 0.9, "value_kind": None,
                                                    "step": 3, "ts": NOW})
        batch.finish("s1", status="succeeded", exit_code=0,
                     metrics={"auc": 0.5, "loss": math.nan, "zero": -0.0, "big": math.inf},
                     artifacts=[("model.pkl", "a" * 64, 10, "out")])
        batch.finish("s2", status="failed", exit_code=None, details={"reason": "gone"})
        batch.commit(store)
        assert not batch  # cleared once committed
        with store_connection(backend.url) as conn:
            rows = {r.id: r for r in conn.execute(stage_runs.select())}
            stored_params = sorted((r.stage_run_id, r.key, r.value)
                                   for r in conn.execute(params.select()))
            points = {(r.key, r.step): metric_value(r.value, r.value_kind)
                      for r in conn.execute(metrics.select())}
            arts = [(r.stage_run_id, r.path, r.hash, r.size, r.kind)
                    for r in conn.execute(artifacts.select())]
        assert (rows["s1"].group, rows["s1"].status, rows["s1"].cached, rows["s1"].attempt,
                rows["s1"].exit_code, rows["s1"].log_path, rows["s1"].details) == (
            "train", "succeeded", False, 1, 0, "logs/s1.log", {})
        assert (rows["s2"].status, rows["s2"].cached, rows["s2"].details) == (
            "failed", True, {"reason": "gone"})
        assert stored_params == [("s1", "depth", "4"), ("s1", "model", '"rf"')]
        assert set(points) == {("auc", 3), ("loss", 0), ("zero", 0), ("big", 0)}
        assert points[("auc", 3)] == 0.9 and math.isnan(points[("loss", 0)])
        assert math.copysign(1.0, points[("zero", 0)]) < 0 and points[("big", 0)] == math.inf
        assert arts == [("s1", "model.pkl", "a" * 64, 10, "out")]

    def test_the_sweep_marks_the_runs_of_dead_runners_interrupted(self, backend: Backend,
                                                                  store: Store) -> None:
        from assay.pipeline._liveness import (
            INTERRUPTED_REASON,
            interrupt_orphaned_runs,
            runner_identity,
        )
        from assay.store.tables import runs, stage_runs

        dead = {**runner_identity(), "pid": 2**22 + 17}
        _run(store, "dead", details={"runner": dead})
        _run(store, "live", details={"runner": runner_identity()})
        _stage_run(store, "s-dead", "dead")
        assert interrupt_orphaned_runs(store) == [dead]
        assert interrupt_orphaned_runs(store) == []
        reason = INTERRUPTED_REASON.format(**dead)
        with store_connection(backend.url) as conn:
            states = {r.id: (r.status, r.details.get("reason"))
                      for r in conn.execute(runs.select())}
            stage = conn.execute(stage_runs.select()).one()
        assert states == {"dead": ("interrupted", reason), "live": ("running", None)}
        assert (stage.status, stage.details) == ("interrupted", {"reason": reason})
        assert [e.subject for e in store.events(kind="run.interrupted")] == ["dead"]

    # -- metrics, params, tags: the tracking API's writes and reads --------------------------

    def test_tracked_values_are_written_and_read_back(self, store: Store) -> None:
        from assay.tracking import (
            MetricFilter,
            compare_runs,
            get_runs,
            list_runs,
            metric_history,
            resolve,
        )
        from assay.tracking._client import _Writer

        _run(store, "cccc3333-0")
        values = [0.5, math.nan, -0.0, math.inf, -math.inf, 5e-324]
        for sid, auc in (("aaaa1111-s", 0.9), ("bbbb2222-s", 0.7)):
            _stage_run(store, sid, "cccc3333-0")
            writer = _Writer(store.url, sid, store)
            for step, value in enumerate(values):
                writer.metric(("loss", *metric_columns(value), step, NOW + step))
            writer.metric(("auc", *metric_columns(auc), 0, NOW))
            writer.param("depth", "4")
            writer.tag("team", "solo")
            writer.flush()
            writer.param("depth", "6")  # logged again: the stored value is overwritten
            writer.tag("team", "growth")
            writer.artifact("notes.txt", "n" * 64, 5, "artifact")
            writer.close()
        found = list_runs(store, metric_filters=[MetricFilter.parse("auc>0.8")],
                          params={"depth": "6"}, tags={"team": "growth"}, stage="train")
        assert [r.id for r in found] == ["aaaa1111-s"]
        [row] = get_runs(store, resolve(store, "aaaa11"))
        assert (row.params, row.tags, row.metrics["auc"]) == ({"depth": 6}, {"team": "growth"},
                                                              0.9)
        assert row.artifacts == [{"path": "notes.txt", "hash": "n" * 64, "size": 5,
                                  "kind": "artifact"}]
        assert (row.run_kind, row.trigger, row.profile, row.cached) == (
            "pipeline", "manual", "fast", False)
        history = metric_history(store, "aaaa1111-s", "loss")
        assert [s for s, _, _ in history] == list(range(len(values)))
        for (_, got, _), want in zip(history, values, strict=True):
            assert (math.isnan(got) and math.isnan(want)) or (
                got == want and math.copysign(1.0, got) == math.copysign(1.0, want))
        assert resolve(store, "cccc33") == ["aaaa1111-s", "bbbb2222-s"]
        both = compare_runs(list_runs(store))
        assert [p["key"] for p in both["params"]] == ["depth"]
        assert [m["key"] for m in both["metrics"] if m["differs"]] == ["auc"]

    # -- events, datasets, gc roots, aliases, identity ----------------------------------------

    def test_events_are_appended_and_filtered(self, store: Store) -> None:
        first = store.record_event("data.add", "churn", {"hash": "abc", "at": Path("/x")},
                                   actor="ana@example.com", ts=NOW)
        with store.write() as conn:
            second = store.record_event("data.push", "churn", conn=conn, ts=NOW + 1)
            store.record_event("model.promote", "m", {"n": 1}, conn=conn, ts=NOW + 2)
        assert second > first
        events = store.events()
        assert [(e.kind, e.subject, e.actor, e.details, e.ts) for e in events] == [
            ("data.add", "churn", "ana@example.com", {"hash": "abc", "at": "/x"}, NOW),
            ("data.push", "churn", "tester@example.com", {}, NOW + 1),
            ("model.promote", "m", "tester@example.com", {"n": 1}, NOW + 2)]
        assert [e.kind for e in store.events(kind="data.")] == ["data.add", "data.push"]
        assert [e.kind for e in store.events(kind="data.add")] == ["data.add"]
        assert [e.kind for e in store.events(subject="m")] == ["model.promote"]
        assert [e.kind for e in store.events(since=NOW + 1, limit=1)] == ["data.push"]

    def test_dataset_versions_are_numbered_per_name_with_their_profiles(
            self, backend: Backend, store: Store, tmp_path: Path) -> None:
        from assay.config import Project
        from assay.data import Workspace, versions
        from assay.store.tables import contract_results

        project = TmpProject(tmp_path / "project")
        project.root.mkdir()
        project.config()
        project.gen({"table.csv": "a,b\n1,x\n2,y\n"})
        with Workspace(Project.load(project.root), store=store) as ws:
            ws.add(project.root / "table.csv", message="first")
            (project.root / "table.csv").write_text("a,b\n1,x\n2,y\n3,z\n")
            ws.add(project.root / "table.csv")
            ws.add(project.root / "table.csv")  # unchanged: no new version
        found = versions(store, "table")
        assert [(v.version, v.rows, v.message) for v in found] == [(1, 2, "first"), (2, 3, None)]
        assert found[0].schema == {"a": "Int64", "b": "String"}
        assert found[1].profile is not None and found[1].profile["a"]["max"] == 3
        with store_connection(backend.url) as conn:
            for passed, at in ((False, NOW), (True, NOW + 1)):
                conn.execute(contract_results.insert().values(
                    contract="people", data_hash=found[1].hash, passed=passed, errors=0,
                    warnings=0, report={}, actor="a", created_at=at))
        latest = versions(store, "table")[1]
        assert latest.contract is not None and latest.contract["passed"] is True
        assert [e.details["version"] for e in store.events(kind="data.add")] == [1, 2]
        with pytest.raises(DataError, match=r"No dataset named 'tabel' \(known: table\)"):
            versions(store, "tabel")

    def test_gc_roots_name_every_object_a_row_refers_to(self, backend: Backend,
                                                        store: Store) -> None:
        from assay.store.tables import model_versions, registered_models

        _run(store)  # env_hash "e" * 64
        with store_connection(backend.url) as conn:
            conn.execute(registered_models.insert().values(name="churn", created_at=NOW))
            conn.execute(model_versions.insert().values(
                name="churn", version=1, model_hash="m" * 64, author="a", gates_passed=True,
                meta={"lineage": {"data": ["d" * 64]}}, created_at=NOW))
        with store.read() as conn:
            refs = {oid for (oid,) in conn.execute(statements.OBJECT_REFERENCES) if oid}
            metas = [meta for (meta,) in conn.execute(statements.MODEL_VERSION_METAS)]
        assert refs == {"e" * 64, "m" * 64}
        assert metas == [{"lineage": {"data": ["d" * 64]}}]

    def test_an_alias_names_the_hash_of_its_model_version(self, backend: Backend,
                                                          store: Store) -> None:
        from assay.store.tables import aliases, model_versions, registered_models

        with store_connection(backend.url) as conn:
            conn.execute(registered_models.insert().values(name="churn", created_at=NOW))
            for version in (1, 2):
                conn.execute(model_versions.insert().values(
                    name="churn", version=version, model_hash=str(version) * 64, author="a",
                    gates_passed=True, meta={}, created_at=NOW))
            conn.execute(aliases.insert().values(name="churn", alias="production", version=2,
                                                 updated_at=NOW, actor="a"))
        with store.read() as conn:
            held = conn.execute(statements.ALIAS_MODEL_HASH,
                                {"name": "churn", "alias": "production"}).scalar()
            unset = conn.execute(statements.ALIAS_MODEL_HASH,
                                 {"name": "churn", "alias": "staging"}).fetchone()
        assert (held, unset) == ("2" * 64, None)

    def test_each_store_has_a_stable_identity_until_it_is_deleted(self, backend: Backend,
                                                                  store: Store) -> None:
        first = store.instance_id()
        again = backend.open()
        try:
            assert again.instance_id() == first and len(first) == 32
        finally:
            again.close()
        with store_connection(backend.url) as conn:
            conn.exec_driver_sql("DELETE FROM store_info")
        second = store.instance_id()
        assert second != first and store.instance_id() == second

    # -- registry: versions, aliases, approvals, lineage -----------------------------------

    def test_registering_numbers_versions_and_links_the_run_that_logged_the_package(
            self, backend: Backend, store: Store, tmp_path: Path) -> None:
        from assay.registry import get_version, list_models, register, versions
        from assay.store.tables import model_versions
        from tests.registry.worlds import ML, config, make_package, oid_of, report_for

        cache = tmp_path / "cache"
        first = make_package(tmp_path / "work", "m1", seed=1)
        second = make_package(tmp_path / "work", "m2", seed=2)
        oid = oid_of(cache, first)
        _run(store)
        _stage_run(store, "s-train")
        with store.write() as conn:  # the run that logged the package, the evaluation that chose it
            conn.execute(statements.INSERT_LOGGED_MODEL, {
                "stage_run_id": "s-train", "name": "churn", "hash": oid, "flavor": "sklearn",
                "task": "classification", "meta": {}, "created_at": NOW})
            chosen = conn.execute(statements.INSERT_EVALUATION, {
                "stage_run_id": "s-train", "stage": "evaluate", "selected_hash": oid,
                "passed": True, "report": {"passed": True}, "created_at": NOW}).scalar()
        made = register(store, name="churn", cache_dir=cache, package_dir=first,
                        evaluation=report_for(oid), author=ML, config=config())
        again = register(store, name="churn", cache_dir=cache, package_dir=first, author=ML)
        other = register(store, name="churn", cache_dir=cache, package_dir=second, author=ML)
        assert (made.created, again.created, again.version.version, other.version.version) == (
            True, False, 1, 2)
        one = made.version
        assert (one.run_id, one.stage_run_id, one.evaluation_id, one.author, one.gates_passed) \
            == ("run-1", "s-train", chosen, "tester@example.com", True)
        assert one.meta["evaluation"]["selected"] is True and one.meta["package"]["flavor"]
        assert (other.version.run_id, other.version.author, other.version.gates_passed) == (
            None, ML, False)
        [model] = list_models(store)
        assert (model.name, model.versions, model.latest_version, model.aliases) == (
            "churn", 2, 2, {})
        assert [v.model_hash for v in versions(store, "churn")] == [
            oid, other.version.model_hash]
        assert get_version(store, "churn") == other.version
        with store_connection(backend.url) as conn:
            rows = [(r.version, r.stage_run_id, r.evaluation_id, r.gates_passed) for r in
                    conn.execute(model_versions.select().order_by(model_versions.c.version))]
        assert rows == [(1, "s-train", chosen, True), (2, None, None, False)]
        with pytest.raises(ConstraintViolation, match=r"failed: .*(?i:unique|duplicate)"), \
                store.write() as conn:  # a number taken meanwhile: the registry retries
            conn.execute(statements.INSERT_MODEL_VERSION, {
                "name": "churn", "version": 2, "model_hash": "x" * 64, "author": ML,
                "gates_passed": False, "meta": {}, "created_at": NOW})
        assert [e.details["version"] for e in store.events(kind="model.registered")] == [1, 2]

    def test_an_alias_moves_only_from_the_revision_its_mover_saw(self, backend: Backend,
                                                                 store: Store) -> None:
        from assay.errors import ConcurrencyError
        from assay.registry import alias_history, get_version, promote, rollback
        from assay.store.tables import aliases
        from tests.registry.worlds import ML, config

        _model_versions(store, 3)
        cfg = config(promotion={})
        promote(store, cfg, "churn:1", to="production", actor=ML)
        promote(store, cfg, "churn:2", to="production", actor=ML)
        with pytest.raises(ConcurrencyError, match="moved while this promote was decided"):
            promote(store, cfg, "churn:3", to="production", actor=ML, expected_revision=1)
        with pytest.raises(ConcurrencyError, match="moved while this promote was decided"):
            promote(store, cfg, "churn:3", to="production", actor=ML, expected_revision=0)
        with pytest.raises(ConstraintViolation, match=r"(?i:unique|duplicate)"), \
                store.write() as conn:  # created meanwhile by another writer
            conn.execute(statements.INSERT_ALIAS, {"name": "churn", "alias": "production",
                                                   "version": 3, "updated_at": NOW,
                                                   "actor": ML})
        with store.write() as conn:
            stale = conn.execute(statements.MOVE_ALIAS, {
                "name": "churn", "alias": "production", "version": 3, "revision": 1,
                "updated_at": NOW, "actor": ML})
        assert stale.rowcount == 0
        move = rollback(store, cfg, "churn", "production", actor=ML)
        assert (move.version, move.previous_version, move.revision) == (1, 2, 3)
        assert get_version(store, "churn@production").aliases == ("production",)
        assert [(m.alias, m.action, m.version, m.previous_version)
                for m in alias_history(store, "churn")] == [
            ("production", "promote", 1, None), ("production", "promote", 2, 1),
            ("production", "rollback", 1, 2)]
        assert alias_history(store, "churn", "staging") == []
        with store_connection(backend.url) as conn:
            row = conn.execute(aliases.select()).one()
        assert (row.alias, row.version, row.revision, row.actor) == ("production", 1, 3, ML)
        assert [e.kind for e in store.events(kind="model.")] == [
            "model.promoted", "model.promoted", "model.rolled_back"]

    def test_an_approval_is_one_decision_per_actor_with_their_roles(self, store: Store) -> None:
        from assay.registry import approvals_for, approve, check_promotion
        from tests.registry.worlds import ML, PLATFORM, config

        _model_versions(store, 1)
        cfg = config()  # production: one approval from the platform role
        lacking = "lacks 1 approval from role 'platform'"
        assert any(lacking in gap for gap in check_promotion(store, cfg, "churn:1",
                                                             to="production", actor=ML))
        approve(store, cfg, "churn:1", target="production", actor=PLATFORM, comment="ok")
        assert not any(lacking in gap for gap in check_promotion(store, cfg, "churn:1",
                                                                 to="production", actor=ML))
        decided = {"name": "churn", "version": 1, "target": "production", "actor": PLATFORM}
        with pytest.raises(ConstraintViolation, match=r"(?i:unique|duplicate)"), \
                store.write() as conn:  # the same decision, recorded meanwhile
            conn.execute(statements.INSERT_APPROVAL, {**decided, "roles": ["platform"],
                                                      "decision": "reject", "comment": None,
                                                      "created_at": NOW})
        assert [(a.target, a.actor, a.roles, a.decision, a.comment, a.expired)
                for a in approvals_for(store, cfg, "churn:1")] == [
            ("production", PLATFORM, ("platform",), "approve", "ok", False)]
        with store.write() as conn:
            conn.execute(statements.DELETE_APPROVAL, decided)
        assert approvals_for(store, cfg, "churn:1") == []

    def test_lineage_follows_the_run_its_dataset_versions_and_its_deployments(
            self, backend: Backend, store: Store) -> None:
        from assay.registry import lineage
        from assay.store.tables import rollouts

        _run(store)
        _stage_run(store, "s-prep", stage="prep")
        _stage_run(store, "s-train", status="cached")
        with store.write() as conn:
            for name, oid in (("churn", "a" * 64), ("churn", "b" * 64), ("copy", "b" * 64)):
                conn.execute(statements.INSERT_DATASET_VERSION, {
                    "name": name, "path": f"data/{name}.csv", "hash": oid, "kind": "file",
                    "size": 1, "nfiles": 1, "rows": None, "schema": None, "profile": None,
                    "git_commit": None, "actor": "a", "created_at": NOW, "message": None})
        dataset = {"name": "churn", "path": "data/churn.csv", "hash": "b" * 64}
        _model_versions(store, 1, run_id="run-1",
                        meta={"package": {"lineage": {"datasets": [dataset]}}})
        with store_connection(backend.url) as conn:
            conn.execute(rollouts.insert().values(
                deployment="eu", model="churn", version=1, strategy="canary", state="running",
                weight=0.5, actor="a", details={}, started_at=NOW, updated_at=NOW))
        graph = lineage(store, "churn:1")
        run = dict(graph["run"])
        assert run.pop("started_at") > 0
        assert run == {"id": "run-1", "status": "running", "trigger": "manual",
                       "actor": "tester@example.com", "git_commit": None, "profile": "fast",
                       "cause": None}
        assert graph["stage_runs"] == [
            {"id": "s-prep", "stage": "prep", "status": "running", "cached": False},
            {"id": "s-train", "stage": "train", "status": "cached", "cached": True}]
        [entry] = graph["datasets"]
        assert (entry["name"], entry["version"]) == ("churn", 2)
        assert [(v["name"], v["version"]) for v in entry["versions"]] == [("churn", 2),
                                                                          ("copy", 1)]
        assert [(d["target"], d["state"], d["traffic"]) for d in graph["deployments"]] == [
            ("eu", "running", 0.5)]

    # -- logged models, evaluations, contract results ---------------------------------------

    def test_a_model_is_found_by_logged_id_stage_run_run_version_and_alias(
            self, backend: Backend, store: Store) -> None:
        from assay.errors import ModelError
        from assay.models import resolve_model_ref

        _run(store)
        _stage_run(store, "s-train")
        with store.write() as conn:
            logged = [conn.execute(statements.INSERT_LOGGED_MODEL, {
                "stage_run_id": sid, "name": "churn", "hash": oid, "flavor": "sklearn",
                "task": None, "meta": {"size": 1}, "created_at": NOW}).scalar()
                for sid, oid in (("s-train", "1" * 64), ("s-train", "2" * 64), (None, "3" * 64))]
        assert logged == sorted(logged)
        _model_versions(store, 2)
        promote_row = {"name": "churn", "alias": "production", "version": 2, "updated_at": NOW,
                       "actor": "a"}
        with store.write() as conn:
            conn.execute(statements.INSERT_ALIAS, promote_row)

        def found(ref: str) -> tuple[str, str]:
            return resolve_model_ref(ref, store_url=backend.url)

        assert found(str(logged[0])) == ("1" * 64, f"churn ({logged[0]})")
        assert found("s-train") == ("2" * 64, "churn (s-train)")  # its latest
        assert found("run-1") == ("2" * 64, "churn (run-1)")
        assert found("churn:1") == ("1" * 64, "churn:1")
        assert found("churn@production") == ("2" * 64, "churn:2")
        for ref, reason in (("churn@staging", "has no alias 'staging'"),
                            ("churn:9", "has no version 9"), ("nothing", "No model matches")):
            with pytest.raises(ModelError, match=reason):
                found(ref)

    def test_contract_results_name_their_dataset_version_and_read_back_newest_first(
            self, backend: Backend, store: Store) -> None:
        from assay.contracts import contract_results_for, record_result
        from assay.contracts._result import ContractReport

        _run(store)
        _stage_run(store, "s-check")
        with store.write() as conn:
            inserted = [conn.execute(statements.INSERT_DATASET_VERSION, {
                "name": name, "path": "p", "hash": "d" * 64, "kind": "file", "size": 1,
                "nfiles": 1, "rows": None, "schema": None, "profile": None, "git_commit": None,
                "actor": "a", "created_at": NOW, "message": None}).rowcount
                for name in ("people", "copy")]
            found = conn.execute(statements.DATASET_VERSIONS_OF_HASH, {"hash": "d" * 64})
            version_ids = {name: row_id for row_id, name, *_ in found}
        assert inserted == [1, 1]  # rows an INSERT wrote

        def report(contract: str) -> ContractReport:
            return ContractReport(contract=contract, data="data/people.csv", owner=None, rows=2,
                                  columns=["a"], engine="polars", started_at=NOW,
                                  duration_s=0.1, checks=[], data_hash="d" * 64)

        named, latest = report("people"), report("people")
        first = record_result(store, named, dataset="people", stage_run_id="s-check")
        second = record_result(store, latest, stage_run_id="gone")
        record_result(store, report("other"))
        assert (named.dataset_version_id, latest.dataset_version_id) == (
            version_ids["people"], version_ids["copy"])  # by name, else the latest
        rows = contract_results_for(backend.url, contract="people")
        assert [(r["id"], r["passed"], r["stage_run_id"], r["dataset_version_id"], r["actor"])
                for r in rows] == [
            (second, True, None, version_ids["copy"], "tester@example.com"),
            (first, True, "s-check", version_ids["people"], "tester@example.com")]
        assert rows[0]["report"]["contract"] == "people" and rows[0]["errors"] == 0
        assert len(contract_results_for(backend.url, data_hash="d" * 64, limit=2)) == 2
        assert contract_results_for(backend.url, data_hash="e" * 64) == []
        assert [e.details["result_id"] for e in store.events(kind="contract.")] == [
            first, second, second + 1]

    def test_an_evaluation_is_recorded_with_its_verdict_and_report(self, backend: Backend,
                                                                 store: Store) -> None:
        from assay.store.tables import evaluations

        with store.write() as conn:
            made = [conn.execute(statements.INSERT_EVALUATION, {
                "stage_run_id": None, "stage": "evaluate", "selected_hash": oid,
                "passed": passed, "report": {"passed": passed, "gates": [1.5]},
                "created_at": NOW}).scalar() for oid, passed in (("s" * 64, True), (None, False))]
            chosen = conn.execute(statements.SELECTED_EVALUATION,
                                  {"stage": "evaluate", "hash": "s" * 64}).scalar()
        assert chosen == made[0] < made[1]
        with store_connection(backend.url) as conn:
            rows = [(r.id, r.passed, r.selected_hash, r.report)
                    for r in conn.execute(evaluations.select().order_by(evaluations.c.id))]
        assert rows == [(made[0], True, "s" * 64, {"passed": True, "gates": [1.5]}),
                        (made[1], False, None, {"passed": False, "gates": [1.5]})]

    def test_the_delivery_statements_read_a_known_history(self, store: Store) -> None:
        from assay.delivery import Window, delivery_report
        from tests.delivery.history import T0, D, write_history

        write_history(store, {"C1": "c1", "C2": "c2"})
        got = delivery_report(store, None, window=Window(T0, T0 + 15 * D),
                              commit_time=lambda commit: None).to_dict()
        assert [(c["rollout"], c["failure"]) for c in got["changes"]] == [
            (1, None), (2, "alias_rolled_back"), (3, "rolled_back")]
        assert (got["dora"]["time_to_restore"]["incidents"], got["ml"]["gate_pass_rate"]["rate"],
                got["ml"]["drift_to_production"]["retrains"],
                got["ml"]["promotions_with_approval"]["approved"]) == (4, 0.75, 1, 2)

    # -- transactions --------------------------------------------------------------------------

    def test_a_failed_transaction_keeps_nothing(self, store: Store) -> None:
        with pytest.raises(RuntimeError, match="boom"), store.write() as conn:
            store.record_event("data.add", "x", conn=conn)
            _insert_run(conn, "kept?")
            raise RuntimeError("boom")
        assert store.events() == []
        with store.read() as conn:
            assert conn.execute(Statement("SELECT count(*) FROM runs")).scalar() == 0

    def test_a_broken_constraint_is_the_same_error_everywhere_and_rolls_back(
            self, store: Store) -> None:
        _run(store)
        with pytest.raises(ConstraintViolation, match=r"failed: .*(?i:unique|duplicate)"), \
                store.write() as conn:
            store.record_event("before", "x", conn=conn)
            _insert_run(conn, "run-1")
        with pytest.raises(ConstraintViolation, match=r"(?i:foreign key)"), \
                store.write() as conn:
            conn.execute(statements.INSERT_METRIC, {"stage_run_id": "nowhere", "key": "k",
                                                    "value": 1.0, "value_kind": None,
                                                    "step": 0, "ts": NOW})
        assert [e.kind for e in store.events()] == ["run.pipeline.started"]

    def test_a_read_sees_one_snapshot(self, backend: Backend, store: Store) -> None:
        other = backend.open()
        try:
            with store.read() as conn:
                before = conn.execute(Statement("SELECT count(*) FROM runs")).scalar()
                _run(other, "meanwhile")
                after = conn.execute(Statement("SELECT count(*) FROM runs")).scalar()
            with store.read() as conn:
                now = conn.execute(Statement("SELECT count(*) FROM runs")).scalar()
        finally:
            other.close()
        assert (before, after, now) == (0, 0, 1)

    def test_a_writer_waits_for_another_and_then_lands(self, backend: Backend,
                                                       store: Store) -> None:
        _run(store)
        first_in, order = threading.Event(), []

        def first() -> None:
            other = backend.open()
            try:
                with other.write() as conn:
                    conn.execute(statements.FINISH_RUN, {"id": "run-1", "status": "failed",
                                                         "ended_at": NOW, "exit_code": 1})
                    first_in.set()
                    time.sleep(0.3)
                    order.append("first")
            finally:
                other.close()

        thread = threading.Thread(target=first)
        thread.start()
        assert first_in.wait(30)
        with store.write() as conn:
            conn.execute(statements.FINISH_RUN, {"id": "run-1", "status": "succeeded",
                                                 "ended_at": NOW, "exit_code": 0})
            order.append("second")
        thread.join(30)
        assert order == ["first", "second"]
        with store.read() as conn:
            assert conn.execute(Statement("SELECT status FROM runs")).scalar() == "succeeded"

    # -- SQLite: locks, turns, settings ----------------------------------------------------

    def test_a_sqlite_writer_locked_out_past_its_busy_timeout_fails_cleanly(
            self, backend: Backend, store: Store) -> None:
        import sqlite3

        if not backend.is_sqlite:
            pytest.skip("PostgreSQL has no database lock: a writer waits on the rows it needs")
        impatient = backend.open(busy_timeout_ms=200)
        holder = sqlite3.connect(backend.path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreError, match="failed: database is locked"), \
                    impatient.write() as conn:
                _insert_run(conn, "never")
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        _run(impatient, "later")  # the store works again once the lock is gone
        impatient.close()
        with store.read() as conn:
            assert conn.execute(Statement("SELECT id FROM runs")).fetchall() == [("later",)]

    def test_sqlite_writers_take_turns_on_the_write_lock(self, backend: Backend,
                                                          store: Store) -> None:
        if not backend.is_sqlite:
            pytest.skip("the write turn is SQLite's (PostgreSQL has row locks)")
        store.instance_id()  # the file exists
        impatient = backend.open(busy_timeout_ms=200)
        fd = os.open(f"{backend.path}.write.lock", os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            with pytest.raises(StoreError, match=r"stayed busy for 0.2 s: another writer holds "
                                                 r"assay\.db\.write\.lock"), \
                    impatient.write():
                pass
            done = threading.Event()

            def write() -> None:
                _run(store, "waited")
                done.set()

            thread = threading.Thread(target=write)
            thread.start()
            assert not done.wait(0.3)  # waits for its turn
        finally:
            os.close(fd)  # hands the turn over
        thread.join(30)
        assert done.is_set()
        impatient.close()

    def test_sqlite_connections_use_the_durable_settings(self, backend: Backend) -> None:
        if not backend.is_sqlite:
            pytest.skip("SQLite PRAGMAs")
        store = backend.open(busy_timeout_ms=4321)
        try:
            with store.write() as conn:
                got = [conn.execute(Statement(f"PRAGMA {name}")).scalar()
                       for name in ("journal_mode", "synchronous", "foreign_keys",
                                    "busy_timeout")]
        finally:
            store.close()
        assert got == ["wal", 1, 1, 4321]  # synchronous NORMAL: a crash never corrupts it

    # -- a full disk ---------------------------------------------------------------------------

    def test_a_full_disk_is_flagged_and_the_end_of_a_run_is_still_recorded(
            self, backend: Backend, tmp_path: Path) -> None:
        from assay.pipeline._records import finish_run

        if not backend.is_sqlite:
            _full_postgres_disk(backend)
            return
        with small_disk(tmp_path / "disk", "1m") as disk:
            on_disk = Backend(backend.name, f"sqlite:///{disk / 'assay.db'}")
            store = on_disk.open()
            try:
                _run(store)
                reserve = disk / "assay.db.reserve"
                assert reserve.is_file()
                filler = fill(disk)
                with pytest.raises(StoreError, match=r"(?i:full)") as full, \
                        store.write() as conn:
                    for n in range(50):
                        _insert_run(conn, f"bulk-{n}", details={"pad": "x" * 20_000})
                assert full.value.fields["disk_full"] is True
                store.write_ending(lambda conn: conn.execute(statements.FINISH_RUN, {
                    "id": "run-1", "status": "failed", "ended_at": NOW, "exit_code": 1}))
                assert not reserve.exists()  # spent on recording the end
                with store.read() as conn:
                    assert conn.execute(Statement("SELECT status FROM runs")).fetchall() == [
                        ("failed",)]
                filler.unlink()
                finish_run(store, "run-1", status="failed", exit_code=1)  # room again
            finally:
                store.close()


def _full_postgres_disk(backend: Backend) -> None:
    """PostgreSQL: SQLSTATE 53100 is flagged; there is no reserve to free, so write_ending
    raises it too."""
    store = backend.open()
    try:
        with pytest.raises(StoreError, match="No space left on device") as full, \
                store.write() as conn:
            conn.execute(_pg_disk_full())
        assert full.value.fields["disk_full"] is True
        with pytest.raises(StoreError, match="No space left on device"):
            store.write_ending(lambda conn: conn.execute(_pg_disk_full()))
    finally:
        store.close()


def _model_versions(store: Store, count: int, *, run_id: str | None = None,
                    meta: dict[str, Any] | None = None) -> None:
    """Versions 1..count of model ``churn`` (gates passed; model hash ``"<n>" * 64``)."""
    with store.write() as conn:
        conn.execute(statements.INSERT_REGISTERED_MODEL, {"name": "churn", "created_at": NOW})
        conn.executemany(statements.INSERT_MODEL_VERSION, [
            {"name": "churn", "version": n, "model_hash": str(n) * 64, "author": "a",
             "gates_passed": True, "meta": meta or {}, "created_at": NOW, "run_id": run_id}
            for n in range(1, count + 1)])


def _insert_run(conn: Any, run_id: str, *, details: dict[str, Any] | None = None) -> None:
    """A run with only the required columns (the statement's defaults fill the rest)."""
    conn.execute(statements.INSERT_RUN, {
        "id": run_id, "kind": "adhoc", "trigger": "manual", "status": "running", "actor": "a",
        "started_at": NOW, **({"details": details} if details else {})})
