"""Semaphore: ``.semaphore/semaphore.yml`` (light checks on every push and pull request),
``.semaphore/train.yml`` (the full run: promoted automatically on the main branch, or started by
hand or by a scheduled task) and ``.semaphore/production.yml`` (promotion to production: a
manual promotion bound to the ``production`` deployment target, whose approvers sign off).
"""

from __future__ import annotations

from typing import Any

from assay.ci._facts import PRODUCTION, ProjectFacts
from assay.ci._plan import REPORT_FILE, Plan, header
from assay.ci._yaml import dump

PATH = ".semaphore/semaphore.yml"
TRAIN_PATH = ".semaphore/train.yml"
PRODUCTION_PATH = ".semaphore/production.yml"
SECRET = "assay"
"""The Semaphore secret holding ASSAY_PACKAGE, ASSAY_USER, ASSAY_STORE_URL, the remote's
credentials and GITHUB_TOKEN."""

_CACHE_KEY = "assay-cache-$(checksum assay.lock)"


def _agent() -> dict[str, Any]:
    return {"machine": {"type": "e1-standard-2", "os_image": "ubuntu2004"}}


def _prologue(facts: ProjectFacts, plan: Plan) -> dict[str, Any]:
    return {
        "prologue": {"commands": [
            "checkout",
            f"sem-version python {facts.python}",
            f"cache restore {_CACHE_KEY},assay-cache-",
            *plan.install,
        ]},
        "secrets": [{"name": SECRET}],
    }


def _publish(plan: Plan) -> str:
    patterns = " ".join(plan.junit)
    return f'for f in {patterns}; do if [ -f "$f" ]; then test-results publish "$f"; fi; done'


def _store_cache(plan: Plan) -> str:
    return f"cache store {_CACHE_KEY} {plan.cache_dir}"


def render(facts: ProjectFacts, plan: Plan) -> dict[str, str]:
    """The pipeline files of ``facts``' project, by path."""
    blocks: list[dict[str, Any]] = []
    checks: list[str] = []
    for step in plan.checks:
        if step.name in ("lint", "unit tests"):
            blocks.append({"name": step.name, "dependencies": [],
                           "task": {"jobs": [{"name": step.name,
                                              "commands": list(step.commands)}]}})
        else:
            checks += list(step.commands)
    target = "$SEMAPHORE_GIT_BRANCH"  # in a PR build, the branch it merges into
    report = (f'if [ -n "$SEMAPHORE_GIT_PR_NUMBER" ]; then git fetch --quiet origin '
              f'"{target}:refs/remotes/origin/{target}" || true; {plan.pr_report[0]} && '
              f"assay ci comment --provider github --file {REPORT_FILE}; fi")
    blocks.append({"name": "assay checks", "dependencies": [], "task": {
        "jobs": [{"name": "contracts, doctor and the light run", "commands": checks}],
        "epilogue": {"always": {"commands": [_publish(plan), report, _store_cache(plan)]}},
    }})
    light = {
        "version": "v1.0",
        "name": f"assay checks: {facts.name}",
        "agent": _agent(),
        "auto_cancel": {"running": {"when": f"branch != '{facts.default_branch}'"}},
        "global_job_config": _prologue(facts, plan),
        "blocks": blocks,
        "after_pipeline": {"task": {"jobs": [
            {"name": "test results", "commands": ["test-results gen-pipeline-report"]}]}},
        "promotions": [{"name": "full run", "pipeline_file": "train.yml",
                        "auto_promote": {"when": f"branch = '{facts.default_branch}' AND "
                                                 "result = 'passed'"}}],
    }
    train_commands = [*plan.restore, *(c for step in plan.train for c in step.commands)]
    epilogue = [*plan.share, _publish(plan), _store_cache(plan)]
    train: dict[str, Any] = {
        "version": "v1.0",
        "name": f"assay full run: {facts.name}",
        "agent": _agent(),
        "queue": {"name": "assay-train", "scope": "project"},
        "global_job_config": _prologue(facts, plan),
        "blocks": [{"name": "full run", "task": {
            "jobs": [{"name": "assay run", "commands": train_commands}],
            "epilogue": {"always": {"commands": epilogue}},
        }}],
        "after_pipeline": {"task": {"jobs": [
            {"name": "test results", "commands": ["test-results gen-pipeline-report"]}]}},
    }
    files = {}
    if plan.promote:
        train["promotions"] = [{"name": f"promote to {PRODUCTION}",
                                "pipeline_file": "production.yml",
                                "deployment_target": PRODUCTION}]
        production = {
            "version": "v1.0",
            "name": f"assay promotion to {PRODUCTION}: {facts.name}",
            "agent": _agent(),
            "queue": {"name": f"assay-{PRODUCTION}", "scope": "project"},
            "global_job_config": {
                "prologue": {"commands": ["checkout", f"sem-version python {facts.python}",
                                          *plan.install]},
                "secrets": [{"name": SECRET}],
            },
            "blocks": [{"name": f"promote to {PRODUCTION}", "task": {
                "jobs": [{"name": "assay models promote", "commands": list(plan.promote)}]}}],
        }
        files[PRODUCTION_PATH] = production
    extra = (
        f"Secret '{SECRET}': ASSAY_PACKAGE, ASSAY_USER, ASSAY_STORE_URL (the team's store), "
        "GITHUB_TOKEN (to post the PR report) and the remote's credentials;",
        f"a deployment target '{PRODUCTION}' with approvers; a scheduled task may run "
        f"{TRAIN_PATH} for periodic training.",
    )
    command = "assay ci init semaphore"
    out = {PATH: header(facts, plan, command, extra) + dump(light),
           TRAIN_PATH: header(facts, plan, command) + dump(train)}
    for path, data in files.items():
        out[path] = header(facts, plan, command) + dump(data)
    return out
