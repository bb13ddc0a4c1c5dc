"""Local-side file-system faults, told apart from everything else.

A full disk, an exceeded quota, a read-only mount or a denied permission on this machine is
not a remote's network or credential problem, not corruption and not a bug: it is reported as
what it is, naming the path and the fix (:class:`~assay.errors.LocalDiskError`, exit 1).
:func:`local_fault` is the one place that decides; push, pull, checkout, the cache and the
pipeline runner all ask it.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from assay.errors import LocalDiskError

_WRITE_FAULTS = {
    errno.ENOSPC: ("Disk full", "free space there"),
    errno.EDQUOT: ("Disk quota exceeded", "free space there (or raise the quota)"),
    errno.EROFS: ("Read-only file system", "remount it read-write or use a writable folder"),
}
_SQLITE_FULL = 13  # sqlite3.h: "Insertion failed because database is full"
_SQLITE_IOERR = 10  # sqlite3.h: "Some kind of disk I/O error occurred" (SHMSIZE on a full disk)
_NEARLY_FULL = 1 << 20  # bytes left: below this, SQLite's I/O errors are a full disk's
_ACCESS_FAULTS = {
    errno.EACCES: "Permission denied",
    errno.EPERM: "Operation not permitted",
}


def _local_name(value: object) -> str | None:
    """A file name an OSError carries, if it is a path on this machine (not a URL)."""
    if isinstance(value, bytes):
        value = os.fsdecode(value)
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value or "://" in value:
        return None
    return value


def _is_out_of_space(path: Path) -> bool:
    """True if the file system holding ``path`` has (almost) no space left for this user."""
    for where in (path, *path.parents):
        try:
            st = os.statvfs(where)
        except OSError:
            continue
        return st.f_bavail * st.f_frsize < _NEARLY_FULL
    return False


def _root_fault(exc: BaseException) -> OSError | sqlite3.Error | None:
    """The OSError (with an errno) or full-disk SQLite error behind ``exc``: itself, or what it
    was raised from (a store error wraps SQLite's, SQLAlchemy's keeps it as ``orig``)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop(0)
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, OSError) and isinstance(item.errno, int):
            return item
        if isinstance(item, sqlite3.Error) and (
                getattr(item, "sqlite_errorcode", 0) & 0xFF) in (_SQLITE_FULL, _SQLITE_IOERR):
            return item
        orig = getattr(item, "orig", None)
        todo.extend([orig if isinstance(orig, BaseException) else None,
                     item.__cause__, item.__context__])
    return None


def local_fault(exc: BaseException, *, path: Path | str | None, doing: str,
                outcome: str = "", frees_cache: bool = False) -> LocalDiskError | None:
    """The :class:`LocalDiskError` that ``exc`` stands for, or None if it is not a local fault.

    ENOSPC, EDQUOT and EROFS are faults of the disk being written, named by ``path`` (what the
    caller was writing: the cache, a workspace path, a SQLite file), else by the OSError's
    destination (the second file name of a copy or rename) or its file. EACCES and EPERM count
    only when the OSError names a local file, which is named (a network file system's "access
    denied" names none, and stays a remote error). ``exc`` may also be an error raised from
    one of these (a store error over SQLite's), and SQLite's own: "database or disk is full"
    (SQLITE_FULL), or a bare "disk I/O error" (SQLITE_IOERR: its shared-memory file cannot
    grow) when the disk under ``path`` is indeed out of space.

    Args:
        exc: the exception caught.
        path: what the operation was writing (named when the OSError names no file).
        doing: what was being done, e.g. "writing to the cache".
        outcome: what that means for the user's data, e.g. "nothing was stored".
        frees_cache: suggest ``assay gc`` (the path is in the local cache).

    Example:
        ``Disk full (ENOSPC) at /data/cache while writing to the cache; nothing was stored.
        Free space there, or run: assay gc``
    """
    found = _root_fault(exc)
    if found is None:
        return None
    if isinstance(found, sqlite3.Error):  # the disk under a local SQLite file
        name = str(getattr(found, "sqlite_errorname", "SQLITE_FULL"))
        is_full = (getattr(found, "sqlite_errorcode", 0) & 0xFF) == _SQLITE_FULL
        if not is_full and not (path is not None and _is_out_of_space(Path(path))):
            return None  # an I/O error, on a disk with room: not ours to explain
        code, first, second = errno.ENOSPC, None, None
    else:
        code = int(found.errno or 0)
        name = errno.errorcode.get(code, str(code))
        first = _local_name(found.filename)
        second = _local_name(getattr(found, "filename2", None))
    if code in _WRITE_FAULTS:
        what, fix = _WRITE_FAULTS[code]
        where = (os.fspath(path) if path is not None else None) or second or first
        if code != errno.EROFS and frees_cache:
            fix += ", or run: assay gc"
    elif code in _ACCESS_FAULTS and first is not None:
        what = _ACCESS_FAULTS[code]
        where = second if second is not None and os.path.exists(first) else first
        fix = "give this user access to it (check its owner and mode)"
    else:
        return None
    at = f" at {where}" if where else ""
    if not where:
        fix = fix.replace(" there", " on that disk").replace(" it ", " the disk ")
    told = f"; {outcome}" if outcome else ""
    return LocalDiskError(f"{what} ({name}){at} while {doing}{told}. {fix[0].upper()}{fix[1:]}",
                          path=where, errno=name)
