"""The data workspace: adding data to the cache, status, and checkout of pointer files.

Every mutation runs under the project lock (``.assay/data.lock``), so concurrent commands wait
for each other instead of interleaving. Write order follows RELIABILITY.md: objects are durable
in the cache before the store records a version, and only then is the pointer file written.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay._layout import (
    DATA_LOCK_FILE,
    POINTER_SUFFIX,
    STAT_CACHE_FILE,
    ignore_in_git,
    ignored_path,
)
from assay._paths import TEMP_IGNORE, resolve_inside
from assay.data import _fresh as fast
from assay.data._fresh import find_pointers
from assay.data._pointer import (
    HistoryEntry,
    Pointer,
    data_path,
    disagreement,
    mismatch,
    pointer_path,
    read_pointer,
    tracked_rel,
    write_pointer,
)
from assay.data._results import AddResult, EntryStatus
from assay.data._settings import DataSettings
from assay.errors import (
    ConcurrencyError,
    DataError,
    ObjectError,
    PointerError,
    UsageError,
)
from assay.objects import (
    DIR_SUFFIX,
    LocalCache,
    StateDB,
    Stored,
    add_tree,
    cache_link_stat,
    choose_add_mode,
    scan_tree,
)

if TYPE_CHECKING:
    from assay.config import Project
    from assay.data._checkout import CheckoutResult
    from assay.objects import Remote
    from assay.store import Store

LOCK_TIMEOUT = 600.0


@dataclass(frozen=True)
class Target:
    """A tracked path: its pointer file and what it says."""

    path: Path
    pointer_file: Path
    rel: str
    pointer: Pointer


class Workspace:
    """The versioned data of one project: its cache, stat cache and pointer files."""

    def __init__(self, project: Project | DataSettings, store: Store | None = None) -> None:
        self.settings = project if isinstance(project, DataSettings) else DataSettings.of(project)
        self.root = self.settings.root
        self.cache = LocalCache(self.settings.cache_dir)
        self.state = StateDB(self.settings.state_dir / STAT_CACHE_FILE)
        self._store = store
        self._owns_store = False

    def close(self) -> None:
        """Close the stat cache, and the store if this workspace opened it."""
        self.state.close()
        if self._owns_store and self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def store(self) -> Store:
        if self._store is None:
            from assay.store import open_store

            self._store = open_store(self.settings.store_url)
            self._owns_store = True
        return self._store

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the project's data lock (waits for other assay commands), and the cache lock
        shared, so gc waits until what this command writes is referenced (the cache lock is
        always taken first: gc takes it exclusively)."""
        from filelock import FileLock, Timeout

        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.settings.state_dir / DATA_LOCK_FILE), timeout=LOCK_TIMEOUT)
        try:
            with self.cache.writing(), lock:
                yield
        except Timeout:
            raise ConcurrencyError(
                f"Another assay command holds {lock.lock_file} for over {LOCK_TIMEOUT:.0f} s; "
                "wait for it to finish"
            ) from None

    # -- paths ----------------------------------------------------------------------------

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def resolve(self, raw: str | os.PathLike[str]) -> Path:
        """A user-given data path (or its pointer file) inside the project.

        A relative path is taken from the current directory when that is inside the project
        (as a shell user expects), else from the project root (``assay -C DIR ...``).
        """
        text = os.fspath(raw)
        candidate = Path(text)
        if not candidate.is_absolute():
            cwd = Path.cwd().resolve()
            inside = cwd == self.root or self.root in cwd.parents
            candidate = (cwd if inside else self.root) / candidate
        absolute = Path(os.path.abspath(candidate))
        path = resolve_inside(self.root, absolute, what="data path")
        if absolute.is_symlink() and cache_link_stat(os.fspath(absolute)) is not None:
            # A symlink-type checkout: the tracked path is the link, not the cache object.
            parent = resolve_inside(self.root, absolute.parent, what="data path")
            path = parent / absolute.name
        state_dir = self.settings.state_dir.resolve()
        if path.name.endswith(POINTER_SUFFIX) and len(path.name) > len(POINTER_SUFFIX) and not (
            path.is_dir()
        ):
            path = data_path(path)
        if path == state_dir or state_dir in path.parents:
            raise UsageError(f"Refusing to track {text!r}: it is inside .assay/", path=text)
        if path == self.root:
            raise UsageError("Refusing to track the whole project; name a file or folder")
        return path

    def targets(self, raw: list[str] | None = None, *,
                problems: list[PointerError] | None = None) -> list[Target]:
        """The tracked paths named by ``raw`` (data paths or pointer files), or all of them.

        A pointer file that cannot be read, or whose name addresses no safe data path (empty,
        ``.git``, ``.assay``: see :func:`~assay.data._pointer.tracked_rel`), raises its
        :class:`PointerError`; with ``problems`` it is appended there instead and skipped.
        """
        if raw:
            files = []
            for item in raw:
                path = self.resolve(item)
                pfile = pointer_path(path)
                if not pfile.is_file():
                    raise UsageError(
                        f"{self.rel(path)} is not tracked (no {self.rel(pfile)}); "
                        f"run: assay data add {self.rel(path)}",
                        path=self.rel(path),
                    )
                files.append(pfile)
        else:
            files = find_pointers(self.root)
        out = []
        for pfile in files:
            shown = self.rel(pfile)
            try:
                rel = tracked_rel(self.root, pfile, shown=shown)
                pointer = read_pointer(pfile, shown=shown)
            except PointerError as exc:
                if problems is None:
                    raise
                problems.append(exc)
                continue
            out.append(Target(path=self.root / rel, pointer_file=pfile, rel=rel,
                              pointer=pointer))
        return out

    def dataset_name(self, path: Path, given: str | None) -> str:
        if given:
            return given
        rel = self.rel(path)
        for name, ds_path in self.settings.datasets.items():
            if ds_path.strip("/") == rel:
                return name
        existing = pointer_path(path)
        if existing.is_file():
            with contextlib.suppress(DataError):
                return read_pointer(existing).name
        base = path.name
        return base.split(".", 1)[0] or base

    # -- add ------------------------------------------------------------------------------

    def add(self, raw: str | os.PathLike[str], *, name: str | None = None,
            message: str | None = None) -> AddResult:
        """Version a file or directory: store it, record it, write ``PATH.assay``.

        Raises:
            UsageError: the path does not exist, is outside the project, overlaps a tracked
                path, is a file git or assay versions itself, or its dataset name is taken.
            DataError: the data cannot be read, or the cache cannot be written (disk full);
                nothing is recorded then.
        """
        from assay.data._guards import refuse_overlap, refuse_special, refuse_taken_name
        from assay.data._protection import edited_in_place, linked_objects

        path = self.resolve(raw)
        if not path.exists():
            raise UsageError(f"{self.rel(path)} does not exist", path=self.rel(path))
        if not (path.is_file() or path.is_dir()):
            raise UsageError(f"{self.rel(path)} is not a regular file or folder",
                             path=self.rel(path))
        rel = self.rel(path)
        refuse_special(self.settings, path)
        ds_name = self.dataset_name(path, name)
        pfile = pointer_path(path)
        with self.locked():
            signature = fast.data_signature(path)  # before the data is read: a later edit shows
            pointers = find_pointers(self.root)
            refuse_overlap(self.root, path, pointers)
            refuse_taken_name(self.settings, path, ds_name, pointers)
            is_exec = path.is_file() and bool(os.stat(path).st_mode & 0o111)
            previous = self._pointer_or_none(pfile)
            unchanged = self._unchanged(path, previous, ds_name, is_exec)
            if unchanged is not None and previous is not None:
                # the same data, but this store may lack its version (a fresh clone, a new
                # PostgreSQL store): record it, numbered as the committed history says
                lacks = not self._has_version(ds_name, previous.oid)
                number = previous.version
                if lacks or number is None:
                    number = self._record(rel, ds_name, unchanged, None, message,
                                          history=previous.history,
                                          event="data.add" if lacks else None)
                    rows = next((h.rows for h in previous.history if h.oid == previous.oid),
                                None)
                    versioned = previous.with_version(number, rows)
                    if versioned != previous:
                        write_pointer(pfile, versioned)
                self._remember_clean(rel, unchanged, ds_name, signature, [*pointers, pfile])
                return AddResult(path=rel, pointer_file=self.rel(pfile), name=ds_name,
                                 oid=unchanged.oid, size=unchanged.size,
                                 nfiles=unchanged.nfiles, changed=False,
                                 version=number if lacks else None,
                                 skipped_links=list(unchanged.skipped_links), recorded=lacks)
            linked = linked_objects(self.cache, path, previous)
            mode = choose_add_mode(self.cache, list(self.settings.cache_types))
            try:
                stored = add_tree(self.cache, path, mode=mode, state=self.state, durable=True)
            except ObjectError as exc:
                raise DataError(f"Cannot add {rel}: {exc}", path=rel) from exc
            lost = edited_in_place(self.cache, linked, stored)
            profile = None
            from assay.data._profile import is_tabular, profile_table

            if is_tabular(path):
                profile = profile_table(path)
            history = previous.history if previous is not None and previous.name == ds_name else ()
            version = self._record(rel, ds_name, stored, profile, message, history=history)
            write_pointer(pfile, Pointer(oid=stored.oid, size=stored.size, nfiles=stored.nfiles,
                                         name=ds_name, is_exec=is_exec, history=history)
                          .with_version(version, profile.rows if profile else None))
            self._gitignore(rel)
            if not lost:
                self._remember_clean(rel, stored, ds_name, signature, [*pointers, pfile])
        return AddResult(path=rel, pointer_file=self.rel(pfile), name=ds_name, oid=stored.oid,
                         size=stored.size, nfiles=stored.nfiles, changed=True, version=version,
                         rows=profile.rows if profile else None, mode=mode,
                         skipped_links=list(stored.skipped_links), quarantined=lost)

    def _remember_clean(self, rel: str, stored: Stored, name: str,
                        signature: list[Any] | None, pointers: list[Path]) -> None:
        """Let ``assay data add REL`` on this exact data answer from the marker next time."""
        if stored.skipped_links:
            return  # the full path has more to say (which symlinks it skipped)
        snap = fast.snapshot(self.root, pointers)
        entry = fast.entry_for(self.root, rel, oid=stored.oid, name=name, size=stored.size,
                               nfiles=stored.nfiles, objects=self._objects_of(stored.oid),
                               signature=signature)
        fast.write_marker(self.settings.state_dir, snap, {rel: entry}, replace_all=False)

    def _pointer_or_none(self, pfile: Path) -> Pointer | None:
        if not pfile.is_file():
            return None
        try:
            return read_pointer(pfile)
        except PointerError:
            return None  # re-adding is how a corrupt pointer is repaired

    def _unchanged(self, path: Path, current: Pointer | None, name: str,
                   is_exec: bool) -> Stored | None:
        """The stored object if the pointer already names this exact data (no rehash)."""
        if current is None or current.name != name or current.is_exec != is_exec:
            return None
        try:
            scan = scan_tree(path, state=self.state, only_known=True)
        except (LookupError, ObjectError):
            return None
        if scan.stored.oid != current.oid:
            return None
        if disagreement(current, size=scan.stored.size, nfiles=scan.stored.nfiles):
            return None  # a hand-edited size or file count: rewrite the pointer
        if not all(self.cache.exists(oid) for oid in scan.objects()):
            return None
        return scan.stored

    def has_all(self, oid: str) -> bool:
        """True if the object (and for a directory every file it lists) is in the cache."""
        if not self.cache.exists(oid):
            return False
        if oid.endswith(DIR_SUFFIX):
            try:
                return all(self.cache.exists(e.oid) for e in self.cache.manifest(oid))
            except ObjectError:
                return False
        return True

    def remember_version(self, t: Target, *, message: str) -> None:
        """Record the dataset version ``t``'s pointer names, if the store lacks it (say, data
        another clone added, pulled here), so that gc keeps its objects."""
        stored = Stored(oid=t.pointer.oid, size=t.pointer.size, nfiles=t.pointer.nfiles)
        self._record(t.rel, t.pointer.name, stored, None, message, event=None,
                     history=t.pointer.history)

    def _has_version(self, name: str, oid: str) -> bool:
        from assay.store import statements as sql

        with self.store.read() as conn:
            return conn.execute(sql.DATASET_VERSION_ID, {"name": name, "hash": oid}).fetchone() \
                is not None

    def _record(self, rel: str, name: str, stored: Stored, profile: Any,
                message: str | None, *, event: str | None = "data.add",
                history: tuple[HistoryEntry, ...] = ()) -> int:
        """Record the dataset version (once per name and hash) and an ``event`` (``data.add``);
        returns the version number.

        The versions the pointer's committed ``history`` lists that this store lacks are
        recorded first, in order, so the store numbers them as every other clone does."""
        from assay._identity import current_user
        from assay.store import statements as sql

        actor = current_user(self.root)
        now = time.time()
        row = {
            "name": name, "path": rel, "hash": stored.oid,
            "kind": "dir" if stored.is_dir else "file", "size": stored.size,
            "nfiles": stored.nfiles, "rows": profile.rows if profile else None,
            "schema": profile.schema if profile else None,
            "profile": profile.columns if profile else None,
            "git_commit": _git_commit(self.root), "actor": actor, "created_at": now,
            "message": message,
        }
        key = {"name": name, "hash": stored.oid}
        with self.store.write() as conn:
            for entry in history:
                if conn.execute(sql.DATASET_VERSION_ID,
                                {"name": name, "hash": entry.oid}).fetchone() is not None:
                    continue
                if entry.oid == stored.oid:  # this version itself, in its place in the order
                    conn.execute(sql.INSERT_DATASET_VERSION,
                                 {**row, "rows": row["rows"] if row["rows"] is not None
                                  else entry.rows})
                    continue
                conn.execute(sql.INSERT_DATASET_VERSION, {
                    **row, "hash": entry.oid, "size": entry.size, "nfiles": entry.nfiles,
                    "kind": "dir" if entry.oid.endswith(DIR_SUFFIX) else "file",
                    "rows": entry.rows, "schema": None, "profile": None, "git_commit": None,
                    "message": f"v{entry.version}, from the history in {rel}{POINTER_SUFFIX}",
                })
            if conn.execute(sql.DATASET_VERSION_ID, key).fetchone() is None:
                conn.execute(sql.INSERT_DATASET_VERSION, row)
            version = int(conn.execute(sql.DATASET_VERSION_NUMBER, key).scalar())
            if event is not None:
                self.store.record_event(event, name, {
                    "path": rel, "hash": stored.oid, "size": stored.size,
                    "nfiles": stored.nfiles, "version": version,
                    "rows": profile.rows if profile else None,
                }, actor=actor, ts=now, conn=conn)
        return version

    def _gitignore(self, rel: str) -> None:
        """Ignore the data path, and assay's temp files (a killed checkout's leftovers)."""
        ignore_in_git(self.root, [TEMP_IGNORE, ignored_path(rel)])

    # -- status ---------------------------------------------------------------------------

    def status(self, raw: list[str] | None = None, *, remote: Remote | None = None
               ) -> list[EntryStatus]:
        """Per tracked path: ``ok``, ``modified``, ``missing``, ``not_in_cache``,
        ``not_pushed`` (only with ``remote``), or ``corrupt_pointer`` (with a ``reason``) when
        the pointer's size or file count contradicts its object (hand-edited), or the pointer
        file cannot be read or names no safe data path (its entry's path is the pointer file;
        the other pointers are still checked)."""
        whole = raw is None and remote is None  # a clean answer can serve the fast path
        problems: list[PointerError] = []
        targets = self.targets(raw, problems=problems)
        snap = fast.snapshot(self.root, [t.pointer_file for t in targets]) if whole else None
        signatures = {t.rel: fast.data_signature(t.path) for t in targets} if whole else {}
        out: list[EntryStatus] = []
        wanted: dict[str, list[str]] = {}
        for t in targets:
            states: list[str] = []
            scan = None
            if not t.path.exists():
                states.append("missing")
            else:
                try:
                    scan = scan_tree(t.path, state=self.state)
                except ObjectError:
                    scan = None
                if scan is None or scan.stored.oid != t.pointer.oid:
                    states.append("modified")
                    scan = None
            if scan is not None:  # the workspace is the pointer's data: its entries are known
                in_cache = all(self.cache.exists(oid) for oid in scan.objects())
                objects = scan.objects()
                problem = disagreement(t.pointer, size=scan.stored.size,
                                       nfiles=scan.stored.nfiles)
            else:
                in_cache = self.has_all(t.pointer.oid)
                objects = self._objects_of(t.pointer.oid)
                problem = mismatch(t.pointer, self.cache)
            if problem is not None:
                out.append(EntryStatus(path=t.rel, name=t.pointer.name, oid=t.pointer.oid,
                                       states=["corrupt_pointer"],
                                       reason=self.pointer_error(t, problem).message))
                wanted[t.rel] = []
                continue
            if not in_cache:
                states.append("not_in_cache")
            out.append(EntryStatus(path=t.rel, name=t.pointer.name, oid=t.pointer.oid,
                                   states=states))
            wanted[t.rel] = objects
        if remote is not None and targets:
            lacking = set(remote.missing([o for objs in wanted.values() for o in objs],
                                         cache=self.cache))
            for entry in out:
                if lacking.intersection(wanted[entry.path]):
                    entry.states.append("not_pushed")
        for entry in out:
            if not entry.states:
                entry.states.append("ok")
        out.extend(  # the other pointers are still reported; the CLI exits 2 naming these
            EntryStatus(path=str(p.fields.get("path", "")), name="", oid="",
                        states=["corrupt_pointer"], reason=p.message)
            for p in problems
        )
        if snap is not None and out and all(e.is_clean for e in out):
            pointers = {t.rel: t.pointer for t in targets}
            fast.write_marker(self.settings.state_dir, snap, {
                e.path: fast.entry_for(self.root, e.path, oid=e.oid, name=e.name,
                                       size=pointers[e.path].size,
                                       nfiles=pointers[e.path].nfiles, objects=wanted[e.path],
                                       signature=signatures[e.path])
                for e in out
            }, replace_all=True)
        return out

    def pointer_error(self, t: Target, problem: str) -> PointerError:
        """The error for a pointer that contradicts its object (``problem`` says how)."""
        shown = self.rel(t.pointer_file)
        return PointerError(
            f"{shown}: corrupt pointer file ({problem}); restore it from git "
            f"(git checkout -- {shown}) or re-run: assay data add {t.rel}",
            path=shown, reason=problem,
        )

    def _objects_of(self, oid: str) -> list[str]:
        if oid.endswith(DIR_SUFFIX) and self.cache.exists(oid):
            with contextlib.suppress(ObjectError):
                return self.cache.referenced(oid)
        return [oid]

    # -- checkout -------------------------------------------------------------------------

    def checkout(self, raw: list[str] | None = None, *, force: bool = False) -> CheckoutResult:
        """Make the workspace match the pointer files, verifying objects before placing them.

        See :func:`assay.data._checkout.checkout`.
        """
        from assay.data._checkout import checkout

        return checkout(self, raw, force=force)


def add_paths(settings: DataSettings, paths: list[str], *, name: str | None,
              message: str | None) -> list[AddResult]:
    """Add each path, as ``assay data add`` does (the full command and its shortcut alike).

    Raises:
        UsageError: ``--name`` with several paths; see :meth:`Workspace.add` for the rest.
    """
    if name and len(paths) > 1:
        raise UsageError("--name works with one path at a time")
    with Workspace(settings) as ws:
        return [ws.add(p, name=name, message=message) for p in paths]


def _git_commit(root: Path) -> str | None:
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
