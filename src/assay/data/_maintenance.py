"""Cache maintenance: garbage collection of unreferenced objects and integrity checks."""

from __future__ import annotations

import contextlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.data._pointer import find_pointers, read_pointer
from assay.data._workspace import Workspace
from assay.errors import DataError, ObjectError
from assay.objects import DIR_SUFFIX, is_object_id

_STALE_TMP_SECONDS = 3600.0


@dataclass(frozen=True)
class GcResult:
    """What ``assay gc`` removed (or would remove with ``dry_run``)."""

    removed: list[str]
    bytes: int
    kept: int
    dry_run: bool

    def as_dict(self) -> dict[str, Any]:
        return {"removed": self.removed, "bytes": self.bytes, "kept": self.kept,
                "dry_run": self.dry_run}


@dataclass(frozen=True)
class FsckResult:
    """What ``assay fsck`` found: checked objects and the corrupt ones (now quarantined)."""

    checked: int
    corrupt: dict[str, str] = field(default_factory=dict)

    @property
    def is_clean(self) -> bool:
        return not self.corrupt

    def as_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "corrupt": self.corrupt, "clean": self.is_clean}


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in (*value.keys(), *value.values()) for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def roots(workspace: Workspace) -> set[str]:
    """Object ids referenced by pointer files, ``assay.lock`` and the metadata store.

    Raises:
        DataError: a pointer file or assay.lock is unreadable (gc refuses to guess).
    """
    found: set[str] = set()
    for pfile in find_pointers(workspace.root):
        found.add(read_pointer(pfile, shown=workspace.rel(pfile)).oid)
    lock = workspace.root / "assay.lock"
    if lock.is_file():
        from assay.config import read_yaml
        from assay.errors import ConfigError

        try:
            data, _ = read_yaml(lock, shown="assay.lock")
        except ConfigError as exc:
            raise DataError(f"assay.lock is unreadable ({exc}); gc refuses to guess") from None
        found.update(s for s in _strings(data) if is_object_id(s))
    from sqlalchemy import select

    from assay.store import tables

    with workspace.store.read() as conn:
        for table, column in (
            (tables.dataset_versions, "hash"),
            (tables.artifacts, "hash"),
            (tables.logged_models, "hash"),
            (tables.model_versions, "model_hash"),
            (tables.runs, "env_hash"),  # assay runs env RUN reads it
        ):
            found.update(str(r[0]) for r in conn.execute(select(table.c[column])) if r[0])
    return {oid for oid in found if is_object_id(oid)}


def gc(workspace: Workspace, *, dry_run: bool = False) -> GcResult:
    """Remove cache objects that nothing references (see :func:`roots`)."""
    cache = workspace.cache
    with workspace.locked():
        reachable: set[str] = set()
        for oid in roots(workspace):
            reachable.add(oid)
            if oid.endswith(DIR_SUFFIX) and cache.exists(oid):
                with contextlib.suppress(ObjectError):
                    reachable.update(e.oid for e in cache.manifest(oid))
        removed: list[str] = []
        freed = 0
        kept = 0
        for oid in list(cache.iter_objects()):
            if oid in reachable:
                kept += 1
                continue
            path = cache.path_of(oid)
            with contextlib.suppress(OSError):
                freed += path.stat().st_size
            removed.append(oid)
            if not dry_run:
                cache.remove(oid)
        if not dry_run:
            _clean_tmp(cache.root / "tmp")
            for fan in cache.root.iterdir() if cache.root.is_dir() else ():
                if len(fan.name) == 2 and fan.is_dir():
                    _clean_tmp(fan, only_hidden=True)
    if removed and not dry_run:
        workspace.store.record_event("data.gc", "", {"removed": len(removed), "bytes": freed})
    return GcResult(removed=removed, bytes=freed, kept=kept, dry_run=dry_run)


def _clean_tmp(tmp: Path, *, only_hidden: bool = False) -> None:
    """Temp files left by killed processes (older than an hour, so no live writer owns them)."""
    if not tmp.is_dir():
        return
    cutoff = time.time() - _STALE_TMP_SECONDS
    for item in tmp.iterdir():
        if only_hidden and not item.name.startswith("."):
            continue
        with contextlib.suppress(OSError):
            if item.stat().st_mtime < cutoff:
                item.unlink()


def fsck(workspace: Workspace, *, jobs: int | None = None) -> FsckResult:
    """Verify every object's hash (and every manifest's contents); quarantine corrupt ones."""
    cache = workspace.cache
    oids = list(cache.iter_objects())

    def check(oid: str) -> str | None:
        try:
            if not cache.verify(oid):
                return "content does not match its hash"
            if oid.endswith(DIR_SUFFIX):
                cache.manifest(oid)
        except ObjectError as exc:
            return str(exc)
        except OSError as exc:
            return f"unreadable: {exc.strerror or exc}"
        return None

    with ThreadPoolExecutor(jobs or max(2, os.cpu_count() or 2)) as pool:
        verdicts = list(pool.map(check, oids))
    corrupt: dict[str, str] = {}
    with workspace.locked():
        for oid, problem in zip(oids, verdicts, strict=True):
            if problem is None:
                continue
            where = cache.quarantine(oid)
            corrupt[oid] = f"{problem}; moved to {where}"
    return FsckResult(checked=len(oids), corrupt=corrupt)
