"""The local content-addressed cache: objects named by BLAKE3 hash, two-level fan-out.

An object is written to a temp file inside the cache, fsynced, then renamed into place, so a
killed process never leaves a partial object visible under its name. A directory is stored as a
manifest object (``<hash>.dir``): sorted JSON entries of (path, oid, size, mode).

Adding a file uses one of three strategies (``cache.type`` in assay.yaml, first that works):
``reflink`` (copy-on-write clone, then hash), ``hardlink`` (hash, then link the workspace file
into the cache read-only: the file *is* the object) or ``copy`` (one read pass that hashes while
copying). Many small files are added one after another (a thread pool only pays for large
files) with one sync at the end.

Integrity: every object this process hashed (written, downloaded or verified) is remembered, and
every other one is hashed before it is materialised (:meth:`LocalCache.checkout`,
:meth:`LocalCache.check`); a corrupt object is moved to ``quarantine/`` and named, never used
and never deleted. An existing object of the wrong size found by an add is quarantined and
written anew (a truncated or emptied object heals on the next add). Writes hold the cache lock
shared (:mod:`assay.objects._cache_lock`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from assay._atomic import fsync_dir
from assay._paths import SafeDir, SafeTree, check_names, is_reserved, temp_name
from assay.errors import CorruptObject, ObjectError, ObjectNotFound, UsageError
from assay.objects import _cache_lock
from assay.objects._copying import copy_hashing, write_all
from assay.objects._faults import local_fault
from assay.objects._hashing import CHUNK, hash_bytes, hash_file, is_object_id, new_hasher
from assay.objects._leftovers import TMP_DIR, fan_dirs, fan_tmp_name, tmp_name
from assay.objects._links import link_or_copy, make_readonly, reflink
from assay.objects._walk import file_mode, walk_files

if TYPE_CHECKING:
    from assay.objects._state import StateDB

DIR_SUFFIX = ".dir"
AddMode = Literal["copy", "hardlink", "reflink"]
_UNSUPPORTED = (errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EINVAL, errno.ENOTTY,
                errno.EPERM, errno.EMLINK)
_POOL = max(4, min(32, (os.cpu_count() or 2) * 4))


@dataclass(frozen=True)
class ManifestEntry:
    """One file of a directory object."""

    path: str
    oid: str
    size: int
    mode: int = 0o644


@dataclass(frozen=True)
class Stored:
    """What adding a file or directory produced (or would produce)."""

    oid: str
    size: int
    nfiles: int
    skipped_links: tuple[str, ...] = field(default=(), compare=False)
    """Symlinks inside a folder that were not followed (see :func:`walk_files`)."""

    @property
    def is_dir(self) -> bool:
        return self.oid.endswith(DIR_SUFFIX)


def manifest_bytes(entries: Iterable[ManifestEntry]) -> bytes:
    """The canonical bytes of a directory manifest (entries sorted by path)."""
    ordered = sorted(entries, key=lambda e: e.path)
    return json.dumps(
        [{"path": e.path, "oid": e.oid, "size": e.size, "mode": e.mode} for e in ordered],
        separators=(",", ":"),
    ).encode()


def _disk_full(exc: OSError, what: Path) -> ObjectError:
    fault = local_fault(exc, path=what, doing="writing to the cache",
                        outcome="nothing was stored", frees_cache=True)
    if fault is not None:
        return fault
    return ObjectError(f"Cannot write to the cache ({what}): {exc.strerror or exc}")


def _unreadable(exc: OSError, path: Path | str) -> ObjectError:
    fault = local_fault(exc, path=path, doing="reading it")
    if fault is not None:
        return fault
    return ObjectError(f"Cannot read {path}: {exc.strerror or exc}", path=str(path))


def worth_threads(sizes: list[int]) -> bool:
    """True if adding or hashing files of these sizes gains from a thread pool.

    Only large files do: BLAKE3 releases the GIL for long stretches. For small files a pool is
    several times slower than one thread (measured: 10,000 files of 10 KB, 0.4-0.7 s serial,
    1.3-1.6 s on 2 to 8 threads), because every short syscall hands the GIL around.
    """
    return len(sizes) > 8 and sum(sizes) >= len(sizes) * 1024 * 1024


def _unlink_quietly(path: str | Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def sync_all() -> None:
    """Flush every pending write to disk (one call instead of an fsync per small file)."""
    os.sync()


class LocalCache:
    """Objects under ``root`` as ``root/ab/cdef...``; read-only once written."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._root_text = os.fspath(root)
        self._manifests: dict[str, list[ManifestEntry]] = {}
        self._fans: set[str] = set()
        self._has_tmp = False
        self._verified: set[str] = set()
        """Objects this instance hashed itself (wrote, downloaded or verified): not rehashed."""

    # -- naming ---------------------------------------------------------------------------

    def path_of(self, oid: str) -> Path:
        if not is_object_id(oid):
            raise CorruptObject(f"Not an object id: {oid!r}", oid=oid)
        return self.root / oid[:2] / oid[2:]

    def exists(self, oid: str) -> bool:
        if not is_object_id(oid):
            raise CorruptObject(f"Not an object id: {oid!r}", oid=oid)
        return os.path.isfile(f"{self._root_text}/{oid[:2]}/{oid[2:]}")

    @property
    def quarantine_dir(self) -> Path:
        return self.root.parent / "quarantine"

    def writing(self) -> contextlib.AbstractContextManager[None]:
        """Hold the cache lock shared: gc waits until the block ends (see
        :mod:`assay.objects._cache_lock`). Wrap writing objects *and* recording references to
        them, so gc never sees the objects unreferenced."""
        return _cache_lock.writing(self.root)

    def tmp_dir(self) -> Path:
        """Where partial objects are written (never visible under an object name)."""
        tmp = self.root / TMP_DIR
        if not self._has_tmp:
            tmp.mkdir(parents=True, exist_ok=True)
            self._has_tmp = True
        return tmp

    def new_tmp(self, suffix: str = ".part") -> Path:
        """A fresh, unused temp path inside the cache."""
        return self.tmp_dir() / tmp_name(suffix)

    def publish(self, tmp: Path, oid: str, *, durable: bool, readonly: bool = False) -> None:
        """Rename a fully written temp file whose bytes hash to ``oid`` to its object name
        (first writer wins; an existing copy of the wrong size is quarantined and replaced).

        ``readonly`` says the temp file is already read-only (saves a chmod per object).
        """
        final = self.path_of(oid)
        if self._present(oid, os.stat(tmp).st_size):
            tmp.unlink(missing_ok=True)
            return
        if oid[:2] not in self._fans:
            final.parent.mkdir(parents=True, exist_ok=True)
            self._fans.add(oid[:2])
        if not readonly:
            make_readonly(tmp)
        os.replace(tmp, final)
        self._verified.add(oid)
        if durable:
            fsync_dir(final.parent)

    def _present(self, oid: str, size: int) -> bool:
        """True if object ``oid`` is in the cache with ``size`` bytes. A copy of another size is
        corrupt (truncated, emptied): it is quarantined, and False says to write it anew."""
        try:
            st = os.stat(f"{self._root_text}/{oid[:2]}/{oid[2:]}")
        except OSError:
            return False
        if st.st_size == size and stat.S_ISREG(st.st_mode):
            return True
        with contextlib.suppress(OSError):
            self.quarantine(oid)
        return False

    # -- writing --------------------------------------------------------------------------

    def add_bytes(self, data: bytes, *, suffix: str = "", durable: bool = True) -> str:
        """Store ``data``; returns its object id (``suffix`` marks manifests)."""
        oid = hash_bytes(data) + suffix
        with self.writing():
            return self._add_bytes(data, oid, durable=durable)

    def _add_bytes(self, data: bytes, oid: str, *, durable: bool) -> str:
        if self._present(oid, len(data)):
            # Manifests and records are small and rewritten alike every time: a damaged copy
            # (same size, other bytes) would outlive every re-add, so compare, then replace it.
            with contextlib.suppress(OSError):
                if self.path_of(oid).read_bytes() == data:
                    self._verified.add(oid)
                    return oid
                self.quarantine(oid)
        tmp = self.new_tmp()
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                write_all(fd, memoryview(data))
                if durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            self.publish(tmp, oid, durable=durable)
        except OSError as exc:
            _unlink_quietly(tmp)  # a read-only disk refuses even this
            raise _disk_full(exc, self.root) from exc
        except BaseException:
            _unlink_quietly(tmp)  # a read-only disk refuses even this
            raise
        return oid

    def _add_small(self, path: Path | str, *, durable: bool,
                   expected: int) -> tuple[str, int] | None:
        """Read a small file once, hash it, and write it only if the cache lacks it.

        ``expected`` is the size the caller's stat saw: one read of that size plus one byte
        normally gets the whole file. The temp file is created in the object's own fan-out
        folder (ext4 creates files much faster there than in one shared temp folder with heavy
        churn). Plain string paths and few syscalls: this runs once per file of a 10,000-file
        folder. Returns (oid, size read), or None if the file is (or grew) larger than one chunk
        (the caller streams it instead).
        """
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                data = os.read(fd, expected + 1)
                # it grew since the stat: read on, until the end or past one chunk
                while expected < len(data) <= CHUNK and (more := os.read(fd, CHUNK)):
                    data += more
            finally:
                os.close(fd)
        except OSError as exc:
            raise _unreadable(exc, path) from exc
        if len(data) > CHUNK:
            return None
        oid = hash_bytes(data)
        fan = f"{self._root_text}/{oid[:2]}"
        final = f"{fan}/{oid[2:]}"
        if self._present(oid, len(data)):
            return oid, len(data)
        if oid[:2] not in self._fans:
            os.makedirs(fan, exist_ok=True)
            self._fans.add(oid[:2])
        tmp = f"{fan}/{fan_tmp_name(oid)}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
            try:
                write_all(fd, memoryview(data))
                if durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, final)  # same bytes as any concurrent writer's: either one wins
            self._verified.add(oid)
            if durable:
                fsync_dir(Path(fan))
        except OSError as exc:
            _unlink_quietly(tmp)
            raise _disk_full(exc, self.root) from exc
        except BaseException:
            _unlink_quietly(tmp)
            raise
        return oid, len(data)

    def _copy_hashing(self, path: Path | str, *, durable: bool) -> str:
        """Copy ``path`` into the cache, hashing the same bytes on the way (one read pass)."""
        tmp = self.new_tmp()
        hasher = new_hasher()
        try:
            src = open(path, "rb", buffering=0)  # noqa: SIM115 - closed below
        except OSError as exc:
            raise _unreadable(exc, path) from exc
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
            try:
                before = os.fstat(src.fileno())
                copy_hashing(src, fd, before.st_size, hasher.update, durable=durable,
                             small=CHUNK)
                if durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            after = os.stat(path)
            if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
                raise ObjectError(
                    f"{path} changed while it was being added; add it again when it is stable",
                    path=str(path),
                )
            oid = hasher.hexdigest()
            self.publish(tmp, oid, durable=durable, readonly=True)
            return oid
        except OSError as exc:
            _unlink_quietly(tmp)  # a read-only disk refuses even this
            if exc.filename == str(path):
                raise _unreadable(exc, path) from exc
            raise _disk_full(exc, self.root) from exc
        except BaseException:
            _unlink_quietly(tmp)  # a read-only disk refuses even this
            raise
        finally:
            src.close()

    def _link_into(self, path: Path | str, oid: str, mode: AddMode, *, durable: bool) -> None:
        tmp = self.new_tmp(".link")
        if mode == "hardlink":
            os.link(path, tmp)
        else:
            reflink(path, tmp)
        try:
            if durable:
                fd = os.open(tmp, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            self.publish(tmp, oid, durable=durable)
        except BaseException:
            _unlink_quietly(tmp)  # a read-only disk refuses even this
            raise

    def _relink(self, path: Path | str, oid: str) -> None:
        """Replace the workspace file at ``path`` by a hardlink to object ``oid`` if possible."""
        head, name = os.path.split(os.fspath(path))
        tmp = os.path.join(head, temp_name(name))
        try:
            os.link(self.path_of(oid), tmp)
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def add_file(
        self,
        path: Path | str,
        *,
        hardlink: bool = False,
        durable: bool = True,
        mode: AddMode | None = None,
        known_oid: str | None = None,
    ) -> Stored:
        """Store one file and return its object.

        Args:
            path: the file.
            hardlink: shorthand for ``mode="hardlink"``.
            durable: fsync before publishing (callers adding many files pass False and call
                :func:`sync_all` once before recording anything).
            mode: ``copy`` (hash while copying, one read pass), ``hardlink`` (the workspace
                file becomes the read-only object) or ``reflink`` (copy-on-write clone). A link
                mode the filesystem refuses falls back to copy.
            known_oid: the file's hash from the stat cache, to skip rehashing.

        Raises:
            ObjectError: the file cannot be read, or the cache cannot be written (disk full).
        """
        with self.writing():
            return self._add_file(path, hardlink=hardlink, durable=durable, mode=mode,
                                  known_oid=known_oid)

    def _add_file(self, path: Path | str, *, hardlink: bool, durable: bool,
                  mode: AddMode | None, known_oid: str | None) -> Stored:
        chosen: AddMode = mode or ("hardlink" if hardlink else "copy")
        try:
            st = os.stat(path)
        except OSError as exc:
            raise _unreadable(exc, path) from exc
        size = st.st_size
        if known_oid is not None and self._present(known_oid, size):
            if chosen == "hardlink":
                make_readonly_quietly(path)
            return Stored(oid=known_oid, size=size, nfiles=1)
        if chosen == "copy":
            small = self._add_small(path, durable=durable, expected=size) if size <= CHUNK else None
            if small is not None:
                return Stored(oid=small[0], size=small[1], nfiles=1)
            return Stored(oid=self._copy_hashing(path, durable=durable), size=size, nfiles=1)
        try:
            oid = known_oid or hash_file(path)
        except OSError as exc:
            raise _unreadable(exc, path) from exc
        if self._present(oid, size):
            return Stored(oid=oid, size=size, nfiles=1)
        if chosen == "hardlink" and (st.st_nlink > 1 or os.path.islink(path)):
            # The file has other names (say, it is still linked to an older cache object, edited
            # in place): made an object, edits through those names would change it. Store a copy
            # (durable first), then link the workspace file to the copy.
            stored = self.add_file(path, durable=True, mode="copy")
            self._relink(path, stored.oid)
            return stored
        try:
            self._link_into(path, oid, chosen, durable=durable)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise _disk_full(exc, self.root) from exc
            if exc.errno in _UNSUPPORTED or isinstance(exc, PermissionError):
                return self.add_file(path, durable=durable, mode="copy")
            raise _disk_full(exc, self.root) from exc
        return Stored(oid=oid, size=size, nfiles=1)

    def add_manifest(self, entries: Iterable[ManifestEntry], *, durable: bool = True) -> Stored:
        """Store a directory manifest; returns its ``.dir`` object."""
        with self.writing():
            return self._add_manifest(list(entries), durable=durable)

    def _add_manifest(self, listed: list[ManifestEntry], *, durable: bool) -> Stored:
        oid = self.add_bytes(manifest_bytes(listed), suffix=DIR_SUFFIX, durable=durable)
        if len(self._manifests) < 64:  # what was just written needs no re-read and re-parse
            self._manifests.setdefault(oid, sorted(listed, key=lambda e: e.path))
        return Stored(oid=oid, size=sum(e.size for e in listed), nfiles=len(listed))

    def add_dir(
        self,
        path: Path,
        *,
        hardlink: bool = False,
        durable: bool = True,
        mode: AddMode | None = None,
        state: StateDB | None = None,
    ) -> Stored:
        """Store every file under ``path`` (from a thread pool, one sync) and its manifest."""
        skipped: list[str] = []
        files = walk_files(path, skipped=skipped)
        stored = self.add_files(
            files, mode=mode or ("hardlink" if hardlink else "copy"), durable=durable, state=state
        )
        return replace(stored, skipped_links=tuple(skipped))

    def add_files(
        self,
        files: list[tuple[str, str, os.stat_result]],
        *,
        mode: AddMode = "copy",
        durable: bool = True,
        state: StateDB | None = None,
    ) -> Stored:
        """Store ``files`` (rel path, path, stat) and a manifest of them.

        Raises:
            ObjectError: a name could never be checked out again (a ``.git`` or ``.assay``
                folder inside, a control character or backslash, too long); nothing is stored.
        """
        try:
            check_names((rel for rel, _, _ in files), what="file name")
        except UsageError as exc:
            raise ObjectError(f"{exc.message}; assay refuses to version it (it could not be "
                              "checked out again): rename it or move it out",
                              path=str(exc.fields.get("path", ""))) from None
        with self.writing():
            return self._add_files(files, mode=mode, durable=durable, state=state)

    def _add_files(self, files: list[tuple[str, str, os.stat_result]], *, mode: AddMode,
                   durable: bool, state: StateDB | None) -> Stored:
        known = state.lookup({os.fspath(p): st for _, p, st in files}) if state else {}

        def one(item: tuple[str, str, os.stat_result]) -> ManifestEntry:
            rel, file, st = item
            known_oid = known.get(os.fspath(file))
            if mode == "copy" and known_oid is None and st.st_size <= CHUNK:
                # the common case of a folder of small files, without add_file's own stat
                small = self._add_small(file, durable=False, expected=st.st_size)
                if small is not None:
                    return ManifestEntry(path=rel, oid=small[0], size=small[1],
                                         mode=file_mode(st))
            stored = self._add_file(file, hardlink=False, mode=mode, durable=False,
                                    known_oid=known_oid)
            return ManifestEntry(path=rel, oid=stored.oid, size=stored.size, mode=file_mode(st))

        if worth_threads([st.st_size for _, _, st in files]):
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(_POOL) as pool:
                entries = list(pool.map(one, files))
        else:
            entries = [one(item) for item in files]
        if durable:
            sync_all()
        manifest = self.add_manifest(entries, durable=durable)
        if state is not None:
            state.record(
                (os.fspath(p), _restat(p, st), e.oid)
                for (_, p, st), e in zip(files, entries, strict=True)
                if known.get(os.fspath(p)) != e.oid
            )
        return manifest

    # -- reading --------------------------------------------------------------------------

    def read_bytes(self, oid: str, *, verify: bool = True) -> bytes:
        """The bytes of object ``oid`` (hash-verified unless ``verify`` is False).

        Raises:
            ObjectNotFound: it is not in the cache.
            CorruptObject: its bytes do not match its name (:meth:`check` also quarantines
                it; a plain read leaves that to ``assay fsck``, which reports what it moves).
        """
        path = self.path_of(oid)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ObjectNotFound(f"Object {oid} is not in the cache; run: assay data pull",
                                 oid=oid) from None
        if verify and hash_bytes(data) != oid.removesuffix(DIR_SUFFIX):
            raise CorruptObject(f"Cache object {oid} is corrupt; run: assay fsck", oid=oid)
        return data

    def _corrupt(self, oid: str, what: str = "") -> CorruptObject:
        """Quarantine corrupt object ``oid``; the error names it, where it went and the fix."""
        try:
            where: str = os.fspath(self.quarantine(oid))
        except FileNotFoundError:
            where = "(already moved away by another process)"
        except OSError as exc:
            where = f"(could not be moved aside: {exc.strerror or exc})"
        prefix = f"{what}: cache object" if what else "Cache object"
        return CorruptObject(
            f"{prefix} {oid} is corrupt; run: assay fsck, then assay data pull (to check the "
            "rest of the cache and fetch a good copy; adding the data again or re-running its "
            f"stage also restores it); the bad copy was quarantined to {where}",
            oid=oid, quarantined=where,
        )

    def check(self, oids: Iterable[str], *, what: str = "") -> None:
        """Make sure every object in ``oids`` is here and hashes to its name (objects this
        instance already hashed are not hashed again). A corrupt one is quarantined.

        Raises:
            ObjectNotFound: one is not in the cache.
            CorruptObject: one does not match its hash (it is now in ``quarantine/``).
        """
        for oid in dict.fromkeys(oids):
            if oid in self._verified:
                continue
            if not self.exists(oid):
                raise ObjectNotFound(
                    f"Object {oid}{f' ({what})' if what else ''} is not in the cache; "
                    "run: assay data pull", oid=oid)
            if not self.verify(oid):
                raise self._corrupt(oid, what)

    def check_tree(self, oid: str, *, what: str = "") -> None:
        """:meth:`check` of ``oid`` and, for a directory, of every file its manifest lists."""
        self.check([oid], what=what)
        if oid.endswith(DIR_SUFFIX):
            self.check([e.oid for e in self.manifest(oid)], what=what)

    def manifest(self, oid: str) -> list[ManifestEntry]:
        """The entries of directory object ``oid``; every path is checked (no '..', no abs)."""
        if not oid.endswith(DIR_SUFFIX):
            raise ObjectError(f"Object {oid} is not a directory", oid=oid)
        cached = self._manifests.get(oid)
        if cached is None:
            cached = parse_manifest(self.read_bytes(oid), oid)
            if len(self._manifests) < 64:  # objects are immutable: a parsed manifest stays true
                self._manifests[oid] = cached
        return list(cached)

    def verify(self, oid: str) -> bool:
        """True if the object exists and its bytes match its name (hashed every time)."""
        path = self.path_of(oid)
        if not path.is_file():
            return False
        good = hash_file(path) == oid.removesuffix(DIR_SUFFIX)
        if good:
            self._verified.add(oid)
        else:
            self._verified.discard(oid)
        return good

    def is_verified(self, oid: str) -> bool:
        """True if this instance hashed object ``oid`` itself (wrote, downloaded, verified)."""
        return oid in self._verified

    def size_of(self, oid: str) -> int | None:
        """The size of object ``oid`` in bytes, or None if it is not in the cache."""
        try:
            st = os.stat(self.path_of(oid))
        except OSError:
            return None
        return st.st_size if stat.S_ISREG(st.st_mode) else None

    def referenced(self, oid: str) -> list[str]:
        """``oid`` and, for a directory, every object it lists."""
        if oid.endswith(DIR_SUFFIX):
            return [oid, *(e.oid for e in self.manifest(oid))]
        return [oid]

    def iter_objects(self) -> Iterator[str]:
        """Every object in the cache: a regular file named by an object id in a real two-hex
        fan-out folder. Nothing else (temp files, quarantine, a shared folder's unrelated
        files, symlinks) is ever listed, so nothing else is ever collected."""
        for fan in fan_dirs(self.root):
            try:
                entries = sorted(os.scandir(self.root / fan), key=lambda e: e.name)
            except OSError:
                continue
            for item in entries:
                if is_object_id(fan + item.name) and item.is_file(follow_symlinks=False):
                    yield fan + item.name

    def quarantine(self, oid: str) -> Path:
        """Move a corrupt object aside (never delete it); returns where it went.

        A second corrupt copy of the same object goes beside the first (``<oid>.1``, ...).
        """
        src = self.path_of(oid)
        dest_dir = self.quarantine_dir
        dest_dir.mkdir(parents=True, exist_ok=True)
        dest = dest_dir / oid
        n = 0
        while dest.exists():
            n += 1
            dest = dest_dir / f"{oid}.{n}"
        os.rename(src, dest)
        self._verified.discard(oid)
        self._manifests.pop(oid, None)
        return dest

    def remove(self, oid: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path_of(oid).unlink()

    # -- materialising --------------------------------------------------------------------

    def checkout(self, oid: str, dest: Path, link_types: list[str], *, root: Path,
                 mode: int | None = None) -> None:
        """Place a file or directory object at ``dest`` inside ``root``; a directory is made to
        match exactly.

        Every write and delete goes through :class:`~assay._paths.SafeTree`: the folders from
        ``root`` to ``dest`` must be real folders (a symlink there is refused); at ``dest`` and
        below, whatever is in the way (a symlink, a file where a folder belongs, a folder where
        a file belongs) is replaced, the link itself and never what it points to. A directory's
        manifest is checked whole before anything is written. Each file is written to a temp
        name beside it and renamed into place; temp files that killed runs left behind are
        removed. A directory's files get their manifest modes; ``mode`` is a single file's (a
        link that would carry the wrong executable bit is skipped for the next type).

        Raises:
            UsageError: ``dest`` is outside ``root``, reserved (``.git``, ``.assay``), or a
                folder on the way to it is a symlink.
            ObjectNotFound: an object is not in the cache.
            CorruptObject: the manifest is malformed or names unsafe paths, or an object does not
                match its hash (quarantined; nothing is placed).
            LocalDiskError: the workspace disk is full, read-only or not writable by this user.
        """
        try:
            self._checkout(oid, dest, link_types, root=root, mode=mode)
        except OSError as exc:
            fault = local_fault(exc, path=dest, doing="checking out from the cache")
            if fault is None:
                raise
            raise fault from exc

    def _checkout(self, oid: str, dest: Path, link_types: list[str], *, root: Path,
                  mode: int | None) -> None:
        self.check_tree(oid, what=os.fspath(dest))  # a corrupt object is quarantined, not placed
        entries = self.manifest(oid) if oid.endswith(DIR_SUFFIX) else None
        with SafeTree(root) as tree:
            rel = tree.relative(dest, what="checkout path")
            with tree.parent(rel, create=True) as parent:
                assert parent is not None  # created
                if entries is None:
                    self._place(parent, rel.name, oid, link_types, mode)
                    parent.sweep_temps()
                    return
                with parent.child(rel.name, create=True, replace=True) as folder:
                    self._fill(folder, entries, link_types)

    def _place(self, folder: SafeDir, name: str, oid: str, link_types: list[str],
               mode: int | None) -> str:
        """Put object ``oid`` at ``name`` in ``folder`` (atomically replacing what is there)."""
        src = self.path_of(oid)
        if not os.path.isfile(src):
            raise ObjectNotFound(
                f"Object {oid} for {folder.path / name} is not in the cache; "
                "run: assay data pull", oid=oid,
            )
        st = folder.lstat(name)
        if st is not None and stat.S_ISDIR(st.st_mode):
            folder.remove(name)
        tmp = temp_name(name)
        used = link_or_copy(src, folder, tmp, link_types,
                            executable=None if mode is None else bool(mode & 0o111))
        try:
            folder.rename(tmp, name)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=folder.fd)
            raise
        return used

    def _fill(self, folder: SafeDir, entries: list[ManifestEntry], link_types: list[str]
              ) -> None:
        """Make ``folder`` hold exactly ``entries`` (checked names), never following a link."""
        stack: list[SafeDir] = [folder]
        names: list[str] = []  # names[i] is the folder stack[i + 1] inside stack[i]
        try:
            for entry in sorted(entries, key=lambda e: e.path.split("/")):
                *heads, leaf = entry.path.split("/")
                same = 0
                while same < min(len(names), len(heads)) and names[same] == heads[same]:
                    same += 1
                while len(names) > same:
                    stack.pop().close()
                    names.pop()
                for part in heads[same:]:
                    stack.append(stack[-1].child(part, create=True, replace=True))
                    names.append(part)
                self._place(stack[-1], leaf, entry.oid, link_types, entry.mode)
        finally:
            for opened in stack[1:]:
                opened.close()
        wanted = {e.path for e in entries}
        folders = {head for e in entries for head in _heads(e.path)}
        _prune(folder, "", wanted, folders)


def _heads(path: str) -> Iterator[str]:
    """``a/b/c`` -> ``a``, ``a/b``."""
    parts = path.split("/")
    for i in range(1, len(parts)):
        yield "/".join(parts[:i])


def _prune(folder: SafeDir, prefix: str, wanted: set[str], folders: set[str]) -> None:
    """Delete everything below ``folder`` that is not wanted (never ``.git`` or ``.assay``)."""
    for entry in folder.names():
        if is_reserved(entry.name):
            continue
        rel = prefix + entry.name
        if entry.is_dir(follow_symlinks=False):
            if rel in folders:
                with folder.child(entry.name) as sub:
                    _prune(sub, rel + "/", wanted, folders)
            else:
                folder.remove(entry.name)
        elif rel not in wanted:
            folder.remove(entry.name)


def parse_manifest(data: bytes, oid: str) -> list[ManifestEntry]:
    """Parse and check manifest bytes: safe relative paths, file object ids."""
    try:
        raw = json.loads(data)
        entries = [
            ManifestEntry(
                path=_text(item["path"]),
                oid=str(item["oid"]),
                size=int(item["size"]),
                mode=int(item.get("mode", 0o644)),
            )
            for item in raw
        ]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CorruptObject(f"Manifest {oid} is malformed: {exc}", oid=oid) from None
    try:
        check_names((e.path for e in entries), what="manifest path")
    except UsageError as exc:
        raise CorruptObject(
            f"Manifest {oid} is unsafe ({exc.message}); nothing was written: assay data add "
            "never makes such a manifest, so restore the pointer file from git or add the "
            "data again", oid=oid,
        ) from None
    for entry in entries:
        if not is_object_id(entry.oid) or entry.oid.endswith(DIR_SUFFIX):
            raise CorruptObject(f"Manifest {oid} lists a bad object id", oid=oid)
    return entries


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"path {value!r} is not a string")
    return value


def make_readonly_quietly(path: Path | str) -> None:
    """Make a linked workspace file read-only, ignoring files we may not chmod."""
    with contextlib.suppress(OSError):
        if os.stat(path).st_mode & 0o222:
            make_readonly(path)


def _restat(path: str, old: os.stat_result) -> os.stat_result:
    try:
        return os.stat(path)
    except OSError:
        return old
