"""Logging models into the cache and the store, and loading them back by reference.

A reference is one of: a package directory; ``NAME:VERSION`` or ``NAME@ALIAS`` (read straight
from the registry's store tables: the registry package sits above this one); a logged model id;
a stage run or run id (its latest logged model); or a package object id.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import CorruptObject, ModelError
from assay.models._package import (
    LoadedModel,
    ModelPackage,
    is_package,
    read_package,
    save_model,
)
from assay.models._verification import load_package
from assay.store import statements as sql

if TYPE_CHECKING:
    from assay.objects import Stored

_VERSION_REF = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9_.\-/]*):(?P<version>\d+)$")
_ALIAS_REF = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9_.\-/]*)@(?P<alias>[A-Za-z0-9_.\-]+)$")


@dataclass(frozen=True)
class LoggedModel:
    """A package stored in the cache (``oid``) and recorded in ``logged_models``."""

    id: int | None
    name: str
    oid: str
    path: Path | None
    package: ModelPackage


@dataclass(frozen=True)
class ActiveStage:
    """The stage run a call happens in, as told by the tracking API or the runner's context."""

    root: Path
    store_url: str | None
    run_id: str | None
    stage_run_id: str | None
    stage: str | None


def active_stage() -> ActiveStage | None:
    """The active stage run from ``assay.tracking``, if that API is present and active."""
    try:
        from assay import tracking
    except ImportError:
        return None
    getter = getattr(tracking, "active_stage_run", None)
    run = getter() if callable(getter) else None
    if run is None:
        return None
    flush = getattr(tracking, "flush", None)
    if callable(flush):  # the run's own rows are written in the background; they must exist first
        flush()
    root = getattr(run, "root", None)
    return ActiveStage(
        root=Path(root) if root else Path.cwd(),
        store_url=getattr(run, "store_url", None),
        run_id=getattr(run, "run_id", None),
        stage_run_id=getattr(run, "stage_run_id", None) or getattr(run, "id", None),
        stage=getattr(run, "stage", None),
    )


def _project(root: Path | None) -> Any:
    from assay.config import Project

    return Project.load(root)


def store_package(
    package: ModelPackage,
    *,
    cache_dir: Path,
    store_url: str,
    stage_run_id: str | None,
    artifact_path: str | None = None,
) -> LoggedModel:
    """Add a written package to the cache and record it (``logged_models`` + a model artifact).

    The cache write is durable before any row is recorded (RELIABILITY.md rule 2).
    """
    from assay.objects import LocalCache

    cache = LocalCache(cache_dir)
    with cache.writing():  # until it is recorded: gc never sees it unreferenced
        return _record_package(package, cache.add_dir(package.path), store_url=store_url,
                               stage_run_id=stage_run_id, artifact_path=artifact_path)


def _record_package(package: ModelPackage, stored: Stored, *, store_url: str,
                    stage_run_id: str | None, artifact_path: str | None) -> LoggedModel:
    from assay.store import open_store

    meta = {**package.to_dict(), "size": stored.size}
    store = open_store(store_url)
    try:
        with store.write() as conn:
            if stage_run_id is not None and conn.execute(
                    sql.STAGE_RUN_ID, {"id": stage_run_id}).fetchone() is None:
                stage_run_id = None  # not recorded in this store: the row names no stage run
            model_id = conn.execute(sql.INSERT_LOGGED_MODEL, {
                "stage_run_id": stage_run_id, "name": package.name, "hash": stored.oid,
                "flavor": package.flavor, "task": package.task, "meta": meta,
                "created_at": time.time()}).scalar()
            if stage_run_id is not None:
                conn.execute(sql.INSERT_ARTIFACT, {
                    "stage_run_id": stage_run_id,
                    "path": artifact_path or f"models/{package.name}",
                    "hash": stored.oid, "size": stored.size, "kind": "model"})
            store.record_event(
                "model.logged",
                package.name,
                {"oid": stored.oid, "flavor": package.flavor, "stage_run_id": stage_run_id},
                conn=conn,
            )
    finally:
        store.close()
    return LoggedModel(
        id=int(model_id) if model_id is not None else None,
        name=package.name,
        oid=stored.oid,
        path=package.path,
        package=package,
    )


def log_model(
    model: Any,
    name: str,
    input_example: Any,
    *,
    path: str | os.PathLike[str] | None = None,
    flavor: str | None = None,
    task: str | None = None,
    classes: Sequence[Any] | None = None,
    datasets: Sequence[dict[str, Any]] | None = None,
    params: dict[str, Any] | None = None,
    allow_pickle: bool = False,
    root: Path | None = None,
) -> LoggedModel:
    """Package ``model``, store it in the cache and record it for the active stage run.

    Args:
        model: the trained model (see :func:`assay.models.save_model` for flavors).
        name: the model's name.
        input_example: a few input rows; the signature is inferred from them.
        path: also keep the package at this path inside the project (e.g. a stage out).
        flavor: force a flavor.
        task: ``classification`` or ``regression`` when it cannot be inferred.
        classes: class labels when the model does not expose ``classes_``.
        datasets: lineage: ``[{name, path, oid}]`` the model was trained on.
        params: lineage: hyperparameters.
        allow_pickle: permit the pickle-based ``pyfunc`` flavor.
        root: the project root (default: the active stage's, else found from the cwd).

    Returns:
        The logged model, with its object id.

    Example:
        >>> import assay
        >>> assay.log_model(clf, "churn", input_example=train.head(5))  # doctest: +SKIP
    """
    from assay._paths import resolve_inside

    active = active_stage()
    project = _project(root or (active.root if active else None))
    # the run and stage run go into the logged_models row, not the package: the same model
    # from the same inputs must be the same object in every run
    lineage = {
        "root": project.root,
        "stage": active.stage if active else None,
        "datasets": list(datasets or []),
        "params": dict(params or {}),
    }
    tmp: str | None = None
    if path is not None:
        target = resolve_inside(project.root, path, what="model path")
    else:
        tmp = tempfile.mkdtemp(prefix="assay-model-")
        target = Path(tmp) / name.replace("/", "_")
    try:
        package = save_model(
            model,
            target,
            name=name,
            input_example=input_example,
            flavor=flavor,
            task=task,
            classes=classes,
            lineage=lineage,
            allow_pickle=allow_pickle,
        )
        logged = store_package(
            package,
            cache_dir=project.cache_dir,
            store_url=(active.store_url if active and active.store_url else project.store_url),
            stage_run_id=active.stage_run_id if active else None,
            artifact_path=target.relative_to(project.root).as_posix() if tmp is None else None,
        )
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return LoggedModel(
        id=logged.id,
        name=logged.name,
        oid=logged.oid,
        path=target if tmp is None else None,
        package=logged.package,
    )


def resolve_model_ref(ref: str, *, store_url: str) -> tuple[str, str]:
    """The package object id for a registry ref, logged model id, run id or object id.

    Returns:
        ``(oid, description)``.

    Raises:
        ModelError: nothing matches ``ref``.
    """
    from assay.objects import is_object_id
    from assay.store import open_store

    if is_object_id(ref):
        return ref, f"object {ref[:12]}"
    store = open_store(store_url)
    try:
        with store.read() as conn:
            version_match = _VERSION_REF.match(ref)
            alias_match = _ALIAS_REF.match(ref)
            if alias_match:
                name, alias = alias_match["name"], alias_match["alias"]
                row = conn.execute(sql.ALIAS_REVISION, {"name": name, "alias": alias}).fetchone()
                if row is None:
                    raise ModelError(
                        f"Model {name!r} has no alias {alias!r}; list aliases with: "
                        f"assay models show {name}",
                        ref=ref,
                    )
                version = int(row[0])
            elif version_match:
                name, version = version_match["name"], int(version_match["version"])
            else:
                name, version = "", -1
            if name:
                model_hash = conn.execute(sql.MODEL_HASH,
                                          {"name": name, "version": version}).scalar()
                if model_hash is None:
                    raise ModelError(
                        f"Model {name!r} has no version {version}; list versions with: "
                        f"assay models show {name}",
                        ref=ref,
                    )
                return str(model_hash), f"{name}:{version}"
            if ref.isdigit():
                row = conn.execute(sql.LOGGED_MODEL, {"id": int(ref)}).fetchone()
            else:
                row = conn.execute(sql.LOGGED_MODEL_OF_STAGE_RUN,
                                   {"stage_run_id": ref}).fetchone()
                if row is None:
                    row = conn.execute(sql.LOGGED_MODEL_OF_RUN, {"run_id": ref}).fetchone()
            if row is None:
                raise ModelError(
                    f"No model matches {ref!r}: not a package directory, NAME:VERSION, "
                    "NAME@ALIAS, logged model id or run id",
                    ref=ref,
                )
            return str(row[0]), f"{row[1]} ({ref})"
    finally:
        store.close()


def materialize(oid: str, *, cache_dir: Path, state_dir: Path) -> Path:
    """Check out package object ``oid`` under ``.assay/packages/``, verifying every file's hash.

    Raises:
        ObjectNotFound: the package is not in the cache.
        CorruptObject: a file of the package does not match its hash.
    """
    from assay.objects import LocalCache

    cache = LocalCache(cache_dir)
    entries = cache.manifest(oid)
    for entry in entries:
        if not cache.exists(entry.oid):
            from assay.errors import ObjectNotFound

            raise ObjectNotFound(
                f"Model package {oid[:12]} is incomplete in the cache (missing {entry.path}); "
                "run: assay data pull",
                oid=oid,
            )
        try:
            cache.check([entry.oid])
        except CorruptObject as exc:
            raise CorruptObject(
                f"Model package {oid[:12]}: {entry.path} is corrupt; run: assay fsck (the "
                f"object was quarantined to {exc.fields.get('quarantined')}), then assay data "
                "pull", oid=entry.oid) from None
    dest = state_dir / "packages" / oid.removesuffix(".dir")
    if is_package(dest) and _matches(dest, entries):
        return dest
    if dest.exists():  # a stale or tampered copy: the verified cache wins
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name[:12]}.", dir=dest.parent))
    try:
        cache.checkout(oid, staging, ["copy"], root=staging.parent)
        try:
            os.replace(staging, dest)
        except OSError:  # another process materialised it first
            if not is_package(dest):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def _matches(directory: Path, entries: list[Any]) -> bool:
    """True if ``directory`` holds exactly the manifest's files with the manifest's hashes."""
    from assay.objects import hash_file

    present = {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()}
    if present != {e.path for e in entries}:
        return False
    return all(hash_file(directory / e.path) == e.oid for e in entries)


def resolve_package(ref: str, *, root: Path | None = None) -> tuple[Path, str, str | None]:
    """Where the package named by ``ref`` lies on disk: ``(path, description, oid)``."""
    candidate = Path(ref)
    if root is not None and not candidate.is_absolute():
        candidate = root / candidate
    if is_package(candidate):
        return candidate, str(ref), None
    if candidate.is_dir():
        read_package(candidate)  # raises the precise "not a package" error
    project = _project(root)
    oid, description = resolve_model_ref(ref, store_url=project.store_url)
    path = materialize(oid, cache_dir=project.cache_dir, state_dir=project.state_dir)
    return path, description, oid


def load_model(
    ref: str | os.PathLike[str],
    *,
    allow_pickle: bool = False,
    trusted_types: Sequence[str] = (),
    root: Path | None = None,
) -> LoadedModel:
    """Load a model by package path, registry ref, logged model id or run id.

    Args:
        ref: a package directory, ``NAME:VERSION``, ``NAME@ALIAS``, a logged model id, a
            (stage) run id, or a package object id.
        allow_pickle: permit a hash-verified ``pyfunc`` model.
        trusted_types: extra exact type names skops may load.
        root: the project root (default: found from the working directory).

    Returns:
        A model with ``predict`` / ``predict_proba`` that checks inputs against its signature.

    Raises:
        ModelError: nothing matches, or the package cannot be loaded safely.

    Example:
        >>> model = assay.load_model("churn@production")  # doctest: +SKIP
        >>> model.predict_proba(frame)[:, 1]  # doctest: +SKIP
    """
    path, _, _ = resolve_package(os.fspath(ref), root=root)
    return load_package(path, allow_pickle=allow_pickle, trusted_types=trusted_types)
