"""Materialising cache objects in the workspace: reflink, hardlink, symlink or copy."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from pathlib import Path

from assay.errors import ObjectError

FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)


def reflink(src: Path | str, dst: Path) -> None:
    """Copy-on-write clone of ``src`` at ``dst``; raises OSError where unsupported."""
    import fcntl

    with open(src, "rb") as s:
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            fcntl.ioctl(fd, FICLONE, s.fileno())
        except OSError:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(dst)
            raise
        os.close(fd)


def make_readonly(path: Path | str) -> None:
    mode = os.stat(path).st_mode
    os.chmod(path, mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def link_or_copy(src: Path, dst: Path, types: list[str], *,
                 executable: bool | None = None) -> str:
    """Create ``dst`` from cache object ``src`` with the first link type that works.

    ``dst`` must not exist. Hardlinked and symlinked files are read-only (they *are* the cache
    object), so nobody edits the cache in place by accident; ``assay data unprotect`` turns
    them into private writable copies. Copies and reflinks are private and writable, and get
    the executable bit when ``executable`` says so. A link shares the object's mode, so when
    ``executable`` is given and the object's bit differs, that link type is skipped (and a
    copy is made if no other type is left). Returns the type used.
    """
    last: OSError | None = None
    wanted = list(types)
    if executable is not None and bool(os.stat(src).st_mode & 0o111) != executable:
        wanted = [k for k in wanted if k not in ("hardlink", "symlink")]
        if "copy" not in wanted:
            wanted.append("copy")
    private = 0o755 if executable else 0o644
    for kind in wanted:
        try:
            if kind == "reflink":
                reflink(src, dst)
                if executable:
                    os.chmod(dst, private)
            elif kind == "hardlink":
                os.link(src, dst)
            elif kind == "symlink":
                os.symlink(src, dst)
            elif kind == "copy":
                shutil.copyfile(src, dst)
                os.chmod(dst, private)
            else:
                raise ObjectError(f"Unknown cache link type {kind!r}")
            return kind
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
                with contextlib.suppress(OSError):
                    os.unlink(dst)  # a partial copy
                raise  # the disk, not the link type: the caller reports it (local_fault)
            last = exc
            continue
    if isinstance(last, PermissionError):
        raise last  # every type was refused access: reported as such (local_fault)
    raise ObjectError(
        f"Could not link {dst} from the cache with any of {types}: {last}", path=str(dst)
    )
