"""``assay data checkout``: make the workspace match the pointer files, never losing data.

Pointers are checked against their objects first (a hand-edited one stops everything), a
modified path whose content is not in the cache is never replaced without ``force``, and every
object is hash-verified before anything is placed.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.data._pointer import mismatch
from assay.errors import DataError, ObjectError, ObjectNotFound
from assay.objects import hash_tree, tree_entries

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
        DataError: a workspace path was modified and its content is not in the cache
            (nothing is touched unless ``force``).
        ObjectNotFound: an object is not in the cache (run ``assay data pull``).
        CorruptObject: an object in the cache does not match its hash (run ``assay fsck``).
        PointerError: a pointer's size or file count contradicts its object (nothing is
            touched).
    """
    with ws.locked():
        targets = ws.targets(raw)
        for t in targets:
            problem = mismatch(t.pointer, ws.cache)
            if problem is not None:
                raise ws.pointer_error(t, problem)
        todo: list[Target] = []
        actions: dict[str, str] = {}
        conflicts: list[str] = []
        for t in targets:
            if t.path.exists() or t.path.is_symlink():
                try:
                    current = hash_tree(t.path, state=ws.state)
                except ObjectError:
                    current = None
                if current is not None and current.oid == t.pointer.oid:
                    actions[t.rel] = "unchanged"
                    continue
                if not force and not _is_safe_to_replace(ws, t.path):
                    conflicts.append(t.rel)
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

def _is_safe_to_replace(ws: Workspace, path: Path) -> bool:
    """True if every byte at ``path`` is also in the cache (replacing it loses nothing)."""
    try:
        if path.is_dir():
            entries = tree_entries(path, state=ws.state) or []
            return all(ws.cache.exists(e.oid) for e in entries)
        return ws.cache.exists(hash_tree(path, state=ws.state).oid)
    except ObjectError:
        return False

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
    ws.cache.checkout(t.pointer.oid, t.path, link_types,
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
