"""CI integration: generated pipelines that keep light checks on every push apart from heavy
training and gated promotion (``assay ci init``), the pull-request report (``assay ci report``)
and posting it as one comment updated in place (``assay ci comment``).

>>> from assay.ci import init_ci, write_report
>>> init_ci(project, "github")            # .github/workflows/assay.yml from assay.yaml
>>> write_report(project, base="origin/main")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay._lazy import lazy_attributes

if TYPE_CHECKING:
    from assay.ci._comment import (
        PROVIDERS,
        Posted,
        Target,
        detect_provider,
        github_target,
        gitlab_target,
        post_comment,
        target_for,
    )
    from assay.ci._facts import ProjectFacts, facts_of
    from assay.ci._init import SYSTEMS, CIFiles, init_ci, render_ci
    from assay.ci._markdown import code, escape
    from assay.ci._plan import Plan, plan_for
    from assay.ci._report import MARKER, Report, build_report, default_base, write_report

_LAZY: dict[str, str] = {
    "CIFiles": "assay.ci._init",
    "MARKER": "assay.ci._report",
    "PROVIDERS": "assay.ci._comment",
    "Plan": "assay.ci._plan",
    "Posted": "assay.ci._comment",
    "ProjectFacts": "assay.ci._facts",
    "Report": "assay.ci._report",
    "SYSTEMS": "assay.ci._init",
    "Target": "assay.ci._comment",
    "build_report": "assay.ci._report",
    "code": "assay.ci._markdown",
    "default_base": "assay.ci._report",
    "detect_provider": "assay.ci._comment",
    "escape": "assay.ci._markdown",
    "facts_of": "assay.ci._facts",
    "github_target": "assay.ci._comment",
    "gitlab_target": "assay.ci._comment",
    "init_ci": "assay.ci._init",
    "plan_for": "assay.ci._plan",
    "post_comment": "assay.ci._comment",
    "render_ci": "assay.ci._init",
    "target_for": "assay.ci._comment",
    "write_report": "assay.ci._report",
}

__all__ = [
    "MARKER",
    "PROVIDERS",
    "SYSTEMS",
    "CIFiles",
    "Plan",
    "Posted",
    "ProjectFacts",
    "Report",
    "Target",
    "build_report",
    "code",
    "default_base",
    "detect_provider",
    "escape",
    "facts_of",
    "github_target",
    "gitlab_target",
    "init_ci",
    "plan_for",
    "post_comment",
    "render_ci",
    "target_for",
    "write_report",
]

__getattr__, __dir__ = lazy_attributes("assay.ci", _LAZY, __all__, globals())
