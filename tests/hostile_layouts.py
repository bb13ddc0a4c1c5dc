"""Hostile workspace layouts (symlinks someone could commit to git) and tree snapshots.

Shared by the checkout, pull and stage-output restore tests of the path choke point.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def snapshot(folder: Path) -> dict[str, object]:
    """Every entry below ``folder``: symlink target, bytes or 'dir', and mode."""
    out: dict[str, object] = {}
    for path in sorted(folder.rglob("*")):
        st = path.lstat()
        if path.is_symlink():
            what: object = ("link", os.readlink(path))
        elif path.is_dir():
            what = "dir"
        else:
            what = path.read_bytes()
        out[path.relative_to(folder).as_posix()] = (what, st.st_mode)
    return out


def file_link(d: Path, outside: Path) -> None:
    d.mkdir()
    (d / "a.txt").symlink_to(outside / "victim.txt")


def folder_link(d: Path, outside: Path) -> None:
    d.mkdir()
    (d / "sub").symlink_to(outside / "dir")


def data_path_link(d: Path, outside: Path) -> None:
    d.symlink_to(outside / "dir")


def hooks_link(d: Path, outside: Path) -> None:
    d.mkdir()
    (d / "hk").symlink_to("../../.git/hooks")


def assay_link(d: Path, outside: Path) -> None:
    d.mkdir()
    (d / "sub").symlink_to("../../.assay/canary")


def loop(d: Path, outside: Path) -> None:
    d.mkdir()
    (d / "sub").symlink_to("sub")


def dangling(d: Path, outside: Path) -> None:
    d.mkdir()
    (d / "sub").symlink_to(outside / "missing")


SHAPES: dict[str, Callable[[Path, Path], None]] = {
    "file-in-folder": file_link,
    "intermediate-folder": folder_link,
    "data-path": data_path_link,
    "git-hooks": hooks_link,
    "into-assay": assay_link,
    "loop": loop,
    "dangling": dangling,
}
"""Each makes the tracked folder ``d`` hostile, given the folder outside the project."""
