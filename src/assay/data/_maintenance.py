"""Cache maintenance: garbage collection of unreferenced objects, and integrity checks (fsck) of
the cache and of a remote.

gc holds the cache lock exclusively (:mod:`assay.objects._cache_lock`): every command that writes
objects holds it shared until it has recorded what references them, so gc never sees a written
object unreferenced. It keeps every object that a pointer file, ``assay.lock`` or the metadata
store references (dataset versions, run environments, run artifacts and stage outs, logged
models, registered model versions and their lineage, evaluations), every unreferenced object
younger than the grace period (for writers that do not take the lock, such as an older assay),
and every file that is not strictly an object or one of the cache's own temp files. A temp file
is removed once its writer's process is gone, or when it is older than the grace period.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assay.data._fresh import find_pointers
from assay.data._pointer import read_pointer
from assay.data._workspace import LOCK_TIMEOUT, Workspace
from assay.errors import CorruptObject, DataError, ObjectError
from assay.objects import DIR_SUFFIX, Leftover, cache_leftovers, collecting, is_object_id

if TYPE_CHECKING:
    from assay.objects import ProgressFn, Remote

DEFAULT_GRACE_MINUTES = 60.0
"""gc keeps unreferenced objects younger than this (``cache.gc_grace_minutes``)."""


@dataclass(frozen=True)
class GcResult:
    """What ``assay gc`` removed (or, with ``dry_run``, would remove: exactly that list)."""

    removed: list[str]
    """Object ids."""
    bytes: int
    kept: int
    dry_run: bool
    young: int = 0
    """Unreferenced objects kept because they are younger than the grace period."""
    temp_files: list[Leftover] = field(default_factory=list)
    """Left-over temp files in the cache (paths relative to it)."""
    remote: str | None = None
    remote_leftovers: list[Leftover] = field(default_factory=list)
    """Temp files and unfinished multipart uploads on ``remote`` (with ``gc -r``)."""

    def as_dict(self) -> dict[str, Any]:
        return {"removed": self.removed, "bytes": self.bytes, "kept": self.kept,
                "young": self.young, "dry_run": self.dry_run,
                "temp_files": [t.as_dict() for t in self.temp_files],
                "remote": self.remote,
                "remote_leftovers": [t.as_dict() for t in self.remote_leftovers]}


@dataclass(frozen=True)
class RemoteFsckResult:
    """What ``assay fsck -r`` found on a remote, and what it repaired."""

    remote: str
    checked: int
    corrupt: dict[str, str] = field(default_factory=dict)
    """Bad remote copies -> what was wrong, where the copy was set aside, what happened."""
    repaired: list[str] = field(default_factory=list)
    """Objects (bad or missing on the remote) uploaded again from a good local copy."""
    incomplete: dict[str, list[str]] = field(default_factory=dict)
    """Manifests on the remote -> files they list that the remote lacks (and we cannot upload)."""
    leftovers: list[Leftover] = field(default_factory=list)

    @property
    def is_clean(self) -> bool:
        """No bad or missing copy was found (a repaired one still counts: fsck exits 1 once)."""
        return not self.corrupt and not self.incomplete

    def as_dict(self) -> dict[str, Any]:
        return {"remote": self.remote, "checked": self.checked, "corrupt": self.corrupt,
                "repaired": self.repaired, "incomplete": self.incomplete,
                "leftovers": [t.as_dict() for t in self.leftovers], "clean": self.is_clean}


@dataclass(frozen=True)
class FsckResult:
    """What ``assay fsck`` found: checked objects and the corrupt ones (now quarantined)."""

    checked: int
    corrupt: dict[str, str] = field(default_factory=dict)
    temp_files: list[Leftover] = field(default_factory=list)
    """Left-over temp files of killed commands (``assay gc`` removes them)."""
    remote: RemoteFsckResult | None = None

    @property
    def is_clean(self) -> bool:
        return not self.corrupt and (self.remote is None or self.remote.is_clean)

    def as_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "corrupt": self.corrupt, "clean": self.is_clean,
                "temp_files": [t.as_dict() for t in self.temp_files],
                "remote": self.remote.as_dict() if self.remote else None}


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
    from assay.store import statements as sql

    with workspace.store.read() as conn:
        found.update(str(oid) for (oid,) in conn.execute(sql.OBJECT_REFERENCES) if oid)
        for (meta,) in conn.execute(sql.MODEL_VERSION_METAS):
            found.update(s for s in _strings(meta) if is_object_id(s))  # lineage
    return {oid for oid in found if is_object_id(oid)}


def _reachable(workspace: Workspace) -> set[str]:
    """:func:`roots` and every file their manifests list.

    Raises:
        DataError: a referenced manifest is corrupt or quarantined: which files it lists cannot
            be told, so nothing may be collected until it is restored.
    """
    cache = workspace.cache
    reachable: set[str] = set()
    for oid in roots(workspace):
        reachable.add(oid)
        if not oid.endswith(DIR_SUFFIX):
            continue
        quarantined = any(cache.quarantine_dir.glob(f"{oid}*"))
        try:
            if cache.exists(oid):
                reachable.update(e.oid for e in cache.manifest(oid))
                continue
        except CorruptObject:
            quarantined = True
        if quarantined:
            raise DataError(
                f"gc stopped: the directory manifest {oid} is referenced but corrupt (it is in "
                f"{cache.quarantine_dir}), so the files it lists cannot be told from garbage; "
                "restore it first (run: assay data pull), then run gc again (if no copy is "
                "left anywhere, delete it from quarantine/ to let gc proceed)",
                oid=oid,
            )
    return reachable


def gc(
    workspace: Workspace,
    *,
    dry_run: bool = False,
    grace_minutes: float = DEFAULT_GRACE_MINUTES,
    remote: Remote | None = None,
    timeout: float = LOCK_TIMEOUT,
    on_wait: Callable[[], None] | None = None,
) -> GcResult:
    """Remove unreferenced cache objects and left-over temp files (see the module docstring).

    ``dry_run`` computes the very list a real gc would remove now, and removes nothing. With
    ``remote``, its temp files and unfinished multipart uploads older than the grace period
    go too (never its objects: other clones, whose references this one cannot see, share it).
    ``on_wait`` is called once if commands writing to the cache make gc wait.

    Raises:
        ConcurrencyError: writers kept the cache lock for ``timeout`` seconds.
        DataError: a pointer file, assay.lock or a referenced manifest is unreadable or
            corrupt (gc refuses to guess).
        RemoteError: the remote cannot be reached.
    """
    cache = workspace.cache
    grace = max(0.0, grace_minutes) * 60.0
    removed: list[str] = []
    freed = kept = young = 0
    with collecting(cache.root, timeout=timeout, on_wait=on_wait):
        now = time.time()
        reachable = _reachable(workspace)
        for oid in cache.iter_objects():
            if oid in reachable:
                kept += 1
                continue
            try:
                st = os.lstat(cache.path_of(oid))
            except OSError:
                continue
            if now - max(st.st_mtime, st.st_ctime) < grace:
                young += 1
                continue
            removed.append(oid)
            freed += st.st_size
        temp_files = cache_leftovers(cache.root, grace=grace, now=now)
        freed += sum(t.size for t in temp_files)
        if not dry_run:
            for oid in removed:
                cache.remove(oid)
            for item in temp_files:
                with contextlib.suppress(OSError):
                    os.unlink(cache.root / item.name)
    remote_leftovers: list[Leftover] = []
    if remote is not None:
        remote_leftovers = remote.leftovers(grace=grace)
        if not dry_run:
            for item in remote_leftovers:
                remote.remove_leftover(item)
    if (removed or temp_files or remote_leftovers) and not dry_run:
        workspace.store.record_event("data.gc", "", {
            "removed": len(removed), "bytes": freed, "temp_files": len(temp_files),
            "remote": remote.name if remote else None,
            "remote_leftovers": len(remote_leftovers)})
    return GcResult(removed=removed, bytes=freed, kept=kept, dry_run=dry_run, young=young,
                    temp_files=temp_files, remote=remote.name if remote else None,
                    remote_leftovers=remote_leftovers)


def fsck(
    workspace: Workspace,
    *,
    jobs: int | None = None,
    remote: Remote | None = None,
    grace_minutes: float = DEFAULT_GRACE_MINUTES,
    progress: ProgressFn | None = None,
) -> FsckResult:
    """Verify every object's hash (and every manifest's contents); quarantine corrupt ones.

    Also lists left-over temp files (what gc would remove). With ``remote``, then checks every
    object on the remote too (see :func:`fsck_remote`), repairing from the now-verified cache.
    """
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
            if cache.exists(oid):
                where = cache.quarantine(oid)
                corrupt[oid] = f"{problem}; moved to {where}"
            else:
                corrupt[oid] = f"{problem}; moved to {cache.quarantine_dir}"
    temp_files = cache_leftovers(cache.root, grace=max(0.0, grace_minutes) * 60.0)
    remote_result = None
    if remote is not None:
        remote_result = fsck_remote(workspace, remote, jobs=jobs,
                                    grace_minutes=grace_minutes, progress=progress)
    return FsckResult(checked=len(oids), corrupt=corrupt, temp_files=temp_files,
                      remote=remote_result)


def fsck_remote(
    workspace: Workspace,
    remote: Remote,
    *,
    jobs: int | None = None,
    grace_minutes: float = DEFAULT_GRACE_MINUTES,
    progress: ProgressFn | None = None,
) -> RemoteFsckResult:
    """Re-hash every object on ``remote`` (a download of each) and repair what can be repaired.

    A bad copy is set aside to ``quarantine/`` on the remote (never deleted) and removed from
    its name, and a good local copy (hash-checked) is uploaded in its place. Without one here,
    the object stays missing on the remote, so a plain ``assay data push`` from any clone that
    has it repairs it. Files that a remote manifest lists but the remote lacks are uploaded when
    the cache has them too.

    Raises:
        RemoteError: the remote cannot be reached or refuses us.
    """
    cache = workspace.cache
    with cache.writing():  # the local copies stay while they are uploaded (gc waits)
        present = remote.sizes()
        bad = remote.check(sorted(present), jobs=jobs, progress=progress)
        lacking: dict[str, list[str]] = {}
        for oid in sorted(o for o in present if o.endswith(DIR_SUFFIX) and o not in bad):
            try:
                listed = remote.manifest(oid)
            except CorruptObject as exc:
                bad[oid] = exc.message
                continue
            absent = [e.oid for e in listed if e.oid not in present or e.oid in bad]
            if absent:
                lacking[oid] = list(dict.fromkeys(absent))
        corrupt: dict[str, str] = {}
        for oid, problem in bad.items():
            corrupt[oid] = f"{problem}; set aside to {remote.where(remote.quarantine(oid))}"
        wanted = list(dict.fromkeys([*bad, *(o for files in lacking.values() for o in files)]))
        copies = [o for o in wanted if workspace.has_all(o)]
        with contextlib.suppress(CorruptObject):  # the rest is pushed before it is raised
            remote.push(cache, copies, jobs=jobs)
        now_present = remote.sizes() if copies else present
        repaired = [o for o in copies if o in now_present]
    for oid in corrupt:
        if oid in repaired:
            corrupt[oid] += "; replaced by the good copy in the local cache"
        elif oid in copies:
            corrupt[oid] += ("; the local copy is corrupt too (quarantined): push a good copy "
                             "from another clone (assay data push)")
        else:
            corrupt[oid] += "; no copy here: run assay data push in a clone that has it"
    incomplete = {m: [o for o in files if o not in repaired] for m, files in lacking.items()}
    leftovers = remote.leftovers(grace=max(0.0, grace_minutes) * 60.0)
    if corrupt or repaired:
        workspace.store.record_event("data.fsck", remote.name, {
            "remote": remote.url, "corrupt": corrupt, "repaired": repaired})
    return RemoteFsckResult(remote=remote.name, checked=len(present), corrupt=corrupt,
                            repaired=repaired,
                            incomplete={m: files for m, files in incomplete.items() if files},
                            leftovers=leftovers)
