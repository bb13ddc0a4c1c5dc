"""The antipatterns of ML delivery, one function per rule. Each returns its findings."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from assay._layout import POINTER_SUFFIX
from assay.config import PRODUCTION_ALIASES, Project, serves_users
from assay.doctor._findings import Finding, Rule
from assay.doctor._graph import PipelineView, StageView, _under
from assay.doctor._registry import HeldAlias, is_deployment_alias

NO_VALIDATION = Rule(
    "no-validation",
    "error",
    "Training without a validation stage upstream",
    "Bad data trains a bad model silently: a schema change, a broken join or a flood of nulls "
    "passes straight into training and then into production.",
    "Add a `kind: validate` stage (a data contract) on the training data and make the training "
    "stage run after it (`needs: [validate]`).",
)
UNVERSIONED_DATA = Rule(
    "unversioned-data",
    "error",
    "Training data not versioned",
    "A model that cannot be traced to the exact data it was trained on cannot be reproduced, "
    "audited or debugged; the file changes under you and the lineage lies.",
    "Version the file with `assay data add PATH` (commit the PATH.assay pointer), or produce it "
    "in an upstream stage (list it in that stage's `outs`).",
)
UNGATED_RELEASE = Rule(
    "ungated-release",
    "error",
    "No evaluation gate before register or deploy",
    "Without gates, any model the pipeline trains is registered or deployed, however bad: "
    "scores are random variables and regressions go unnoticed.",
    "Register from a `kind: evaluate` stage with `gates:` (for example a minimum metric and "
    "`beats_champion`), and point the register stage at it (`evaluation: evaluate`).",
)
NO_APPROVALS = Rule(
    "promotion-without-approvals",
    "warn",
    "Promotion to production without approvals",
    "One person can move any model into production on their own; nobody from platform or data "
    "reviews what ships, and the author grades their own work.",
    "Under `promotion:` give production `from: [staging]` and "
    "`approvals: [{count: 1, roles: [platform]}]` (the author may not approve by default).",
)
NO_MONITORING = Rule(
    "no-drift-monitoring",
    "warn",
    "Deployed alias without drift monitoring",
    "Models degrade as the world drifts; without monitoring nobody notices until users do.",
    "Monitor the deployment that serves the alias: `monitoring: {churn-drift: {deployment: "
    "churn-prod}}` in assay.yaml (then run `assay monitor churn-drift`), or say where its drift "
    "is watched outside assay: `monitoring: {production: {external: "
    "\"https://grafana.example.com/d/churn\"}}`.",
)
UNALERTED_MONITOR = Rule(
    "monitoring-without-alerts",
    "warn",
    "Deployment monitor whose findings reach nobody",
    "A monitor that finds drift only says so in its exit code and the store; unless someone "
    "reads them, nobody hears of it.",
    "Route its findings to a channel: `alerts: {channels: {ops: {url: "
    "https://hooks.example.com/assay, secret_env: ASSAY_ALERT_SECRET}}, routes: [{channels: "
    "[ops]}]}` in assay.yaml (then check it: `assay alerts test ops`); see docs/monitoring.md.",
)
UNGATED_TRIGGER = Rule(
    "trigger-deploys-without-gate",
    "error",
    "A trigger that deploys without an evaluation gate",
    "A trigger runs without a person watching: if nothing gates what it deploys, a retraining "
    "on bad or drifted data rolls a worse model out to users on its own.",
    "Give the deployment's alias a promotion policy that requires the gates "
    "(`promotion: {live: {gates: all}}`), and register the model from a `kind: evaluate` stage "
    "with `gates:` in the trigger's profile (`evaluation: evaluate` on the register stage).",
)
BUS_FACTOR = Rule(
    "bus-factor",
    "warn",
    "Ownership: bus factor 1 or stages without an owner",
    "When one person owns every stage, or a stage has no owner, failures wait for someone who "
    "is on holiday; data, ML and platform work needs different eyes.",
    "Give every stage an `owner:` (a team member id or a role such as data, ml, platform) and "
    "spread ownership across at least two people under `team:`.",
)
HEAVY_CI = Rule(
    "heavy-ci",
    "warn",
    "Heavy training inside the ci profile",
    "Full training on every pull request makes CI slow and expensive, so people stop waiting "
    "for it and stop trusting it.",
    "In `profiles: {ci: {params: {...}}}` override sampling or size parameters (for example "
    "`train.sample: 0.1` or `n_estimators: 20`), or leave heavy stages out of ci "
    "(`profiles: [default]` on the stage).",
)
UNPINNED_ENV = Rule(
    "unpinned-environment",
    "warn",
    "Unpinned environment",
    "Without pinned versions the same code trains a different model next month (a library "
    "upgrade changes defaults), and the serving environment may not load the model.",
    "Commit a lock file: uv.lock, poetry.lock, pdm.lock, a conda lock, or a requirements.txt "
    "with every package pinned with `==` (pip freeze > requirements.txt).",
)
NO_CHAMPION = Rule(
    "gates-without-champion",
    "warn",
    "Metric gates with no champion comparison",
    "A fixed threshold lets a new model pass while being worse than the one in production; a "
    "comparison with confidence intervals catches regressions that thresholds miss.",
    "Add `champion: NAME@production` and a `non_inferiority` (or `beats_champion`) gate to the "
    "evaluate stage.",
)
ACCURACY_ONLY = Rule(
    "accuracy-only-gates",
    "warn",
    "Accuracy-only gates on an imbalanced target",
    "When one class dominates, a model that always predicts it scores the majority share: with "
    "3% positives, an always-\"no\" model passes `accuracy >= 0.87` with 97% and finds nobody.",
    "Gate on a metric a constant model cannot pass (`beats_baseline: {metric: roc_auc}`, or a "
    "`min` on roc_auc, pr_auc, recall or f1 with `pos_label` set to the rare class).",
)
FAIRNESS_ONLY = Rule(
    "fairness-without-usefulness",
    "warn",
    "A fairness gate without a usefulness gate",
    "A model that predicts the same for everyone has a parity gap of 0: a fairness gate alone "
    "(or with an accuracy threshold) prefers a useless constant model to a real one.",
    "Next to the fairness gate, add `beats_baseline: {metric: roc_auc}` (or a `min` on a "
    "ranking or error metric such as roc_auc, f1 or rmse).",
)
UNGUARDED_DEPLOYMENT = Rule(
    "unguarded-deployment",
    "error",
    "A production deployment with no guards",
    "Without guards a rollout moves every step on time alone: a candidate that fails requests, "
    "slows down or predicts something else reaches all users, and nothing rolls it back.",
    "Under `deployments: {NAME: {guards: ...}}` set at least `error_rate: {max: 0.01}` and "
    "`p99_ms: {max: ...}`, and `prediction_shift: {max: 0.1}` for a model with an incumbent.",
)
DIRECT_TO_PRODUCTION = Rule(
    "direct-to-production",
    "warn",
    "A direct deployment on a production alias",
    "A direct deployment swaps every request to the new version at once: a bad version hurts "
    "all users before any guard has seen a request.",
    "Use `strategy: canary` (for example steps 0.1 then 0.5), or `shadow` first, so the guards "
    "decide on a share of traffic before everyone gets the new version.",
)
GUARD_TOO_SMALL = Rule(
    "guard-minimum-too-small",
    "error",
    "A guard whose minimum is too small to decide",
    "A guard tests its bound on the requests of one step at the level alpha / (steps x guards). "
    "On too few requests it can never fail (even the worst sample is not significant), or it "
    "cannot tell a candidate at its bound from a perfect one (no error at all is likely at the "
    "bound), so it passes on absence of evidence.",
    "Raise `min_requests` (in the guards and the steps) to the number the finding names, or "
    "loosen the bound.",
)

ALL_RULES = [
    NO_VALIDATION, UNVERSIONED_DATA, UNGATED_RELEASE, NO_APPROVALS, NO_MONITORING,
    UNALERTED_MONITOR, UNGATED_TRIGGER, BUS_FACTOR,
    HEAVY_CI, UNPINNED_ENV, NO_CHAMPION, ACCURACY_ONLY, FAIRNESS_ONLY, UNGUARDED_DEPLOYMENT,
    DIRECT_TO_PRODUCTION, GUARD_TOO_SMALL,
]
#: Metrics a constant model cannot pass a sensible bound on (accuracy can: the majority share).
USEFULNESS_METRICS = frozenset({
    "roc_auc", "pr_auc", "f1", "recall", "precision", "log_loss", "brier", "rmse", "mae", "mape",
    "r2",
})
FAIRNESS_GATE_METRICS = frozenset({"demographic_parity_difference", "equalized_odds_difference"})
IMBALANCED_SHARE = 0.8  # the majority class holds at least this share of rows
LOCK_FILES = (
    "uv.lock", "poetry.lock", "pdm.lock", "Pipfile.lock", "pixi.lock", "conda-lock.yml",
    "conda-lock.yaml",
)
_SAMPLING = re.compile(
    r"sample|frac|rows|limit|subset|n_estimators|estimators|epochs|max_iter|iterations|"
    r"num_boost_round|smoke|fast",
    re.IGNORECASE,
)


def _where(project: Project, *loc: str) -> str:
    return project.where(*loc)


def check_validation(project: Project, view: PipelineView) -> list[Finding]:
    findings = []
    for stage in view.stages.values():
        if not stage.is_training:
            continue
        upstream = view.upstream(stage.name)
        if not any(view.stages[name].is_validation for name in upstream if name in view.stages):
            findings.append(Finding(
                NO_VALIDATION,
                f"stage {stage.name!r} trains without a validation stage before it",
                _where(project, "stages", stage.name),
            ))
    return findings


def _pointer_for(root: Path, dep: str) -> bool:
    parts = Path(dep).parts
    for i in range(len(parts), 0, -1):
        candidate = root.joinpath(*parts[:i])
        if candidate.with_name(candidate.name + POINTER_SUFFIX).is_file():
            return True
    return False


def check_data_versioned(project: Project, view: PipelineView) -> list[Finding]:
    findings = []
    for stage in view.stages.values():
        if not stage.is_training:
            continue
        for dep in view.data_deps(stage):
            producer = view.producer_of(dep)
            if (producer is not None and producer != stage.name) or _pointer_for(project.root, dep):
                continue
            declared = any(_under(dep, ds.path) for ds in project.config.datasets.values())
            if declared:
                findings.append(Finding(
                    UNVERSIONED_DATA,
                    f"stage {stage.name!r} trains on {dep}, declared under datasets: but not "
                    f"added yet (no {dep}.assay); run: assay data add {dep}",
                    _where(project, "stages", stage.name),
                    severity="warn",
                ))
            else:
                findings.append(Finding(
                    UNVERSIONED_DATA,
                    f"stage {stage.name!r} trains on {dep}, which is neither versioned "
                    f"({dep}.assay) nor produced by a stage",
                    _where(project, "stages", stage.name),
                ))
    return findings


def _gated_evaluation(view: PipelineView, name: str) -> bool:
    stage = view.stages.get(name)
    return stage is not None and stage.kind == "evaluate" and bool(stage.option("gates"))


def check_release_gates(project: Project, view: PipelineView) -> list[Finding]:
    findings = []
    for stage in view.stages.values():
        if stage.kind not in ("register", "deploy"):
            continue
        upstream = view.upstream(stage.name)
        if stage.kind == "register":
            source = stage.option("evaluation")
            ok = isinstance(source, str) and _gated_evaluation(view, source)
            detail = (
                f"its evaluation {source!r} is not a kind: evaluate stage with gates"
                if source else "it names no evaluation stage"
            )
        else:
            ok = any(_gated_evaluation(view, name) for name in upstream)
            detail = "no gated kind: evaluate stage runs before it"
        if not ok:
            findings.append(Finding(
                UNGATED_RELEASE,
                f"{stage.kind} stage {stage.name!r}: {detail}",
                _where(project, "stages", stage.name),
            ))
    return findings


def _releases(view: PipelineView) -> bool:
    return any(s.kind in ("register", "deploy") for s in view.stages.values())


def check_approvals(project: Project, view: PipelineView) -> list[Finding]:
    promotion = project.config.promotion
    findings = []
    for alias, policy in promotion.items():
        serves = alias in PRODUCTION_ALIASES or policy.deployed is True
        if serves and policy.approvals_required == 0:
            findings.append(Finding(
                NO_APPROVALS,
                f"promotion to {alias!r} needs no approvals",
                _where(project, "promotion", alias),
            ))
    if _releases(view) and not any(a in promotion for a in PRODUCTION_ALIASES):
        findings.append(Finding(
            NO_APPROVALS,
            "the pipeline registers models but no promotion policy guards production",
            _where(project, "promotion") if promotion else "assay.yaml",
        ))
    return findings


def check_monitoring(project: Project, view: PipelineView) -> list[Finding]:
    config = project.config
    unwatched: dict[str, list[HeldAlias]] = {}
    watched = config.watched_aliases()
    for held in view.held_aliases:
        if is_deployment_alias(config, held.alias) and held.alias not in watched:
            unwatched.setdefault(held.alias, []).append(held)
    findings = []
    for alias, holders in unwatched.items():
        refs = ", ".join(h.ref for h in holders)
        verb = "serves" if len(holders) == 1 else "serve"
        findings.append(Finding(
            NO_MONITORING,
            f"{refs} {verb} users, but no monitoring: entry for {alias!r} says where its drift "
            "is watched",
            _where(project, "monitoring") if config.monitoring
            else _where(project, "promotion", alias) if alias in config.promotion
            else "assay.yaml",
        ))
    return findings


def check_alert_routes(project: Project, view: PipelineView) -> list[Finding]:
    """A deployment monitor that no route of ``alerts:`` can reach (a route without
    ``monitors:`` reaches every monitor)."""
    config = project.config
    routed: set[str] = set()
    for route in config.alerts.routes:
        routed.update(route.monitors if route.monitors is not None else config.monitoring)
    silent = sorted(n for n, m in config.monitoring.items()
                    if m.watches_data and n not in routed)
    if not silent:
        return []
    names = ", ".join(repr(n) for n in silent)
    return [Finding(
        UNALERTED_MONITOR,
        f"monitor(s) {names} find drift, but no route under alerts: sends their findings "
        "anywhere",
        _where(project, "alerts") if config.alerts.routes else _where(project, "monitoring"),
    )]


def check_trigger_gates(project: Project, view: PipelineView) -> list[Finding]:
    """A trigger with ``deploy:`` whose deployment's alias takes versions without gates, or
    whose pipeline registers that model from no gated evaluation."""
    config = project.config
    findings = []
    for name, trigger in config.triggers.items():
        if trigger.deploy is None or trigger.deploy not in config.deployments:
            continue
        deployment = config.deployments[trigger.deploy]
        policy = config.promotion.get(deployment.alias)
        problems = []
        if policy is None or policy.gates == "none":
            problems.append(f"the promotion policy of {deployment.alias!r} requires no gates"
                            if policy is not None else
                            f"{deployment.alias!r} has no promotion policy (any version may "
                            "take it)")
        registers = [s for s in view.stages.values() if s.kind == "register"
                     and s.option("model") == deployment.model_name]
        if not any(isinstance(s.option("evaluation"), str)
                   and _gated_evaluation(view, str(s.option("evaluation"))) for s in registers):
            problems.append(f"no register stage of {deployment.model_name!r} takes it from a "
                            "gated kind: evaluate stage")
        if problems:
            findings.append(Finding(
                UNGATED_TRIGGER,
                f"trigger {name!r} deploys to {trigger.deploy!r} ({deployment.model}), but "
                + "; and ".join(problems),
                _where(project, "triggers", name),
            ))
    return findings


def _people(project: Project, owner: str) -> set[str]:
    members = project.config.team
    if any(m.id == owner for m in members):
        return {owner}
    by_role = {m.id for m in members if owner in m.roles}
    return by_role or {owner}


def check_ownership(project: Project, view: PipelineView) -> list[Finding]:
    stages = list(view.stages.values())
    if not stages:
        return []
    findings = []
    orphans = [s.name for s in stages if not s.config.owner]
    if orphans:
        findings.append(Finding(
            BUS_FACTOR,
            f"stage(s) without an owner: {', '.join(orphans)}",
            _where(project, "stages", orphans[0]),
        ))
    known = {m.id for m in project.config.team} | {r for m in project.config.team for r in m.roles}
    for stage in stages:
        owner = stage.config.owner
        if owner and project.config.team and owner not in known:
            findings.append(Finding(
                BUS_FACTOR,
                f"stage {stage.name!r} is owned by {owner!r}, who is neither a team member "
                "nor a role",
                _where(project, "stages", stage.name, "owner"),
            ))
    people: set[str] = set()
    for stage in stages:
        if stage.config.owner:
            people |= _people(project, stage.config.owner)
    if len(stages) > 1 and len(people) == 1 and not orphans:
        findings.append(Finding(
            BUS_FACTOR,
            f"one person ({next(iter(people))}) owns every stage (bus factor 1)",
            _where(project, "stages"),
        ))
    return findings


def _samples_in_ci(project: Project, stage: StageView) -> bool:
    profile = project.config.profiles.get("ci")
    keys = list(profile.params) if profile is not None else []
    return any(_SAMPLING.search(key) for key in keys) or stage.option("sample") is not None


def check_heavy_ci(project: Project, view: PipelineView) -> list[Finding]:
    if "ci" not in project.config.profiles:
        return []
    return [
        Finding(
            HEAVY_CI,
            f"stage {stage.name!r} trains at full size in the ci profile (no sampling override)",
            _where(project, "profiles", "ci"),
        )
        for stage in view.stages.values()
        if stage.is_heavy and view.runs_in(stage, "ci") and not _samples_in_ci(project, stage)
    ]


def _unpinned_lines(path: Path) -> list[str]:
    loose = []
    for raw in path.read_text(errors="replace").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith(("-", "--")):
            continue
        if "==" not in line and "@" not in line:
            loose.append(line)
    return loose


def check_environment(project: Project, view: PipelineView) -> list[Finding]:
    root = project.root
    if any((root / name).is_file() for name in LOCK_FILES) or any(root.glob("*conda-lock*.yml")):
        return []
    requirements = sorted(root.glob("requirements*.txt"))
    loose = {p.name: _unpinned_lines(p) for p in requirements}
    if requirements and not any(loose.values()):
        return []
    if requirements:
        detail = "; ".join(f"{name}: {', '.join(lines[:5])}" for name, lines in loose.items() if lines)
        return [Finding(UNPINNED_ENV, f"unpinned requirements ({detail})", requirements[0].name)]
    return [Finding(
        UNPINNED_ENV,
        "no lock file or pinned requirements*.txt in the project root",
        ".",
    )]


def check_champion(project: Project, view: PipelineView) -> list[Finding]:
    findings = []
    for stage in view.stages.values():
        if stage.kind != "evaluate":
            continue
        gates = stage.option("gates") or []
        if not isinstance(gates, list) or not gates:
            continue
        compares = any(
            isinstance(g, dict) and (g.get("beats_champion") or g.get("non_inferiority")
                                     or g.get("max_regression"))
            for g in gates
        )
        if not compares:
            findings.append(Finding(
                NO_CHAMPION,
                f"evaluate stage {stage.name!r} gates on fixed thresholds only",
                _where(project, "stages", stage.name, "gates"),
            ))
    return findings


def _gate_dicts(stage: StageView) -> list[dict[str, object]]:
    gates = stage.option("gates") or []
    return [g for g in gates if isinstance(g, dict)] if isinstance(gates, list) else []


def _is_useful(gate: dict[str, object]) -> bool:
    """A gate a constant model fails: beats_baseline, or a bound on a usefulness metric."""
    return bool(gate.get("beats_baseline")) or gate.get("metric") in USEFULNESS_METRICS


def _majority_share(project: Project, stage: StageView) -> tuple[float, str, str] | None:
    """(share, label, dataset) of the majority class in the stage's first dataset, if it can be
    read now; None otherwise (not produced yet, no target, unreadable)."""
    datasets, target = stage.option("datasets"), stage.option("target")
    if not isinstance(datasets, dict) or not datasets or not isinstance(target, str):
        return None
    name, raw = next(iter(datasets.items()))
    entry = project.config.datasets.get(str(raw))
    path = project.root / (entry.path if entry is not None else str(raw))
    if not path.is_file():
        return None
    import polars as pl

    try:
        frame = (pl.read_parquet(path, columns=[target]) if path.suffix == ".parquet"
                 else pl.read_csv(path, columns=[target]))
    except (OSError, pl.exceptions.PolarsError):
        return None
    counts = frame[target].value_counts(sort=True)
    if counts.height == 0 or frame.height == 0 or counts.height > 20:
        return None  # empty, or a regression target
    return counts["count"][0] / frame.height, str(counts[target][0]), str(name)


def check_accuracy_only(project: Project, view: PipelineView) -> list[Finding]:
    findings = []
    for stage in view.stages.values():
        if stage.kind != "evaluate":
            continue
        gates = _gate_dicts(stage)
        on_accuracy = any(g.get("metric") == "accuracy" and g.get("min") is not None for g in gates)
        if not on_accuracy or any(_is_useful(g) for g in gates):
            continue
        found = _majority_share(project, stage)
        if found is None or found[0] < IMBALANCED_SHARE:
            continue
        share, label, dataset = found
        findings.append(Finding(
            ACCURACY_ONLY,
            f"evaluate stage {stage.name!r} gates usefulness on accuracy only, and {share:.1%} of "
            f"{dataset!r} is {label!r}: a model that always answers {label!r} scores {share:.3f}",
            _where(project, "stages", stage.name, "gates"),
        ))
    return findings


def check_fairness_usefulness(project: Project, view: PipelineView) -> list[Finding]:
    findings = []
    for stage in view.stages.values():
        if stage.kind != "evaluate":
            continue
        gates = _gate_dicts(stage)
        fairness = [str(g["metric"]) for g in gates if g.get("metric") in FAIRNESS_GATE_METRICS]
        if fairness and not any(_is_useful(g) for g in gates):
            findings.append(Finding(
                FAIRNESS_ONLY,
                f"evaluate stage {stage.name!r} gates on {fairness[0]} but on no usefulness "
                "metric: a constant model (parity gap 0) passes",
                _where(project, "stages", stage.name, "gates"),
            ))
    return findings


def _serves_users(project: Project, alias: str) -> bool:
    return serves_users(project.config.promotion, alias)


def check_unguarded_deployment(project: Project, view: PipelineView) -> list[Finding]:
    return [
        Finding(
            UNGUARDED_DEPLOYMENT,
            f"deployment {name!r} follows {deployment.model} with no guards: nothing rolls a bad "
            "version back",
            _where(project, "deployments", name),
        )
        for name, deployment in project.config.deployments.items()
        if _serves_users(project, deployment.alias) and not deployment.guards.active
    ]


def check_direct_deployment(project: Project, view: PipelineView) -> list[Finding]:
    return [
        Finding(
            DIRECT_TO_PRODUCTION,
            f"deployment {name!r} swaps {deployment.model} to a new version at once "
            "(strategy: direct)",
            _where(project, "deployments", name, "strategy"),
        )
        for name, deployment in project.config.deployments.items()
        if deployment.strategy == "direct" and _serves_users(project, deployment.alias)
    ]


def _rule_of_n(bound: float, alpha: float) -> int:
    """Requests needed before a candidate exactly at a rate ``bound`` shows at least one event
    with probability 1 - ``alpha``: the n with (1 - bound)^n < alpha ("rule of three" at 5%)."""
    import math

    return math.floor(math.log(alpha) / math.log1p(-bound)) + 1


def check_guard_minimums(project: Project, view: PipelineView) -> list[Finding]:
    """A guard is too small to decide at the smallest look of the plan (n = the larger of the
    guards' and the smallest step's ``min_requests``) when the most extreme sample of n requests
    is not significant at the guard's level (error: it can never fail), or when a candidate
    exactly at an error-rate or tail bound shows no event in n requests with probability >= alpha
    (warn: passing says nothing about the bound). The shift's extreme is every candidate
    prediction in a class the incumbent never predicts, on as many incumbent predictions."""
    from assay.deployment import (
        P99_TAIL,
        accuracy_p_value,
        binomial_p_value,
        guard_alpha,
        shift_p_value,
    )

    findings = []
    for name, deployment in project.config.deployments.items():
        guards, plan = deployment.guards, deployment.plan
        if not guards.active:
            continue
        smallest_step = min((s.min_requests for s in plan), default=guards.min_requests)
        n = max(guards.min_requests, smallest_step)
        level = guard_alpha(guards, max(1, len(plan)))
        rates = {"error_rate": guards.error_rate.max if guards.error_rate else None,
                 "p99_ms": P99_TAIL if guards.p99_ms else None}
        where = _where(project, "deployments", name, "guards")
        for guard, rate in rates.items():
            if rate is None:
                continue
            worst = binomial_p_value(n, n, rate)
            needed = _rule_of_n(rate, guards.alpha)
            what = ("an error rate" if guard == "error_rate"
                    else "a share of requests over the bound")
            if worst >= level:
                findings.append(Finding(
                    GUARD_TOO_SMALL,
                    f"deployment {name!r}: guard {guard} can never fail on {n} requests (even "
                    f"all {n} over its bound give p={worst:.2g} >= {level:.2g})",
                    where))
            elif n < needed:
                findings.append(Finding(
                    GUARD_TOO_SMALL,
                    f"deployment {name!r}: guard {guard} decides on {n} requests, but at "
                    f"{what} of {rate:g} no event at all has probability "
                    f"{(1 - rate) ** n:.2f} >= alpha {guards.alpha:g}; needs {needed} requests",
                    where, severity="warn"))
        if guards.prediction_shift is not None:
            _, worst = shift_p_value(n, n, 0, n, guards.prediction_shift.max)
            if worst >= level:
                findings.append(Finding(
                    GUARD_TOO_SMALL,
                    f"deployment {name!r}: guard prediction_shift can never fail on {n} "
                    f"predictions (even a complete shift gives p={worst:.2g} >= {level:.2g})",
                    where))
        if guards.live_quality is not None:
            m = guards.live_quality.min_labels
            _, worst = accuracy_p_value(0, m, m, m, guards.live_quality.max_drop)
            if worst >= level:
                findings.append(Finding(
                    GUARD_TOO_SMALL,
                    f"deployment {name!r}: guard live_quality can never fail on {m} labels "
                    f"(even every candidate answer wrong and every incumbent answer right "
                    f"give p={worst:.2g} >= {level:.2g})",
                    where))
    return findings


CHECKS: list[Callable[[Project, PipelineView], list[Finding]]] = [
    check_validation,
    check_data_versioned,
    check_release_gates,
    check_approvals,
    check_monitoring,
    check_alert_routes,
    check_trigger_gates,
    check_ownership,
    check_heavy_ci,
    check_environment,
    check_champion,
    check_accuracy_only,
    check_fairness_usefulness,
    check_unguarded_deployment,
    check_direct_deployment,
    check_guard_minimums,
]
