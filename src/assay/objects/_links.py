"""Materialising cache objects in the workspace: reflink, hardlink, symlink or copy."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from assay.errors import ObjectError
from assay.objects._copying import copy_range, write_all

if TYPE_CHECKING:
    from assay._paths import SafeDir

FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)
_NO_KERNEL_COPY = (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF)


def reflink(src: Path | str, dst: Path) -> None:
    """Copy-on-write clone of ``src`` at ``dst``; raises OSError where unsupported."""
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        _ficlone(src, fd)
    except OSError:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(dst)
        raise
    os.close(fd)


def _ficlone(src: Path | str, fd: int) -> None:
    import fcntl

    with open(src, "rb") as s:
        fcntl.ioctl(fd, FICLONE, s.fileno())


def make_readonly(path: Path | str) -> None:
    mode = os.stat(path).st_mode
    os.chmod(path, mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def link_or_copy(src: Path, where: SafeDir, name: str, types: list[str], *,
                 executable: bool | None = None) -> str:
    """Create ``name`` in folder ``where`` from cache object ``src`` with the first link type
    that works.

    ``name`` must not exist (a fresh temp name: the caller renames it into place). Hardlinked
    and symlinked files are read-only (they *are* the cache object), so nobody edits the cache
    in place by accident; ``assay data unprotect`` turns them into private writable copies.
    Copies and reflinks are private and writable, and get the executable bit when
    ``executable`` says so. A link shares the object's mode, so when ``executable`` is given
    and the object's bit differs, that link type is skipped (and a copy is made if no other
    type is left). Returns the type used.
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
                _clone_into(src, where, name, private if executable else None)
            elif kind == "hardlink":
                os.link(src, name, dst_dir_fd=where.fd)
            elif kind == "symlink":
                os.symlink(src, name, dir_fd=where.fd)
            elif kind == "copy":
                _copy_into(src, where, name, private)
            else:
                raise ObjectError(f"Unknown cache link type {kind!r}")
            return kind
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
                with contextlib.suppress(OSError):
                    os.unlink(name, dir_fd=where.fd)  # a partial copy
                raise  # the disk, not the link type: the caller reports it (local_fault)
            last = exc
            continue
    if isinstance(last, PermissionError):
        raise last  # every type was refused access: reported as such (local_fault)
    raise ObjectError(
        f"Could not link {where.path / name} from the cache with any of {types}: {last}",
        path=str(where.path / name),
    )


def _new_file(where: SafeDir, name: str, mode: int) -> int:
    return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                   mode, dir_fd=where.fd)


def _clone_into(src: Path, where: SafeDir, name: str, mode: int | None) -> None:
    fd = _new_file(where, name, 0o644)
    try:
        _ficlone(src, fd)
        if mode is not None:
            os.fchmod(fd, mode)
    except OSError:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=where.fd)
        raise
    os.close(fd)


def _copy_into(src: Path, where: SafeDir, name: str, mode: int) -> None:
    with open(src, "rb", buffering=0) as s:
        fd = _new_file(where, name, 0o600)
        try:
            size = os.fstat(s.fileno()).st_size
            try:
                copy_range(s.fileno(), fd, 0, size)
            except OSError as exc:
                if exc.errno not in _NO_KERNEL_COPY:
                    raise
                os.ftruncate(fd, 0)
                os.lseek(fd, 0, os.SEEK_SET)
                s.seek(0)
                while chunk := s.read(1 << 20):
                    write_all(fd, memoryview(chunk))
            os.fchmod(fd, mode)
        except OSError:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=where.fd)
            raise
        os.close(fd)
