"""``assay data checkout``: make the workspace match the pointer files, never losing data.

Pointers are checked against their objects first (a hand-edited one stops everything), a
modified path whose content is not in the cache is never replaced without ``force``, and every
object is hash-verified before anything is placed. Every write and delete goes through the path
choke point (:class:`~assay._paths.SafeTree`): a symlink is never followed, and one in a
tracked path counts as content that is not in the cache.

A rerun converges: a folder that a killed checkout left half-written holds only files that are
in the cache (or assay's own temp files), so it is replaced without ``force``, and temp files of
dead processes are removed.
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from assay._paths import SafeTree, is_stale_temp
from assay.data._pointer import mismatch
from assay.errors import DataError, ObjectError, ObjectNotFound
from assay.objects import TreeScan, cache_link_stat, scan_tree

if TYPE_CHECKING:
    from assay.data._workspace import Target, Workspace


@dataclass(frozen=True)
class CheckoutResult:
    """What ``assay data checkout`` did per path: ``restored`` or ``unchanged``."""

    actions: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {"actions": self.actions}


def checkout(ws: Workspace, raw: list[str] | None = None, *, force: bool = False
             ) -> CheckoutResult:
    """Make the workspace match the pointer files, verifying objects before placing them.

    Raises:
        DataError: a workspace path was modified and its content is not in the cache, or it
            is (or holds) a symlink (nothing is touched unless ``force``).
        UsageError: a folder on the way to a tracked path is a symlink (never written through,
            even with ``force``).
        ObjectNotFound: an object is not in the cache (run ``assay data pull``).
        CorruptObject: an object in the cache does not match its hash, or a manifest names
            unsafe paths (run ``assay fsck``).
        PointerError: a pointer file is unreadable, names a reserved path, or its size or
            file count contradicts its object (nothing is touched).
    """
    with ws.locked(), SafeTree(ws.root) as tree:
        targets = ws.targets(raw)
        for t in targets:
            problem = mismatch(t.pointer, ws.cache)
            if problem is not None:
                raise ws.pointer_error(t, problem)
        todo: list[Target] = []
        actions: dict[str, str] = {}
        conflicts: list[str] = []
        for t in targets:
            blocker = _blocker(ws, tree, t)
            if blocker == "":
                actions[t.rel] = "unchanged"
                continue
            if blocker is not None and not force:
                conflicts.append(blocker)
                continue
            todo.append(t)
        if conflicts:
            raise DataError(
                f"Modified in the workspace and not in the cache: {', '.join(conflicts)}; "
                "keep the change with: assay data add PATH, or discard it with --force",
                paths=conflicts,
            )
        for t in todo:
            _verify_objects(ws, t)
        link_types = list(ws.settings.cache_types)
        for t in todo:
            _materialise(ws, t, link_types)
            actions[t.rel] = "restored"
    return CheckoutResult(actions=actions)


def _blocker(ws: Workspace, tree: SafeTree, t: Target) -> str | None:
    """Why replacing ``t`` would lose something (None: nothing; "": it is already right).

    The workspace is read without following symlinks on the way to ``t`` (a symlinked folder
    there is refused outright). Files that are in the cache, and assay's temp files, are
    replaceable; anything else (a changed file, a symlink that is not a cache link) is not.
    Stale temp files of an unchanged path are removed here.
    """
    rel = PurePosixPath(t.rel)
    st = tree.lstat(rel)
    if st is None:
        return None
    if stat.S_ISLNK(st.st_mode) and cache_link_stat(os.fspath(t.path)) is None:
        return f"{t.rel} (a symlink)"
    temps: list[str] = []
    try:
        scan: TreeScan | None = scan_tree(t.path, state=ws.state, temps=temps)
    except ObjectError:
        scan = None
    if scan is not None and scan.stored.oid == t.pointer.oid:
        _remove_stale_temps(tree, rel, temps, is_dir=stat.S_ISDIR(st.st_mode))
        return ""
    if scan is None:
        return f"{t.rel} (unreadable)"
    if scan.stored.skipped_links:
        return f"{t.rel} (holds symlinks: {', '.join(scan.stored.skipped_links[:3])})"
    if not all(ws.cache.exists(oid) for oid in _content(scan)):
        return t.rel
    return None


def _content(scan: TreeScan) -> list[str]:
    """The objects of the files a scan found (not a directory's manifest: that is new)."""
    if scan.entries is None:
        return [scan.stored.oid]
    return [e.oid for e in scan.entries]


def _remove_stale_temps(tree: SafeTree, rel: PurePosixPath, temps: list[str], *,
                        is_dir: bool) -> None:
    """Delete temp files that killed checkouts left in (or beside) an unchanged path."""
    if not is_dir:
        with tree.parent(rel) as folder:
            if folder is not None:
                folder.sweep_temps()
        return
    for temp in temps:
        if is_stale_temp(temp.rpartition("/")[2]):
            tree.remove(rel / temp)


def _verify_objects(ws: Workspace, t: Target) -> None:
    if not ws.cache.exists(t.pointer.oid):
        raise ObjectNotFound(
            f"{t.rel}: object {t.pointer.oid} is not in the cache; "
            f"run: assay data pull {t.rel}",
            oid=t.pointer.oid,
        )
    try:
        ws.cache.check_tree(t.pointer.oid, what=t.rel)  # a corrupt one is quarantined
    except ObjectNotFound as exc:
        raise ObjectNotFound(
            f"{t.rel}: object {exc.fields.get('oid')} is not in the cache; "
            f"run: assay data pull {t.rel}", oid=exc.fields.get("oid"),
        ) from None


def _materialise(ws: Workspace, t: Target, link_types: list[str]) -> None:
    ws.cache.checkout(t.pointer.oid, t.path, link_types, root=ws.root,
                      mode=0o755 if t.pointer.is_exec else 0o644)
    if t.pointer.is_dir:
        entries = ws.cache.manifest(t.pointer.oid)
        records = []
        for e in entries:
            p = t.path / e.path
            with contextlib.suppress(OSError):
                records.append((os.fspath(p), os.stat(p), e.oid))
        ws.state.record(records)
    else:
        with contextlib.suppress(OSError):
            ws.state.record([(os.fspath(t.path), os.stat(t.path), t.pointer.oid)])
