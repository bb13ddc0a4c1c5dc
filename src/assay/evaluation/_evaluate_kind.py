"""The built-in ``kind: evaluate`` stage: evaluate upstream candidates, gate, select, report.

.. code-block:: yaml

    evaluate:
      kind: evaluate
      candidates: [train]                 # stages or matrix groups; each out with model.json
      champion: churn@production          # optional; absent champion is fine
      datasets: {holdout: data/holdout.parquet, benchmark: data/benchmark.parquet}
      target: churned
      slices: {new_customers: "tenure_months < 12"}
      fairness: {column: gender}
      gates:
        - {metric: roc_auc, min: 0.75, dataset: holdout}
        - {beats_baseline: {metric: roc_auc, margin: 0.05}}
        - {non_inferiority: {metric: roc_auc, margin: 0.01}, dataset: holdout}
        - {metric: demographic_parity_difference, max: 0.1, profiles: {ci: {max: 0.2}}}
      select: {metric: roc_auc, dataset: holdout}

Writes ``reports/<stage_slug>/`` (evaluation.json, report.md, report.html, junit.xml), records
the evaluation in the store, and exits 1 when no candidate passes.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assay.config import KindPlan, PlanContext, StageContext
from assay.errors import EvaluationError, ModelError
from assay.evaluation._data import config_datasets as _config_datasets
from assay.evaluation._evaluation import Candidate, Evaluation, evaluate
from assay.evaluation._options import EvaluateOptions
from assay.evaluation._report import write_reports
from assay.store import statements as sql


def _dataset_rel(raw: str, datasets: dict[str, Any]) -> str:
    entry = datasets.get(raw)
    return str(getattr(entry, "path", raw)) if entry is not None else raw


def upstream_of(upstream: dict[str, list[str]], name: str) -> list[str] | None:
    """Outs of stage or matrix group ``name``: keyed by the group, or by its instances
    (``train[model=rf]``, ...); ``None`` when it did not run."""
    if name in upstream:
        return list(upstream[name])
    prefix = f"{name}["
    keys = [key for key in upstream if key.startswith(prefix)]
    if not keys:
        return None
    return [out for key in keys for out in upstream[key]]


def find_candidates(root: Path, outs: list[str]) -> list[Candidate]:
    """Every out directory holding a model.json, named by the stage that trained it."""
    from assay._paths import resolve_inside
    from assay.models import is_package, read_package

    found: list[Candidate] = []
    for out in outs:
        path = resolve_inside(root, out, what="candidate path")
        if not is_package(path):
            continue
        try:
            name = str(read_package(path).lineage.get("stage") or out)
        except ModelError:
            name = out
        if any(c.name == name for c in found):  # e.g. two packages logged by one cmd stage
            name = out
        found.append(Candidate(name=name, package=path))
    return found


def resolve_champion(ref: str | None, *, root: Path) -> Candidate | None:
    """The champion as a candidate: a package path or a registry ref; ``None`` if absent.

    A registry ref that does not exist yet (no model, no such alias) means no champion; a
    package path that does not exist is an error (it is a typo, not a fresh project).

    Raises:
        EvaluationError: a champion path that is not a package.
    """
    from assay.models import is_package, resolve_package

    if not ref:
        return None
    if "/" in ref and "@" not in ref:
        candidate = root / ref
        if not is_package(candidate):
            raise EvaluationError(f"Champion {ref!r} is not a model package directory", ref=ref)
    try:
        path, _, oid = resolve_package(ref, root=root)
    except ModelError as exc:
        if "/" in ref and "@" not in ref:
            raise EvaluationError(f"Champion {ref!r}: {exc}", ref=ref) from None
        print(f"note: no champion ({exc})", file=sys.stderr)
        return None
    return Candidate(name=f"champion ({ref})", package=path, oid=oid, is_champion=True, ref=ref)


def _with_oids(candidates: list[Candidate], cache_dir: Path) -> list[Candidate]:
    from assay.objects import LocalCache

    cache = LocalCache(cache_dir)
    out = []
    for cand in candidates:
        oid = cand.oid or cache.add_dir(cand.package).oid
        out.append(
            Candidate(cand.name, cand.package, oid=oid, is_champion=cand.is_champion, ref=cand.ref)
        )
    return out


def record_evaluation(
    evaluation: Evaluation, *, store_url: str, stage: str, stage_run_id: str | None
) -> int:
    """Insert the evaluation into the ``evaluations`` table (and an event); returns its id."""
    from assay.store import open_store

    report = evaluation.report
    store = open_store(store_url)
    try:
        with store.write() as conn:
            if stage_run_id is not None and conn.execute(
                    sql.STAGE_RUN_ID, {"id": stage_run_id}).fetchone() is None:
                stage_run_id = None  # not recorded in this store: the row names no stage run
            new_id = int(conn.execute(sql.INSERT_EVALUATION, {
                "stage_run_id": stage_run_id,
                "stage": stage,
                "selected_hash": (report["selected"] or {}).get("oid"),
                "passed": bool(report["passed"]),
                "report": report,
                "created_at": time.time(),
            }).scalar())
            store.record_event(
                "evaluation.completed",
                stage,
                {
                    "evaluation_id": new_id,
                    "passed": report["passed"],
                    "selected": (report["selected"] or {}).get("candidate"),
                },
                conn=conn,
            )
    finally:
        store.close()
    return new_id


def run_evaluation(
    options: EvaluateOptions,
    *,
    root: Path,
    stage: str,
    candidate_outs: list[str],
    out_dir: Path,
    store_url: str,
    cache_dir: Path,
    stage_run_id: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Evaluation:
    """Evaluate, write the reports into ``out_dir`` and record the evaluation (``progress``
    receives lines of progress, see :func:`evaluate`).

    Raises:
        EvaluationError: misconfiguration or no candidates.
    """
    datasets = _config_datasets(root)
    candidates = find_candidates(root, candidate_outs)
    if not candidates:
        raise EvaluationError(
            f"No model packages among the outputs of {', '.join(options.candidates)}; a candidate "
            "stage must write a directory with model.json (kind: train, or assay.log_model(path=))",
            stage=stage,
        )
    champion = resolve_champion(options.champion, root=root)
    candidates = _with_oids(candidates, cache_dir)
    evaluation = evaluate(
        options, candidates, root=root, stage=stage, champion=champion, datasets=datasets,
        progress=progress,
    )
    write_reports(evaluation.report, out_dir, evaluation.curves, plots=options.plots)
    record_evaluation(evaluation, store_url=store_url, stage=stage, stage_run_id=stage_run_id)
    return evaluation


def empty_slices(report: dict[str, Any]) -> list[str]:
    """One sentence per (dataset, slice) that selected no rows (reported, not an error)."""
    found: list[str] = []
    for cand in report["candidates"]:
        for dataset, slices in cand["metrics"].items():
            for name, metrics in slices.items():
                line = f"slice {name!r} selected no rows on {dataset}"
                if metrics.get("rows") == 0 and line not in found:
                    found.append(line)
    return found


def _check_gate_profiles(options: EvaluateOptions, ctx: PlanContext) -> None:
    """Every profile a gate names is a profile of assay.yaml.

    Raises:
        EvaluationError: an unknown profile (with a suggestion).
    """
    named = options.gate_profiles()
    if not named:
        return
    from assay.config import Project, suggest

    known = sorted(Project.load(ctx.root).config.profiles)
    for index, gate in enumerate(options.gates):
        for name in gate.profiles:
            if name not in known:
                raise EvaluationError(
                    f"gates[{index}].profiles: unknown profile {name!r}{suggest(name, known)} "
                    f"(profiles in assay.yaml: {', '.join(known) or 'none'})",
                    stage=ctx.stage, profile=name,
                )


class EvaluateKind:
    """``kind: evaluate``: see the module docstring."""

    name = "evaluate"
    # what the warm worker imports once per run (see assay.pipeline._warm_worker)
    # (not matplotlib: only report.html's plots need it, and a CI profile may leave them out)
    warm_imports = ("polars", "sklearn.base", "sklearn.metrics", "skops.io", "assay.models",
                    "assay.models._verification", "assay.models._trust:default_trusted_types",
                    "assay.objects._cache", "assay.store._opener")
    options = EvaluateOptions

    def plan(self, options: EvaluateOptions, ctx: PlanContext) -> KindPlan:
        from assay.evaluation._gates import check_names
        from assay.models import stage_slug

        check_names(options)  # a typo in a gate stops the run before anything trains
        _check_gate_profiles(options, ctx)
        datasets = _config_datasets(ctx.root)
        deps = [_dataset_rel(raw, datasets) for raw in options.datasets.values()]
        for name in options.candidates:
            deps += [out for out in ctx.outs_of(name) if out not in deps]
        aliases: list[str] = []
        champion = options.champion
        if champion and "@" in champion:
            aliases.append(champion)  # re-evaluate when the alias moves
        elif champion and "/" in champion and champion not in deps:
            deps.append(champion)  # a package path: its content is a dep
        slug = stage_slug(ctx.stage)
        # the bounds of the profiles not being run do not change this run's result
        ignored: list[tuple[str | int, ...]] = [
            ("gates", index, "profiles", name)
            for index, gate in enumerate(options.gates)
            for name in gate.profiles
            if name != ctx.profile
        ]
        return KindPlan(
            deps=deps, outs=[f"reports/{slug}"], needs=list(options.candidates), aliases=aliases,
            ignored_options=ignored,
        )

    def run(self, options: EvaluateOptions, ctx: StageContext) -> int:
        from assay._paths import resolve_inside
        from assay.config import Project
        from assay.models import stage_slug

        project = Project.load(ctx.root)
        outs: list[str] = []
        missing = []
        for name in options.candidates:
            found = upstream_of(ctx.upstream_outs, name)
            if found is None:
                missing.append(name)
            outs += [out for out in found or [] if out not in outs]
        if missing:
            raise EvaluationError(
                f"Candidate stage(s) {', '.join(missing)} did not run before {ctx.stage}",
                stage=ctx.stage,
            )
        out_dir = resolve_inside(ctx.root, f"reports/{stage_slug(ctx.stage)}", what="report dir")
        evaluation = run_evaluation(
            options.for_profile(ctx.profile),
            root=ctx.root,
            stage=ctx.stage,
            candidate_outs=outs,
            out_dir=out_dir,
            store_url=ctx.store_url,
            cache_dir=project.cache_dir,
            stage_run_id=ctx.stage_run_id,
            progress=lambda line: print(line, flush=True),  # the run shows a stage's last line
        )
        report = evaluation.report
        for note in empty_slices(report):
            print(f"note: {note}", file=sys.stderr)
        ctx.report_dir.mkdir(parents=True, exist_ok=True)
        for produced in out_dir.iterdir():  # the run's own copy, next to its other reports
            shutil.copy2(produced, ctx.report_dir / produced.name)
        if report["passed"]:
            print(
                f"selected {report['selected']['candidate']} (reports/{out_dir.name}/evaluation.json)"
            )
            return 0
        from assay.errors import GateFailed

        raise GateFailed(
            f"no candidate passed every gate (report: reports/{out_dir.name}/report.md)\n"
            + evaluation.failure_summary(),
            stage=ctx.stage,
        )


KIND = EvaluateKind()
