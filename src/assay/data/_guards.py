"""What ``assay data add`` refuses before it stores anything.

- a path inside an already tracked folder, or a folder that contains tracked paths (one path
  would be versioned twice, and the outer ``.gitignore`` entry would hide the inner pointer);
- files that git or assay itself must version: ``assay.yaml``, ``assay.lock``, params files,
  ``.gitignore``, pointer files, and anything git already tracks (``git rm --cached`` first);
- a dataset name that another tracked path (or ``datasets:`` in assay.yaml) already uses, so
  that two paths never share one dataset's history.

Each refusal is a :class:`~assay.errors.UsageError` (exit 2) naming what it overlaps with.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from assay._layout import CONFIG_FILE, LOCK_FILE, POINTER_SUFFIX, in_git_work_tree
from assay._paths import clean_relative
from assay.data._pointer import (
    data_path,
    pointer_path,
    read_pointer,
    tracked_rel,
)
from assay.errors import PointerError, UsageError

if TYPE_CHECKING:
    from assay.data._settings import DataSettings


def refuse_overlap(root: Path, path: Path, pointers: list[Path]) -> None:
    """Refuse ``path`` if it is inside a tracked folder or contains tracked paths.

    Raises:
        UsageError: naming the overlapping pointer file.
    """
    rel = path.relative_to(root).as_posix()
    pointers = usable_pointers(root, pointers)
    for parent in path.parents:
        if parent == root or root not in parent.parents:
            break
        pfile = pointer_path(parent)
        if pfile.is_file():
            outer = parent.relative_to(root).as_posix()
            raise UsageError(
                f"Cannot add {rel}: it is inside {outer}, which is already tracked by "
                f"{outer}{POINTER_SUFFIX}; to version the change, run: assay data add {outer}",
                path=rel, pointer=f"{outer}{POINTER_SUFFIX}",
            )
    inner = sorted(
        data_path(p).relative_to(root).as_posix() for p in pointers
        if path in data_path(p).parents
    )
    if inner:
        more = f" and {len(inner) - 1} more" if len(inner) > 1 else ""
        raise UsageError(
            f"Cannot add {rel}: it contains {inner[0]}, which is already tracked by "
            f"{inner[0]}{POINTER_SUFFIX}{more}; add the paths separately, or stop tracking "
            f"{inner[0]} first (delete {inner[0]}{POINTER_SUFFIX} and its .gitignore line)",
            path=rel, pointer=f"{inner[0]}{POINTER_SUFFIX}",
        )


def refuse_special(settings: DataSettings, path: Path) -> None:
    """Refuse files that git or assay itself versions (and anything git already tracks).

    Raises:
        UsageError: the path is (or contains) assay.yaml, assay.lock, a params file,
            .gitignore or a pointer file, or git tracks it.
    """
    root = settings.root
    rel = path.relative_to(root).as_posix()
    try:
        clean_relative(rel, what="data path")
    except UsageError as exc:
        raise UsageError(f"Refusing to track {rel}: {exc.message}; assay could not check it "
                         "out again (rename it)", path=rel) from None
    protected = {
        CONFIG_FILE: "the project's configuration",
        LOCK_FILE: "the pipeline's lock file",
        ".gitignore": "git's ignore list",
        **{p: "a params file the pipeline reads" for p in settings.params_files},
    }
    for name, what in protected.items():
        target = root / name
        if target == path:
            raise UsageError(
                f"Refusing to track {rel}: it is {what}; commit it to git instead", path=rel
            )
        if path in target.parents:
            raise UsageError(
                f"Refusing to track {rel}: it contains {name} ({what}); commit that to git "
                "and track the data folders themselves", path=rel,
            )
    if path.name.endswith(POINTER_SUFFIX):
        raise UsageError(
            f"Refusing to track {rel}: names ending in {POINTER_SUFFIX} are pointer files "
            "(commit them to git)", path=rel,
        )
    tracked = _git_tracked(root, rel)
    if tracked is not None:
        if tracked == rel:
            raise UsageError(
                f"{rel} is tracked by git; stop tracking it there first: git rm --cached {rel}",
                path=rel,
            )
        raise UsageError(
            f"{rel} holds files tracked by git ({tracked}); stop tracking them there first: "
            f"git rm -r --cached {rel}", path=rel,
        )


def _git_tracked(root: Path, rel: str) -> str | None:
    """The first file at or under ``rel`` that git tracks (None outside a git work tree)."""
    if not in_git_work_tree(root):
        return None
    try:
        out = subprocess.run(
            ["git", "--literal-pathspecs", "ls-files", "-z", "--", rel],
            cwd=root, capture_output=True, timeout=30, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    first = out.stdout.split(b"\0", 1)[0].decode(errors="replace")
    return first or None


def refuse_taken_name(settings: DataSettings, path: Path, name: str,
                      pointers: list[Path]) -> None:
    """Refuse a dataset name that another path already uses.

    Raises:
        UsageError: ``datasets:`` in assay.yaml gives the name to another path, or another
            pointer file in the workspace carries it.
    """
    root = settings.root
    rel = path.relative_to(root).as_posix()
    pointers = usable_pointers(root, pointers)
    for ds_name, ds_path in settings.datasets.items():
        if ds_name == name and ds_path.strip("/") != rel:
            where = settings.dataset_lines.get(ds_name, CONFIG_FILE)
            raise UsageError(
                f"Dataset name '{name}' belongs to {ds_path.strip('/')} "
                f"({where}); pass another name for {rel}: "
                f"assay data add {rel} --name {_other_name(path, root, name)}",
                name=name, path=rel,
            )
    for pfile in pointers:
        other = data_path(pfile)
        if other == path:
            continue
        try:
            taken = read_pointer(pfile).name == name
        except PointerError:
            continue  # reported by status and checkout; it cannot claim a name
        if taken:
            other_rel = other.relative_to(root).as_posix()
            raise UsageError(
                f"Dataset name '{name}' is already used by {other_rel} "
                f"({other_rel}{POINTER_SUFFIX}); one name is one dataset's history, so pass "
                f"another: assay data add {rel} --name {_other_name(path, root, name)}",
                name=name, path=rel, other=other_rel,
            )


def usable_pointers(root: Path, pointers: list[Path]) -> list[Path]:
    """The pointer files whose names track a safe data path (the others are reported by
    status and refused by checkout; they claim no path and no name)."""
    usable = []
    for pfile in pointers:
        try:
            tracked_rel(root, pfile, shown=pfile.name)
        except PointerError:
            continue
        usable.append(pfile)
    return usable


def _other_name(path: Path, root: Path, name: str) -> str:
    parent = path.parent
    return f"{parent.name}-{name}" if parent != root else f"{name}-2"
