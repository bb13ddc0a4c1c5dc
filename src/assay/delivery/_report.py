"""The delivery report: the figures of a window, of a window to compare it with, and of every
ISO week inside it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.delivery._facts import CommitTime, Scope, derive
from assay.delivery._figures import Figures, figures, median
from assay.delivery._git import commit_times
from assay.delivery._history import load_history
from assay.delivery._window import Window, iso_weeks

if TYPE_CHECKING:
    from assay.config import AssayConfig
    from assay.store import Store

FIX_WINDOW = 3600.0
"""Default seconds after a completed rollout in which an alias rollback or a replacing rollout
counts it as a failed change."""


@dataclass(frozen=True)
class Week:
    """One ISO week's counts and medians."""

    week: str
    figures: Figures

    def to_dict(self) -> dict[str, Any]:
        f = self.figures
        return {"week": self.week, "since": f.window.to_dict()["since"],
                "until": f.window.to_dict()["until"], "deployments": f.deployments,
                "finished": f.finished, "failed": f.failed, "change_failure_rate": f.failure_rate,
                "lead_time_median_seconds": median(f.lead),
                "time_to_restore_median_seconds": median(f.restores),
                "incidents": f.incidents, "evaluations": f.evaluations,
                "gate_pass_rate": (f.evaluations_passed / f.evaluations
                                   if f.evaluations else None)}


@dataclass(frozen=True)
class DeliveryReport:
    """The report of ``current`` (and ``compare``, when asked), for one scope."""

    scope: Scope
    fix_window: float
    current: Figures
    weeks: tuple[Week, ...]
    compare: Figures | None = None

    def to_dict(self) -> dict[str, Any]:
        """Every figure, JSON-ready."""
        out: dict[str, Any] = {"scope": self.scope.to_dict(),
                               "fix_window_seconds": self.fix_window,
                               **self.current.to_dict(),
                               "weekly": [w.to_dict() for w in self.weeks]}
        out["compare"] = None if self.compare is None else self.compare.to_dict()
        return out


def delivery_report(
    store: Store,
    config: AssayConfig | None = None,
    *,
    window: Window,
    compare: Window | None = None,
    model: str | None = None,
    deployment: str | None = None,
    root: Path | None = None,
    fix_window: float = FIX_WINDOW,
    commit_time: CommitTime | None = None,
) -> DeliveryReport:
    """Measure delivery over ``window`` from the metadata store (read only).

    Args:
        store: the metadata store.
        config: assay.yaml (which aliases serve users, which alias a deployment follows).
        window: the window to measure.
        compare: a second window, measured by the same rules.
        model: only this model's deployments and versions.
        deployment: only this deployment.
        root: the project root; commit times come from its git repository.
        fix_window: seconds after a completed rollout in which an alias rollback or a
            replacing rollout counts it as failed.
        commit_time: when a commit was made (default: asked of git at ``root``).

    Returns:
        The report; figures with nothing to count are None.

    Example::

        report = delivery_report(store, project.config, root=project.root,
                                 window=make_window("30d", None, now=time.time()))
    """
    windows = [window] if compare is None else [window, compare]
    history = load_history(store, config, since=min(w.since for w in windows),
                           until=max(w.until for w in windows))
    facts = derive(history, Scope(model, deployment), fix_window=fix_window,
                   commit_time=commit_time or commit_times(root))
    return DeliveryReport(
        scope=Scope(model, deployment), fix_window=fix_window,
        current=figures(history, facts, window),
        weeks=tuple(Week(label, figures(history, facts, part))
                    for label, part in iso_weeks(window)),
        compare=None if compare is None else figures(history, facts, compare))
