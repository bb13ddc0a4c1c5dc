"""The run cache: cache key -> the outs a successful run produced, so a stage whose key was seen
before (in the lock, or in ``.assay/pipeline/keys.db``) is restored instead of run, from the
local cache or pulled from the default remote. Every object is hash-verified before it is
restored: a corrupt one is quarantined (and named), a good copy is pulled if the default remote
has one, else the stage runs again.

The index only saves work: losing its last entries in a crash costs a rerun, never data. It is a
plain SQLite file opened as the store's files are (:func:`assay.store._sqlite.connect_sqlite`:
WAL, ``synchronous = NORMAL``, so a crash never corrupts it), one transaction per group commit of
the runner.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from assay.store import statements as sql
from assay.store._sqlite import connect_sqlite, execute_many, sqlite_transaction

if TYPE_CHECKING:
    from assay.config import Project
    from assay.objects import LocalCache
    from assay.pipeline._dag import Stage
    from assay.pipeline._lock import LockEntry


def pipeline_dir(project: Project) -> Path:
    return project.state_dir / "pipeline"


def run_cache_path(project: Project, key: str) -> Path:
    """Where earlier versions kept one index entry per file (still read)."""
    return pipeline_dir(project) / "keys" / f"{key}.json"


class RunCacheIndex:
    """Cache key -> outs (out path -> object id) of the project's successful stage runs."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.path = pipeline_dir(project) / "keys.db"
        self._conn: sqlite3.Connection | None = None
        self._pending: dict[str, dict[str, str]] = {}
        self._has_db: bool | None = None  # checked once: a run is the index's only writer
        self._has_legacy = False

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = connect_sqlite(self.path)
            try:
                conn.execute(sql.RUN_CACHE_SCHEMA.sql)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def get(self, key: str) -> dict[str, str] | None:
        if key in self._pending:
            return self._pending[key]
        if self._has_db is None:
            self._has_db = self.path.exists()
            self._has_legacy = run_cache_path(self.project, "x").parent.is_dir()
        with contextlib.suppress(sqlite3.Error, ValueError, TypeError, AttributeError):
            if self._has_db:
                row = self._connect().execute(sql.RUN_CACHE_OUTS.sql, {"key": key}).fetchone()
                if row is not None:
                    return {str(k): str(v) for k, v in json.loads(row[0]).items()}
        if self._has_legacy:
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError, AttributeError):
                body = json.loads(run_cache_path(self.project, key).read_text())
                return {str(k): str(v) for k, v in body["outs"].items()}
        return None

    def put(self, key: str, outs: dict[str, str]) -> None:
        """Remember ``outs`` under ``key`` (written by :meth:`flush`: call it once they are
        durable in the cache)."""
        self._pending[key] = dict(outs)

    def flush(self) -> None:
        if not self._pending:
            return
        rows = [{"key": k, "outs": json.dumps(v, sort_keys=True)}
                for k, v in self._pending.items()]
        with contextlib.suppress(sqlite3.Error), sqlite_transaction(self._connect()) as conn:
            execute_many(conn, sql.PUT_RUN_CACHE_OUTS, rows)
        self._pending = {}
        self._has_db = True

    def close(self) -> None:
        self.flush()
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def has_object(cache: LocalCache, oid: str) -> bool:
    """True if ``oid`` (and every file of a directory) is in the cache (a corrupt manifest is
    quarantined, so it is not)."""
    from assay.errors import ObjectError

    if not cache.exists(oid):
        return False
    if oid.endswith(".dir"):
        try:
            return all(cache.exists(e.oid) for e in cache.manifest(oid))
        except ObjectError:
            return False
    return True


def _intact(cache: LocalCache, outs: dict[str, str], warn: Callable[[str], None]) -> bool:
    """True if every object of ``outs`` is here and hashes to its name; a corrupt one is
    quarantined (``warn`` hears of it), a missing one just makes it False."""
    from assay.errors import CorruptObject, ObjectNotFound

    intact = True
    for out, oid in outs.items():
        try:
            cache.check_tree(oid, what=f"out {out}")
        except ObjectNotFound:
            intact = False
        except CorruptObject as exc:
            warn(f"Not restoring {out} from the cache: {exc}")
            intact = False
    return intact


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
               entry: LockEntry | None, index: RunCacheIndex,
               warn: Callable[[str], None] = lambda _: None, *, check: bool = True
               ) -> dict[str, str] | None:
    """The outs stored for ``key`` if every one of them is (or can be made) available and
    intact (hash-verified; ``warn`` hears of corrupt ones, which are quarantined).

    ``check=False`` (``assay status``) only looks: the outs are in the local cache, nothing is
    pulled or hashed."""
    candidates: list[dict[str, str]] = []
    if entry is not None and entry.key == key:
        candidates.append(entry.outs)
    indexed = index.get(key)
    if indexed is not None:
        candidates.append(indexed)
    for outs in candidates:
        if set(outs) != set(stage.all_outs):
            continue
        if not check:
            if all(has_object(cache, oid) for oid in outs.values()):
                return outs
            continue
        _intact(cache, outs, warn)  # hashes what is here; a corrupt object is quarantined
        missing = [oid for oid in outs.values() if not has_object(cache, oid)]
        if missing and not pull(project, cache, missing):
            continue
        if _intact(cache, outs, warn):  # only what was pulled is new (hashed on download)
            return outs
    return None


def restore(project: Project, cache: LocalCache, outs: dict[str, str]) -> None:
    """Place ``outs`` in the workspace (verified by :func:`restorable` with this ``cache``, or
    hash-checked now by :meth:`LocalCache.checkout`)."""
    link_types: list[str] = list(project.config.cache.type)
    for out, oid in outs.items():
        cache.checkout(oid, project.root / out, link_types, root=project.root)


def put_back(project: Project, cache: LocalCache, names: list[str],
             lock: dict[str, LockEntry], hash_path: Callable[[str], str | None]
             ) -> tuple[list[str], list[str]]:
    """Restore the outs ``lock`` records for the stages ``names`` wherever the workspace holds
    something else (after a profile run: the full run's outs, so the workspace matches
    ``assay.lock``). Returns (the outs put back, those that could not be: not in the cache)."""
    missing: list[str] = []
    done: list[str] = []
    for name in names:
        entry = lock.get(name)
        if entry is None:
            continue
        changed = {out: oid for out, oid in entry.outs.items()
                   if entry.out_hashes.get(out) is None
                   or hash_path(out) != entry.out_hashes[out]}
        absent = [out for out, oid in changed.items() if not has_object(cache, oid)]
        missing.extend(absent)
        back = {o: i for o, i in changed.items() if o not in absent}
        restore(project, cache, back)
        done.extend(back)
    return done, missing
