"""Hashing and adding a workspace path (file or directory) through the stat cache."""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from assay.errors import ObjectError
from assay.objects._cache import (
    _POOL,
    DIR_SUFFIX,
    AddMode,
    LocalCache,
    ManifestEntry,
    Stored,
    manifest_bytes,
    worth_threads,
)
from assay.objects._hashing import hash_bytes, hash_file
from assay.objects._state import StateDB
from assay.objects._walk import file_mode, walk_files


def _stat(path: Path) -> os.stat_result:
    try:
        return os.stat(path)
    except FileNotFoundError:
        raise ObjectError(f"{path} does not exist", path=str(path)) from None
    except OSError as exc:
        raise ObjectError(f"Cannot read {path}: {exc.strerror or exc}", path=str(path)) from None


def _hash_one(path: Path | str) -> str:
    try:
        return hash_file(path)
    except OSError as exc:
        raise ObjectError(f"Cannot read {path}: {exc.strerror or exc}", path=str(path)) from None


def tree_entries(
    path: Path, *, state: StateDB | None = None, only_known: bool = False,
    skipped: list[str] | None = None, temps: list[str] | None = None,
) -> list[ManifestEntry] | None:
    """The manifest entries a directory WOULD get, hashing only files the stat cache lacks.

    With ``only_known`` nothing is hashed: None is returned as soon as one file is unknown.
    Symlinks that are not cache links are left out and listed in ``skipped``; assay's own
    temp files are left out and listed in ``temps``.
    """
    files = walk_files(path, skipped=skipped, temps=temps)
    known_map = state.lookup({os.fspath(p): s for _, p, s in files}) if state else {}
    unknown = [(p, s.st_size) for _, p, s in files if os.fspath(p) not in known_map]
    todo = [p for p, _ in unknown]
    if todo and only_known:
        return None
    if worth_threads([size for _, size in unknown]):
        with ThreadPoolExecutor(_POOL) as pool:
            fresh = dict(zip((os.fspath(p) for p in todo), pool.map(_hash_one, todo), strict=True))
    else:
        fresh = {os.fspath(p): _hash_one(p) for p in todo}
    if state is not None and fresh:
        state.record(
            (os.fspath(p), s, fresh[os.fspath(p)]) for _, p, s in files if os.fspath(p) in fresh
        )
    return [
        ManifestEntry(
            path=rel,
            oid=known_map.get(os.fspath(p)) or fresh[os.fspath(p)],
            size=s.st_size,
            mode=file_mode(s),
        )
        for rel, p, s in files
    ]


@dataclass(frozen=True)
class TreeScan:
    """What a path would be stored as: its object and, for a directory, the manifest entries."""

    stored: Stored
    entries: list[ManifestEntry] | None = None

    def objects(self) -> list[str]:
        """The object ids it consists of (the manifest and every file, or the one file)."""
        if self.entries is None:
            return [self.stored.oid]
        return [self.stored.oid, *(e.oid for e in self.entries)]


def scan_tree(path: Path, *, state: StateDB | None = None, only_known: bool = False,
              temps: list[str] | None = None) -> TreeScan:
    """Like :func:`hash_tree`, also returning a directory's entries (no manifest re-read).

    ``temps`` collects the rel paths of assay temp files inside a directory (not data).
    """
    path = Path(os.path.abspath(path))
    st = _stat(path)
    if not os.path.isdir(path):
        key = os.fspath(path)
        known = state.get(key, st) if state else None
        if known is None and only_known:
            raise LookupError(key)
        oid = known or _hash_one(path)
        if state is not None and known is None:
            state.record([(key, st, oid)])
        return TreeScan(Stored(oid=oid, size=st.st_size, nfiles=1))
    skipped: list[str] = []
    entries = tree_entries(path, state=state, only_known=only_known, skipped=skipped,
                           temps=temps)
    if entries is None:
        raise LookupError(os.fspath(path))
    oid = hash_bytes(manifest_bytes(entries)) + DIR_SUFFIX
    return TreeScan(
        Stored(oid=oid, size=sum(e.size for e in entries), nfiles=len(entries),
               skipped_links=tuple(skipped)),
        entries,
    )


def hash_tree(
    path: Path, *, state: StateDB | None = None, only_known: bool = False
) -> Stored:
    """The object a file or directory WOULD get if added, without storing anything.

    A directory gets the exact ``<hash>.dir`` id that :meth:`LocalCache.add_dir` produces.
    Files whose (inode, size, mtime_ns) match the stat cache are not rehashed; newly hashed
    files are recorded in it.

    Args:
        path: a file or directory.
        state: the stat cache (recommended: unchanged files are then never rehashed).
        only_known: hash nothing; raise :class:`LookupError` if any file is not in the stat
            cache (a cheap "is it unchanged?" probe).

    Raises:
        ObjectError: the path does not exist or cannot be read.
    """
    return scan_tree(path, state=state, only_known=only_known).stored


def add_tree(
    cache: LocalCache,
    path: Path,
    *,
    mode: AddMode = "copy",
    state: StateDB | None = None,
    durable: bool = True,
) -> Stored:
    """Store a file or directory in ``cache`` through the stat cache; durable before returning.

    Raises:
        ObjectError: unreadable input, or the cache cannot be written (disk full).
    """
    path = Path(os.path.abspath(path))
    st = _stat(path)
    if os.path.isdir(path):
        return cache.add_dir(path, mode=mode, state=state, durable=durable)
    key = os.fspath(path)
    known = state.get(key, st) if state else None
    stored = cache.add_file(path, mode=mode, durable=durable, known_oid=known)
    if state is not None and known != stored.oid:
        with contextlib.suppress(OSError):
            st = os.stat(path)
        state.record([(key, st, stored.oid)])
    return stored


def choose_add_mode(cache: LocalCache, types: list[str]) -> AddMode:
    """How ``assay data add`` brings files into the cache for a ``cache.type`` list.

    Reflink is probed once (a tiny clone inside the cache); where the filesystem refuses it
    the next type in the list is used. ``symlink`` and ``copy`` both copy into the cache.
    """
    for kind in types:
        if kind == "reflink" and _reflink_works(cache):
            return "reflink"
        if kind == "hardlink":
            return "hardlink"
        if kind in ("copy", "symlink"):
            return "copy"
    return "copy"


def _reflink_works(cache: LocalCache) -> bool:
    from assay.objects._links import reflink

    src = cache.new_tmp(".probe")
    dst = cache.new_tmp(".probe")
    try:
        src.write_bytes(b"assay reflink probe")
        reflink(src, dst)
        return True
    except OSError:
        return False
    finally:
        src.unlink(missing_ok=True)
        dst.unlink(missing_ok=True)
