"""Keeping the cache safe from edits made through workspace links.

With the ``hardlink`` or ``symlink`` cache type a workspace file *is* its cache object, kept
read-only. :func:`unprotect` replaces such links with private writable copies (like ``dvc
unprotect``), so an edit can never reach the cache. If an object was edited in place anyway
(someone made the link writable), :func:`edited_in_place` notices it when the file is added
again, and the stale object is quarantined instead of being kept under a name it no longer
matches.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay._paths import temp_name
from assay.errors import ObjectError
from assay.objects import walk_files

if TYPE_CHECKING:
    from assay.data._pointer import Pointer
    from assay.data._workspace import Workspace
    from assay.objects import LocalCache, Stored


@dataclass(frozen=True)
class UnprotectResult:
    """Per tracked path, how many of its files became private writable copies."""

    copied: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {"copied": self.copied}


def unprotect(workspace: Workspace, targets: list[str] | None = None) -> UnprotectResult:
    """Replace links into the cache with private writable copies, so edits stay private.

    A file that shares its inode with other names (a hardlink) or is a symlink becomes a copy
    with its own inode; a read-only private file is made writable. The cache is untouched;
    ``assay data add`` afterwards versions the edit, ``assay data checkout`` re-links.

    Raises:
        UsageError: a path is not tracked.
        DataError: a path cannot be copied (disk full, permissions).
    """
    copied: dict[str, int] = {}
    with workspace.locked():
        for t in workspace.targets(targets):
            if not (t.path.exists() or t.path.is_symlink()):
                copied[t.rel] = 0
                continue
            if t.path.is_dir() and not t.path.is_symlink():
                files = [p for _, p, _ in walk_files(t.path)]
            else:
                files = [os.fspath(t.path)]
            count = 0
            for file in files:
                if _make_private(workspace, file):
                    count += 1
            copied[t.rel] = count
    return UnprotectResult(copied=copied)


def _make_private(workspace: Workspace, file: str) -> bool:
    """Give ``file`` its own writable inode; True if it was a link or read-only."""
    from assay.errors import DataError

    try:
        before = os.stat(file)
    except OSError:
        return False
    is_link = os.path.islink(file)
    writable = bool(before.st_mode & stat.S_IWUSR)
    if not is_link and before.st_nlink < 2:
        if writable:
            return False
        os.chmod(file, stat.S_IMODE(before.st_mode) | stat.S_IWUSR)
        return True
    known = workspace.state.get(file, before)
    head, name = os.path.split(file)
    tmp = os.path.join(head, temp_name(name))
    try:
        shutil.copyfile(file, tmp)
        os.chmod(tmp, stat.S_IMODE(before.st_mode) | stat.S_IWUSR)
        os.replace(tmp, file)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        rel = workspace.rel(Path(file))
        raise DataError(f"Cannot unprotect {rel}: {exc.strerror or exc}", path=rel) from None
    if known is not None:
        with contextlib.suppress(OSError):
            workspace.state.record([(file, os.stat(file), known)])
    return True


def linked_objects(cache: LocalCache, path: Path, pointer: Pointer | None) -> dict[str, str]:
    """Workspace files that *are* a cache object of the tracked version (same inode).

    Returns rel path inside ``path`` ("" for a file) -> object id. Only files with more than
    one name (or symlinks) are checked, so private copies cost one ``stat`` each.
    """
    if pointer is None or not cache.exists(pointer.oid):
        return {}
    if pointer.is_dir:
        try:
            pairs = [(e.path, os.path.join(path, e.path), e.oid)
                     for e in cache.manifest(pointer.oid)]
        except ObjectError:
            return {}
    else:
        pairs = [("", os.fspath(path), pointer.oid)]
    found: dict[str, str] = {}
    for rel, file, oid in pairs:
        try:
            st = os.stat(file)
            if st.st_nlink < 2 and not os.path.islink(file):
                continue
            obj = os.stat(cache.path_of(oid))
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (obj.st_dev, obj.st_ino):
            found[rel] = oid
    return found


def edited_in_place(cache: LocalCache, linked: dict[str, str], stored: Stored) -> list[str]:
    """Objects a linked workspace file changed in place; they are quarantined, and returned.

    A file that was the object of the old version and now hashes to something else has
    changed that object's bytes too: the old version's copy of this file is gone from the
    cache (fetch it from a remote if one has it).
    """
    if not linked:
        return []
    if stored.is_dir:
        try:
            now = {e.path: e.oid for e in cache.manifest(stored.oid)}
        except ObjectError:
            return []
    else:
        now = {"": stored.oid}
    lost: list[str] = []
    for rel, oid in sorted(linked.items()):
        if rel in now and now[rel] != oid and cache.exists(oid) and oid not in lost:
            cache.quarantine(oid)
            lost.append(oid)
    return lost
