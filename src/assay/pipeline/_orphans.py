"""Outs left behind by stages the pipeline no longer has: a value removed from a matrix
(``train[model=xgboost]``), a renamed or deleted stage. ``assay.lock`` still records them and
their files stay in the workspace (``models/``, ``metrics/``) until ``assay gc --workspace``
removes both; ``assay status`` lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assay.pipeline._lock import LockEntry, read_lock, write_lock

if TYPE_CHECKING:
    from assay.config import Project
    from assay.pipeline._dag import Dag


@dataclass(frozen=True)
class OrphanOut:
    """An out of a stage that is no longer in the pipeline, still in the workspace."""

    stage: str
    path: str

    def to_json(self) -> dict[str, Any]:
        return {"stage": self.stage, "path": self.path}


def _gone(dag: Dag, lock: dict[str, LockEntry]) -> list[str]:
    """Stages ``assay.lock`` records that the plain run's ``dag`` no longer has."""
    return sorted(name for name in lock if name not in dag.stages)


def orphan_outs(project: Project, dag: Dag, lock: dict[str, LockEntry] | None = None
                ) -> list[OrphanOut]:
    """The outs ``assay.lock`` records for stages the plain run's ``dag`` no longer has, that
    are still in the workspace and that no current stage reads or writes."""
    lock = read_lock(project.root) if lock is None else lock
    used = {p for s in dag.stages.values() for p in (*s.deps, *s.all_outs)}
    found: list[OrphanOut] = []
    for name in _gone(dag, lock):
        for out in sorted(lock[name].outs):
            if out not in used and (project.root / out).exists():
                found.append(OrphanOut(name, out))
    return found


def remove_orphan_outs(project: Project, dag: Dag, *, dry_run: bool = False
                       ) -> list[OrphanOut]:
    """Delete the :func:`orphan_outs` from the workspace and the stages they belong to from
    ``assay.lock`` (so their cache objects become garbage for ``assay gc``); returns what was
    (with ``dry_run``: would be) removed. Holds the run lock: no run is in progress meanwhile.

    Raises:
        UsageError: a folder on the way to an out is a symlink (nothing through it is touched).
    """
    from assay._paths import SafeTree
    from assay.pipeline._run_lock import run_lock

    class _Quiet:
        def message(self, text: str) -> None:
            pass

    with run_lock(project.state_dir, wait=True, reporter=_Quiet()):
        lock = read_lock(project.root)
        found = orphan_outs(project, dag, lock)
        gone = _gone(dag, lock)
        if dry_run or not gone:
            return found
        with SafeTree(project.root) as tree:  # never deletes through a symlink
            for orphan in found:
                tree.remove(tree.relative(orphan.path, what=f"out of stage '{orphan.stage}'"))
        write_lock(project.root, {n: e for n, e in lock.items() if n not in gone})
    return found
