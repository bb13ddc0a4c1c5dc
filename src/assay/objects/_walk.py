"""Listing the files of a workspace folder: regular files, and symlinks that are cache links.

A folder checked out with the ``symlink`` cache type holds symlinks into the cache; those are
the folder's files and are listed (with the stat of the object they point to). Any other
symlink is not followed: a link out of the folder could make a dataset's content depend on
files elsewhere (or loop), so it is skipped and reported to the caller.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from assay._paths import is_temp_name
from assay.objects._hashing import is_object_id


def file_mode(st: os.stat_result) -> int:
    """The manifest mode of a file: executable or not."""
    return 0o755 if st.st_mode & 0o111 else 0o644


def cache_link_stat(path: str) -> os.stat_result | None:
    """The stat of the cache object a symlink points to, or None if it is another symlink.

    A cache object lives at ``<cache>/<2 hex>/<62 hex>``; a symlink whose target ends that way
    and is a regular file is a ``symlink`` cache-type checkout.
    """
    try:
        target = os.path.realpath(path)
        head, name = os.path.split(target)
        fan = os.path.basename(head)
        if not is_object_id(fan + name) or name.endswith(".dir"):
            return None
        st = os.stat(target)
    except OSError:
        return None
    return st if stat.S_ISREG(st.st_mode) else None


def walk_files(
    root: Path, *, skipped: list[str] | None = None, temps: list[str] | None = None
) -> list[tuple[str, str, os.stat_result]]:
    """Every file under ``root`` as (posix rel path, path, stat), sorted by rel path.

    Regular files and symlinks into the cache are listed; other symlinks (to files or folders)
    are not followed, and their rel paths are appended to ``skipped`` when it is given. The
    temp files assay writes while placing a file (``.NAME.PID-XXXX.assay-tmp``, left behind by
    a killed checkout) are never data: they are left out, and listed in ``temps``.
    """
    found: list[tuple[str, str, os.stat_result]] = []
    stack: list[tuple[str, str]] = [(os.fspath(root), "")]
    while stack:
        folder, prefix = stack.pop()
        with os.scandir(folder) as it:
            for item in it:
                rel = f"{prefix}{item.name}"
                if item.is_symlink():
                    linked = cache_link_stat(item.path)
                    if linked is not None:
                        found.append((rel, item.path, linked))
                    elif skipped is not None:
                        skipped.append(rel)
                elif item.is_dir(follow_symlinks=False):
                    stack.append((item.path, rel + "/"))
                elif item.is_file(follow_symlinks=False):
                    if is_temp_name(item.name):
                        if temps is not None:
                            temps.append(rel)
                        continue
                    found.append((rel, item.path, item.stat(follow_symlinks=False)))
    found.sort(key=lambda t: t[0])
    if skipped is not None:
        skipped.sort()
    return found
