"""The run cache: cache key -> the outs a successful run produced, so a stage whose key was seen
before (in the lock, or in ``.assay/pipeline/keys/``) is restored instead of run, from the local
cache or pulled from the default remote.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

from assay._atomic import write_text_atomic

if TYPE_CHECKING:
    from assay.config import Project
    from assay.objects import LocalCache
    from assay.pipeline._dag import Stage
    from assay.pipeline._lock import LockEntry


def pipeline_dir(project: Project) -> Path:
    return project.state_dir / "pipeline"


def run_cache_path(project: Project, key: str) -> Path:
    return pipeline_dir(project) / "keys" / f"{key}.json"


def remember_outs(project: Project, key: str, outs: dict[str, str]) -> None:
    """Index ``outs`` under ``key`` (call once the objects are durable)."""
    path = run_cache_path(project, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    # an index entry only saves work; losing it in a crash costs a rerun, not data
    write_text_atomic(path, json.dumps({"outs": outs}, sort_keys=True), durable=False)


def has_object(cache: LocalCache, oid: str) -> bool:
    if not cache.exists(oid):
        return False
    if oid.endswith(".dir"):
        return all(cache.exists(e.oid) for e in cache.manifest(oid))
    return True


def pull(project: Project, cache: LocalCache, oids: list[str]) -> bool:
    """Fetch ``oids`` from the default remote when one is configured (False if impossible)."""
    if not project.config.default_remote:
        return False
    from assay.errors import ObjectError
    from assay.objects import remote_for

    try:
        remote_for(project, None).pull(cache, oids)
    except (ObjectError, OSError):
        return False
    return all(has_object(cache, oid) for oid in oids)


def restorable(project: Project, cache: LocalCache, stage: Stage, key: str,
               entry: LockEntry | None) -> dict[str, str] | None:
    """The outs stored for ``key`` if every one of them is (or can be made) available."""
    candidates: list[dict[str, str]] = []
    if entry is not None and entry.key == key:
        candidates.append(entry.outs)
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        candidates.append(dict(json.loads(run_cache_path(project, key).read_text())["outs"]))
    for outs in candidates:
        if set(outs) != set(stage.all_outs):
            continue
        missing = [oid for oid in outs.values() if not has_object(cache, oid)]
        if not missing or pull(project, cache, missing):
            return outs
    return None


def restore(project: Project, cache: LocalCache, outs: dict[str, str]) -> None:
    link_types: list[str] = list(project.config.cache.type)
    for out, oid in outs.items():
        cache.checkout(oid, project.root / out, link_types)
