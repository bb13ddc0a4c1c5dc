"""GitLab CI: ``.gitlab-ci.yml``.

Light checks run for merge requests and pushes; the full run on the default branch, on a
schedule or from the web; promotion is a manual job in the ``production`` environment (make it
a protected environment with required approvals, so a person approves each promotion). The
checks, the light run and the MR report share one job, because they share its local store.
"""

from __future__ import annotations

from typing import Any

from assay.ci._facts import PRODUCTION, ProjectFacts
from assay.ci._plan import REPORT_FILE, UNIT_JUNIT, Plan, header
from assay.ci._yaml import dump

PATH = ".gitlab-ci.yml"

_LIGHT = [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event" || '
                 '$CI_PIPELINE_SOURCE == "push"'}]
_TRAIN = [
    {"if": '$CI_PIPELINE_SOURCE == "schedule"'},
    {"if": '$CI_PIPELINE_SOURCE == "web"'},
    {"if": '$CI_PIPELINE_SOURCE == "push" && $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH'},
]


def _artifacts(paths: list[str]) -> dict[str, Any]:
    return {"when": "always", "expire_in": "30 days", "paths": ["reports/"],
            "reports": {"junit": paths}}


def render(facts: ProjectFacts, plan: Plan) -> dict[str, str]:
    """The pipeline file of ``facts``' project, by path."""
    caches: list[dict[str, Any]] = [
        {"key": {"files": ["assay.lock"], "prefix": "assay-cache"},
         "paths": [f"{plan.cache_dir}/"]},
    ]
    if facts.requirements:
        caches.append({"key": {"files": [facts.requirements], "prefix": "pip"},
                       "paths": [".cache/pip/"]})
    template = {"cache": caches, "before_script": list(plan.install)}
    jobs: dict[str, Any] = {}
    junit_light = [p for p in plan.junit if p != UNIT_JUNIT]
    checks: list[str] = []
    for step in plan.checks:
        if step.name == "lint":
            jobs["lint"] = {"extends": ".assay", "stage": "checks", "rules": _LIGHT,
                            "script": list(step.commands)}
        elif step.name == "unit tests":
            jobs["unit-tests"] = {"extends": ".assay", "stage": "checks", "rules": _LIGHT,
                                  "script": list(step.commands),
                                  "artifacts": {"when": "always",
                                                "reports": {"junit": UNIT_JUNIT}}}
        else:
            checks += list(step.commands)
    target = "$CI_MERGE_REQUEST_TARGET_BRANCH_NAME"
    report = (f'if [ -n "$CI_MERGE_REQUEST_IID" ]; then git fetch --quiet origin '
              f'"{target}:refs/remotes/origin/{target}" || true; {plan.pr_report[0]} && '
              f"assay ci comment --provider gitlab --file {REPORT_FILE}; fi")
    jobs["assay-checks"] = {
        "extends": ".assay", "stage": "checks", "rules": _LIGHT, "script": checks,
        "after_script": [report], "artifacts": _artifacts(junit_light),
    }
    train = [*plan.restore, *(c for step in plan.train for c in step.commands)]
    if plan.share:  # share the outs even when the run fails (after_script would time out)
        train = [*train[:-1], f"{train[-1]} || status=$?", *plan.share,
                 'exit "${status:-0}"']
    train_job: dict[str, Any] = {
        "extends": ".assay", "stage": "train", "rules": _TRAIN, "resource_group": "assay-train",
        "script": train, "artifacts": _artifacts(junit_light),
    }
    jobs["train"] = train_job
    stages = ["checks", "train"]
    if plan.promote:
        stages.append("promote")
        jobs["promote-production"] = {
            "extends": ".assay", "stage": "promote", "needs": ["train"],
            "rules": [{**rule, "when": "manual"} for rule in _TRAIN],
            "environment": {"name": PRODUCTION, "deployment_tier": "production"},
            "resource_group": PRODUCTION,
            "cache": [],
            "script": list(plan.promote),
        }
    pipeline: dict[str, Any] = {
        "workflow": {"rules": [
            {"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'},
            {"if": "$CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS", "when": "never"},
            {"if": "$CI_COMMIT_BRANCH"},
        ]},
        "stages": stages,
        "default": {"image": f"python:{facts.python}"},
        "variables": {"PIP_CACHE_DIR": "$CI_PROJECT_DIR/.cache/pip", "GIT_DEPTH": "0"},
        ".assay": template,
        **jobs,
    }
    extra = (
        "CI/CD variables: ASSAY_PACKAGE, ASSAY_USER, ASSAY_STORE_URL (masked: the team's store), "
        "GITLAB_TOKEN (a project access token with api scope, to post the MR report)",
        "and the remote's credentials; protect the environment "
        f"'{PRODUCTION}' with required approvals.",
    )
    return {PATH: header(facts, plan, "assay ci init gitlab", extra) + dump(pipeline)}
