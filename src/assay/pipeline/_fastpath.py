"""The no-op decision of ``assay run`` without loading the pipeline: "every stage is up to date"
from the last fresh run's marker (hashes of assay.yaml, params files and the lock; stats of
every dep and out; the store it ran against and the registry aliases it read).

A run that finds every stage up to date records no run and writes this marker
(:func:`write_fresh_marker`); :func:`noop_stage_count` answers the same question from it without
pydantic, SQLAlchemy, the object store or the CLI framework, and the command front
(:mod:`assay.cli._front`) prints the answer the full command prints. Imports stay minimal here.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay import _layout

if TYPE_CHECKING:
    from collections.abc import Callable

    from assay.config import Project
    from assay.pipeline._dag import Dag
    from assay.store import Connection

def _walk(path: Path) -> list[Path]:
    files: list[Path] = []
    stack = [path]
    while stack:
        current = stack.pop()
        with os.scandir(current) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    files.append(Path(entry.path))
    return sorted(files)


def stat_signature(root: Path, rels: list[str]) -> list[list[Any]]:
    """(path, inode, size, mtime_ns) of every file under ``rels``; missing paths are listed."""
    out: list[list[Any]] = []
    for rel in sorted(set(rels)):
        path = root / rel
        try:
            st = path.stat()
        except OSError:
            out.append([rel, None])
            continue
        if path.is_dir():
            out.append([rel, "dir", st.st_mtime_ns])
            for file in _walk(path):
                fst = file.stat()
                out.append([file.relative_to(root).as_posix(), fst.st_ino, fst.st_size,
                            fst.st_mtime_ns])
        else:
            out.append([rel, st.st_ino, st.st_size, st.st_mtime_ns])
    return out


def fresh_inputs(root: Path, params_files: list[str], profile: str | None = None
                 ) -> dict[str, Any]:
    """BLAKE3 of the files that define the pipeline (assay.yaml, the profile's lock, params
    files)."""
    import blake3

    out: dict[str, Any] = {}
    for rel in [_layout.CONFIG_FILE, _layout.lock_file(profile), *params_files]:
        try:
            out[rel] = blake3.blake3((root / rel).read_bytes()).hexdigest()
        except OSError:
            out[rel] = None
    return out


def _store_agrees(marker: dict[str, Any], agrees: Callable[[Connection], bool]) -> bool:
    """``agrees(conn)`` in a read transaction of the marker's SQLite store, opened read-only.

    Any other store (PostgreSQL), another ``ASSAY_STORE_URL``, a schema that needs migrating,
    or any error says False, which sends ``assay run`` down the full path.
    """
    from assay.errors import StoreError
    from assay.store import SqliteStore

    url = os.environ.get("ASSAY_STORE_URL", "").strip() or marker.get("store_url", "")
    if url != marker.get("store_url") or not url.startswith("sqlite:///"):
        return False
    try:
        store = SqliteStore.open(url, read_only=True)
        if store is None:
            return False
        with store, store.read() as conn:
            return agrees(conn)
    except StoreError:
        return False


def aliases_unchanged(marker: dict[str, Any]) -> bool:
    """True if every registry alias the pipeline depends on still names the same model."""
    from assay.store.statements import ALIAS_MODEL_HASH

    def same(conn: Connection) -> bool:
        for ref, expected in marker["aliases"].items():
            name, _, alias = ref.partition("@")
            if conn.execute(ALIAS_MODEL_HASH, {"name": name, "alias": alias}).scalar() != expected:
                return False
        return True

    return _store_agrees(marker, same)


def store_unchanged(marker: dict[str, Any]) -> bool:
    """True if the store is the one the fresh run used (the same instance id)."""
    from assay.store.statements import INSTANCE_ID

    def same(conn: Connection) -> bool:
        value = conn.execute(INSTANCE_ID).scalar()
        return value is not None and value == marker["store_id"]

    return _store_agrees(marker, same)


def noop_stage_count(root: Path, profile: str | None, *, for_status: bool = False
                     ) -> int | None:
    """The number of stages when ``assay run`` (every stage, ``profile``) has nothing to do;
    None when that cannot be decided here (the full path decides). ``for_status``: None also
    when outs of removed stages are left in the workspace (``assay status`` lists them)."""
    if profile == _layout.DEFAULT_PROFILE:
        profile = None
    try:
        markers = json.loads((_layout.state_dir(root) / _layout.PIPELINE_MARKER).read_text())
        marker = markers[profile or ""]
        if for_status and marker.get("orphan_outs"):
            return None
        if _layout.known_store_url(root) != marker["store_url"]:
            return None
        if fresh_inputs(root, list(marker["params_files"]), profile) != marker["inputs"]:
            return None
        if stat_signature(root, list(marker["paths"])) != marker["stats"]:
            return None
        if marker.get("aliases") and not aliases_unchanged(marker):
            return None
        if marker.get("store_id") and not store_unchanged(marker):
            return None
        return len(marker["stages"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def write_fresh_marker(project: Project, dag: Dag) -> None:
    """Remember that every stage of ``dag`` is up to date, for :func:`noop_stage_count`."""
    from assay._atomic import write_text_atomic
    from assay.pipeline._aliases import ALIAS_PARAM_PREFIX, STORE_PARAM
    from assay.pipeline._orphans import orphan_outs
    from assay.pipeline._params import params_files_of

    paths = [p for s in dag.stages.values() for p in (*s.deps, *s.all_outs)]
    files = params_files_of(project, dag)
    body = {
        "profile": dag.profile,
        "inputs": fresh_inputs(project.root, files, dag.profile),
        "params_files": files,
        "paths": sorted(set(paths)),
        "stats": stat_signature(project.root, paths),
        "stages": list(dag.stages),
        "store_url": project.store_url,
        "aliases": {
            key[len(ALIAS_PARAM_PREFIX) :]: value
            for stage in dag.stages.values()
            for key, value in stage.params.items()
            if key.startswith(ALIAS_PARAM_PREFIX)
        },
        "store_id": next((stage.params[STORE_PARAM] for stage in dag.stages.values()
                          if STORE_PARAM in stage.params), None),
        "orphan_outs": 0 if dag.profile is not None else len(orphan_outs(project, dag)),
    }
    path = project.state_dir / _layout.PIPELINE_MARKER
    path.parent.mkdir(parents=True, exist_ok=True)
    markers: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        markers = json.loads(path.read_text())
    markers[dag.profile or ""] = body
    write_text_atomic(path, json.dumps(markers), durable=False)
