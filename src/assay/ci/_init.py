"""``assay ci init``: write a project's CI configuration, never over a file unasked."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from assay._atomic import write_text_atomic
from assay.errors import CIError

if TYPE_CHECKING:
    from assay.ci._facts import ProjectFacts
    from assay.ci._plan import Plan
    from assay.config import Project

SYSTEMS = ("github", "gitlab", "semaphore")


@dataclass(frozen=True)
class CIFiles:
    """What ``assay ci init`` wrote: paths relative to the project root, and its notes."""

    system: str
    paths: tuple[str, ...]
    notes: tuple[str, ...]


def _renderer(system: str) -> Callable[[ProjectFacts, Plan], dict[str, str]]:
    if system == "github":
        from assay.ci._github import render
    elif system == "gitlab":
        from assay.ci._gitlab import render
    elif system == "semaphore":
        from assay.ci._semaphore import render
    else:
        raise CIError(f"Unknown CI system {system!r}; use one of: {', '.join(SYSTEMS)}",
                      system=system)
    return render


def render_ci(project: Project, system: str) -> dict[str, str]:
    """The files ``system`` needs for ``project``, by path relative to its root."""
    from assay.ci._facts import facts_of
    from assay.ci._plan import plan_for

    facts = facts_of(project)
    return _renderer(system)(facts, plan_for(facts))


def init_ci(project: Project, system: str, *, force: bool = False) -> CIFiles:
    """Write ``system``'s CI files into ``project``.

    Raises:
        CIError: a file exists and ``force`` is False (nothing is written then).
    """
    from assay.ci._facts import facts_of
    from assay.ci._plan import plan_for

    facts = facts_of(project)
    plan = plan_for(facts)
    files = _renderer(system)(facts, plan)
    root: Path = project.root
    if not force:
        for rel in files:
            if (root / rel).exists():
                raise CIError(f"{rel} exists; rerun with --force to overwrite it", path=rel)
    for rel, text in files.items():
        write_text_atomic(root / rel, text)
    return CIFiles(system=system, paths=tuple(files), notes=plan.notes)
