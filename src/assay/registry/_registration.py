"""Registering a model package as the next immutable version of a registered model."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import ConstraintViolation, RegistryError
from assay.registry._refs import ModelRef, check_name
from assay.registry._versions import ModelVersion, version_in
from assay.store import statements as sql

if TYPE_CHECKING:
    from assay.config import AssayConfig
    from assay.store import Connection, Store


@dataclass(frozen=True)
class Registration:
    """What :func:`register` did."""

    version: ModelVersion
    created: bool  # False: the same package was already registered (idempotent)
    alias: str | None = None  # the alias set at registration
    note: str | None = None  # why a requested alias was not set


def _package_meta(
    cache_dir: Path,
    package_dir: Path | None,
    oid: str | None,
    *,
    allow_pickle: bool,
    trusted_types: Sequence[str],
) -> tuple[str, dict[str, Any]]:
    """``(oid, model.json)`` of a package given as a directory (checked, then added to the
    cache) or as an oid (checked out of the cache into a scratch folder and checked there).

    The check is the one load makes (:func:`assay.models.check_package`): nothing is recorded
    for a package that could not be loaded safely.
    """
    import shutil
    import tempfile

    from assay.errors import ObjectError
    from assay.models import MODEL_FILE, check_package
    from assay.objects import LocalCache

    cache = LocalCache(cache_dir)
    if package_dir is not None:
        package = check_package(package_dir, allow_pickle=allow_pickle, trusted_types=trusted_types)
        stored = cache.add_dir(package_dir)
        return stored.oid, package.to_dict()
    if oid is None:
        raise RegistryError("register needs a package directory or a package object id")
    try:
        entries = {e.path: e for e in cache.manifest(oid)}
    except ObjectError as exc:
        raise RegistryError(f"Package object {oid[:16]} is not usable: {exc}", oid=oid) from None
    if MODEL_FILE not in entries:
        raise RegistryError(f"Object {oid[:16]} is not a model package (no {MODEL_FILE})", oid=oid)
    scratch = Path(tempfile.mkdtemp(prefix="assay-register-"))
    try:
        checkout = scratch / "package"
        try:
            cache.checkout(oid, checkout, ["copy"], root=scratch)
        except ObjectError as exc:
            raise RegistryError(f"Package object {oid[:16]} is not usable: {exc}", oid=oid) from None
        package = check_package(checkout, allow_pickle=allow_pickle, trusted_types=trusted_types)
        return oid, package.to_dict()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _evaluation_meta(report: dict[str, Any] | None, oid: str) -> tuple[dict[str, Any], bool]:
    """The part of an evaluation report about the candidate ``oid``, and whether it passed."""
    if report is None:
        return {}, False
    candidates = report.get("candidates") or []
    chosen = next((c for c in candidates if c.get("oid") == oid and not c.get("is_champion")), None)
    if chosen is None:
        raise RegistryError(
            f"The package {oid[:16]} is not a candidate of evaluation {report.get('stage')!r}; "
            "register the package that evaluation selected",
            oid=oid,
        )
    keys = ("candidate", "metrics", "fairness", "comparison", "gates", "passed")
    return (
        {
            "stage": report.get("stage"),
            "primary_metric": report.get("primary_metric"),
            "champion": report.get("champion"),
            "selected": (report.get("selected") or {}).get("oid") == oid,
            **{k: chosen.get(k) for k in keys},
        },
        bool(chosen.get("passed")) and bool(report.get("passed", True)),
    )


def _author_of(conn: Connection, run_id: str | None, default: str) -> str:
    if not run_id:
        return default
    actor = conn.execute(sql.RUN_ACTOR, {"id": run_id}).scalar()
    return str(actor) if actor is not None else default


def _run_of(conn: Connection, lineage: dict[str, Any], oid: str) -> tuple[Any, Any]:
    """(run id, stage run id) that produced package ``oid``: from its lineage (older packages),
    else from the latest ``logged_models`` row of that object (packages keep run ids out of
    their bytes so that the same model is the same object in every run)."""
    if lineage.get("run_id") or lineage.get("stage_run_id"):
        return lineage.get("run_id"), lineage.get("stage_run_id")
    row = conn.execute(sql.RUN_OF_LOGGED_MODEL, {"hash": oid}).fetchone()
    return (row[0], row[1]) if row is not None else (None, None)


def _evaluation_id(conn: Connection, stage: str | None, oid: str) -> int | None:
    if stage is None:
        return None
    found = conn.execute(sql.SELECTED_EVALUATION, {"stage": stage, "hash": oid}).scalar()
    return int(found) if found is not None else None


def register(
    store: Store,
    *,
    name: str,
    cache_dir: Path,
    package_dir: Path | None = None,
    oid: str | None = None,
    evaluation: dict[str, Any] | None = None,
    author: str,
    alias: str | None = None,
    config: AssayConfig | None = None,
    allow_pickle: bool = False,
    trusted_types: Sequence[str] = (),
) -> Registration:
    """Register a model package as the next immutable version of ``name``.

    Registering the same package (same object id) again returns the existing version.

    Args:
        store: the metadata store.
        name: the registered model name.
        cache_dir: the content-addressed cache (a directory package is added to it first, so
            the version never points at bytes that are not durable).
        package_dir: a package directory (with model.json), or
        oid: the object id of a package already in the cache.
        evaluation: the evaluation report (``evaluation.json``) the package was a candidate of;
            its gates, metrics and fairness results are kept with the version.
        author: who registers; the author recorded is the actor of the training run when known.
        alias: an alias to set at once (``staging``). Setting it is a promotion by ``author``:
            the same checks as :func:`assay.registry.promote` apply (team membership, gates,
            source aliases, approvals), in the same transaction. When they refuse, the version
            is registered without the alias and ``note`` lists what is missing.
        config: the project's assay.yaml (``team:`` and ``promotion:``); required with
            ``alias``, so that no caller can move an alias around the policy.
        allow_pickle: accept a ``pyfunc`` (pickle) package; its pickle must match the hash in
            its model.json (it is not unpickled here).
        trusted_types: exact type names skops may load on top of assay's trust list (and
            ``ASSAY_TRUSTED_TYPES``).

    Returns:
        The registration: the version, whether it is new, the alias set, a note.

    Raises:
        RegistryError: bad name or alias, ``alias`` without ``config``, a package that is not a
            candidate of the evaluation.
        ModelError: the package fails the checks load makes (files against model.json,
            format by content, trusted types, pickle opt-in); nothing is recorded.
    """
    from assay.registry._aliases import move_alias
    from assay.registry._promotion import policy_gaps
    from assay.registry._refs import check_alias

    check_name(name)
    if alias is not None:
        check_alias(alias)
        if config is None:
            raise RegistryError(
                f"register(alias={alias!r}) needs the project config: an alias moves only "
                "under its promotion policy",
                model=name,
                alias=alias,
            )
    oid, package_meta = _package_meta(
        cache_dir, package_dir, oid, allow_pickle=allow_pickle, trusted_types=trusted_types
    )
    eval_meta, gates_passed = _evaluation_meta(evaluation, oid)
    lineage = dict(package_meta.get("lineage") or {})
    meta = json.loads(
        json.dumps({"package": package_meta, "evaluation": eval_meta}, default=str)
    )
    for attempt in range(8):
        try:
            with store.write() as conn:
                existing = conn.execute(sql.MODEL_VERSION_OF_HASH,
                                        {"name": name, "hash": oid}).scalar()
                if existing is not None:
                    return Registration(
                        version=version_in(conn, ModelRef(name, int(existing))),
                        created=False,
                        note=f"{name}:{existing} already holds this package",
                    )
                now = time.time()
                if conn.execute(sql.REGISTERED_MODEL, {"name": name}).fetchone() is None:
                    conn.execute(sql.INSERT_REGISTERED_MODEL, {"name": name, "created_at": now})
                latest = conn.execute(sql.LATEST_MODEL_VERSION, {"name": name}).scalar()
                number = int(latest or 0) + 1
                run_id, stage_run_id = _run_of(conn, lineage, oid)
                if stage_run_id is not None and conn.execute(
                        sql.STAGE_RUN_ID, {"id": stage_run_id}).fetchone() is None:
                    stage_run_id = None  # not recorded here: the version names no stage run
                who = _author_of(conn, run_id, author)
                conn.execute(sql.INSERT_MODEL_VERSION, {
                    "name": name,
                    "version": number,
                    "model_hash": oid,
                    "stage_run_id": stage_run_id,
                    "run_id": run_id,
                    "evaluation_id": _evaluation_id(conn, eval_meta.get("stage"), oid),
                    "author": who,
                    "gates_passed": gates_passed,
                    "meta": meta,
                    "created_at": now,
                })
                store.record_event(
                    "model.registered",
                    f"{name}:{number}",
                    {"name": name, "version": number, "oid": oid, "gates_passed": gates_passed},
                    actor=author,
                    conn=conn,
                )
                note = None
                set_alias = None
                if alias is not None and config is not None:
                    fresh = version_in(conn, ModelRef(name, number))
                    gaps = policy_gaps(conn, config, fresh, alias, author, now)
                    if gaps:
                        note = f"alias {alias!r} was not set: " + "; ".join(gaps)
                    else:
                        move_alias(
                            store, conn, name=name, alias=alias, version=number,
                            expected_revision=None, action="promote", actor=author,
                        )
                        set_alias = alias
                return Registration(
                    version=version_in(conn, ModelRef(name, number)),
                    created=True,
                    alias=set_alias,
                    note=note,
                )
        except ConstraintViolation:
            # Another writer took this version number (PostgreSQL); try the next one.
            if attempt == 7:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")
