"""The built-in ``kind: register`` stage: register an evaluation's selected candidate.

.. code-block:: yaml

    register:
      kind: register
      evaluation: evaluate     # the evaluate stage whose selected candidate is registered
      model: churn             # the registered model name
      alias: staging           # optional; set if its promotion policy allows it now
      allow_pickle: false      # a pyfunc (pickle) package is refused unless true

Writes ``reports/<stage_slug>/`` (registration.json, card.md, card.html). Exits 1 when the
evaluation selected no candidate. The package is checked as load checks it before anything is
recorded (see :func:`assay.models.check_package`). Registering the same package again is a no-op. Setting the
alias is a promotion by the user running the stage (``ASSAY_USER`` / git): the alias's policy
(team membership, gates, source aliases, approvals) must allow it, else the version is
registered without it and the stage says why.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from assay.config import KindPlan, PlanContext, StageContext
from assay.errors import RegistryError


class RegisterOptions(BaseModel):
    """Options of ``kind: register``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    evaluation: str = Field(description="the evaluate stage whose selected candidate to register")
    model: str = Field(description="the registered model name")
    alias: str | None = Field(default=None, description="an alias to set, e.g. staging")
    allow_pickle: bool = Field(
        default=False,
        description="accept a pickled (pyfunc) package (as kind: evaluate's allow_pickle)",
    )


def _evaluation_file(root: Path, outs: list[str]) -> Path | None:
    from assay._paths import resolve_inside

    for out in outs:
        path = resolve_inside(root, out, what="evaluation output")
        candidate = path / "evaluation.json" if path.is_dir() else path
        if candidate.name == "evaluation.json" and candidate.is_file():
            return candidate
    return None


class RegisterKind:
    """``kind: register``: see the module docstring."""

    name = "register"
    # what the warm worker imports once per run (see assay.pipeline._warm_worker)
    warm_imports = ("assay.models", "assay.registry")
    options = RegisterOptions

    def plan(self, options: RegisterOptions, ctx: PlanContext) -> KindPlan:
        from assay.models import stage_slug
        from assay.registry._refs import check_alias, check_name

        check_name(options.model)  # a bad name stops the run before anything trains
        if options.alias is not None:
            check_alias(options.alias)
        return KindPlan(
            deps=list(ctx.outs_of(options.evaluation)),
            outs=[f"reports/{stage_slug(ctx.stage)}"],
            needs=[options.evaluation],
            store_effects=True,  # the registered version lives in the store, not in the outs
        )

    def run(self, options: RegisterOptions, ctx: StageContext) -> int:
        from assay._atomic import write_text_atomic
        from assay._identity import current_user
        from assay._paths import resolve_inside
        from assay.config import Project
        from assay.evaluation import read_evaluation
        from assay.models import stage_slug
        from assay.registry._card import model_card
        from assay.registry._refs import check_alias, check_name
        from assay.registry._registration import register
        from assay.store import open_store

        check_name(options.model)
        if options.alias is not None:
            check_alias(options.alias)
        outs = ctx.upstream_outs.get(options.evaluation)
        if outs is None:
            raise RegistryError(
                f"Evaluation stage {options.evaluation!r} did not run before {ctx.stage}",
                stage=ctx.stage,
            )
        path = _evaluation_file(ctx.root, outs)
        if path is None:
            raise RegistryError(
                f"{options.evaluation!r} wrote no evaluation.json (outs: {', '.join(outs)}); "
                "is it a kind: evaluate stage?",
                stage=ctx.stage,
            )
        report, _ = read_evaluation(path)
        selected = report.get("selected")
        if not selected:
            from assay.errors import GateFailed

            raise GateFailed(
                f"{options.evaluation}: no candidate passed its gates; nothing to register",
                stage=ctx.stage,
            )
        project = Project.load(ctx.root)
        package_dir = None
        if selected.get("package"):
            candidate = resolve_inside(ctx.root, str(selected["package"]), what="package path")
            package_dir = candidate if candidate.is_dir() else None
        store = open_store(ctx.store_url)
        try:
            result = register(
                store,
                name=options.model,
                cache_dir=project.cache_dir,
                package_dir=package_dir,
                oid=None if package_dir is not None else selected.get("oid"),
                evaluation=report,
                author=current_user(),
                alias=options.alias,
                config=project.config,
                allow_pickle=options.allow_pickle,
            )
            card = model_card(store, project.config, result.version.ref)
        finally:
            store.close()
        out_dir = resolve_inside(ctx.root, f"reports/{stage_slug(ctx.stage)}", what="report dir")
        out_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out_dir / "card.md", card.to_markdown())
        write_text_atomic(out_dir / "card.html", card.to_html())
        summary = {
            "model": options.model,
            "version": result.version.version,
            "created": result.created,
            "model_hash": result.version.model_hash,
            "alias": result.alias,
            "aliases": list(result.version.aliases),
            "note": result.note,
        }
        write_text_atomic(out_dir / "registration.json", json.dumps(summary, indent=2) + "\n")
        verb = "registered" if result.created else "already registered"
        alias = f" with alias {result.alias}" if result.alias else ""
        print(f"{verb} {result.version.ref}{alias}")
        if result.note:
            print(f"note: {result.note}", file=sys.stderr if options.alias else sys.stdout)
        return 0


KIND = RegisterKind()
