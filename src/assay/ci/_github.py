"""GitHub Actions: ``.github/workflows/assay.yml``.

Actions are pinned to full commit SHAs (the tag each SHA is stays beside it as a comment), the
workflow's token reads only, and each job asks for the one write it needs: ``checks: write``
to publish JUnit results, ``pull-requests: write`` to post the PR report. Promotion runs in
the ``production`` environment, whose required reviewers (repository settings) approve it.
"""

from __future__ import annotations

from typing import Any

from assay.ci._facts import PRODUCTION, ProjectFacts
from assay.ci._plan import REPORT_FILE, Plan, header
from assay.ci._remote import secret_names
from assay.ci._yaml import dump

PATH = ".github/workflows/assay.yml"

# (action, full commit SHA, the release tag that SHA is)
CHECKOUT = ("actions/checkout", "11bd71901bbe5b1630ceea73d27597364c9af683", "v4.2.2")
SETUP_PYTHON = ("actions/setup-python", "0b93645e9fea7318ecaed2b359559ac225c90a2b", "v5.3.0")
CACHE = ("actions/cache", "1bd1e32a3bdc45362d1e726936510720a7c30a57", "v4.2.0")
UPLOAD = ("actions/upload-artifact", "b4b15b8c7c6ac21ea08fcf65892d2ee8f75cf882", "v4.4.3")
JUNIT = ("mikepenz/action-junit-report", "v5.3.0", "v5.3.0")
ACTIONS = (CHECKOUT, SETUP_PYTHON, CACHE, UPLOAD, JUNIT)

_PUSH_OR_PR = "github.event_name == 'push' || github.event_name == 'pull_request'"
_TRAIN_WHEN = ("github.event_name == 'schedule' || github.event_name == 'workflow_dispatch' || "
               "(github.event_name == 'push' && "
               "github.ref_name == github.event.repository.default_branch)")
_SAME_REPO_PR = ("github.event_name == 'pull_request' && "
                 "github.event.pull_request.head.repo.full_name == github.repository")


def _uses(action: tuple[str, str, str]) -> str:
    return f"{action[0]}@{action[1]}"


def _setup(facts: ProjectFacts, plan: Plan, *, full_history: bool = False,
           cache: bool = True) -> list[dict[str, Any]]:
    checkout: dict[str, Any] = {"uses": _uses(CHECKOUT)}
    if full_history:  # the PR report compares with the base branch's pointers and lock
        checkout["with"] = {"fetch-depth": 0}
    python: dict[str, Any] = {"python-version": facts.python}
    if facts.requirements:
        python.update({"cache": "pip", "cache-dependency-path": facts.requirements})
    steps: list[dict[str, Any]] = [checkout, {"uses": _uses(SETUP_PYTHON), "with": python}]
    if cache:
        steps.append({
            "name": f"restore {plan.cache_dir} (keyed on assay.lock)",
            "uses": _uses(CACHE),
            "with": {
                "path": plan.cache_dir,
                "key": "assay-cache-${{ runner.os }}-${{ hashFiles('assay.lock') }}",
                "restore-keys": "assay-cache-${{ runner.os }}-",
            },
        })
    steps.append({"name": "install", "run": "\n".join(plan.install)})
    return steps


def _publish(plan: Plan, name: str) -> list[dict[str, Any]]:
    return [
        {"name": "publish JUnit results", "if": "always()", "uses": _uses(JUNIT),
         "with": {"report_paths": "\n".join(plan.junit), "check_name": name,
                  "require_tests": False}},
        {"name": "keep the reports", "if": "always()", "uses": _uses(UPLOAD),
         "with": {"name": f"{name.replace(' ', '-')}-reports", "path": "reports/",
                  "if-no-files-found": "ignore"}},
    ]


def _env(facts: ProjectFacts) -> dict[str, str]:
    """assay's requirement, the remote's credentials, and the team's shared store (runs, the
    registry with the champion to compare with, approvals) with the CI's identity."""
    env = {"ASSAY_PACKAGE": "${{ vars.ASSAY_PACKAGE }}"}
    for name in secret_names(facts.remote_url):
        env[name] = f"${{{{ secrets.{name} }}}}"
    env["ASSAY_STORE_URL"] = "${{ secrets.ASSAY_STORE_URL }}"
    env["ASSAY_USER"] = "${{ vars.ASSAY_USER }}"
    return env


def render(facts: ProjectFacts, plan: Plan) -> dict[str, str]:
    """The workflow file of ``facts``' project, by path."""
    checks = _setup(facts, plan, full_history=True)
    checks += [{"name": step.name, "run": "\n".join(step.commands)} for step in plan.checks]
    checks += [
        {"name": "PR report", "if": f"always() && {_SAME_REPO_PR}",
         "run": "\n".join(plan.pr_report)},
        {"name": "post the PR report", "if": f"always() && {_SAME_REPO_PR}",
         "env": {"GITHUB_TOKEN": "${{ secrets.GITHUB_TOKEN }}"},
         "run": f"assay ci comment --provider github --file {REPORT_FILE}"},
    ]
    checks += _publish(plan, "assay checks")
    train = _setup(facts, plan)
    if plan.restore:
        train.append({"name": "data and run cache", "run": "\n".join(plan.restore)})
    train += [{"name": step.name, "run": "\n".join(step.commands)} for step in plan.train]
    if plan.share:
        train.append({"name": "share the new outs", "if": "always()",
                      "run": "\n".join(plan.share)})
    for stage in facts.evaluate_stages:
        train.append({"name": f"summary of {stage}", "if": "always()",
                      "run": f'cat reports/{stage}/report.md >> "$GITHUB_STEP_SUMMARY" '
                             "|| true"})
    train += _publish(plan, "assay train")
    jobs: dict[str, Any] = {
        "checks": {
            "name": "light checks",
            "if": _PUSH_OR_PR,
            "runs-on": "ubuntu-latest",
            "timeout-minutes": 30,
            "permissions": {"contents": "read", "checks": "write", "pull-requests": "write"},
            "env": _env(facts),
            "steps": checks,
        },
        "train": {
            "name": "full run",
            "if": _TRAIN_WHEN,
            "runs-on": "ubuntu-latest",
            "concurrency": {"group": "assay-train", "cancel-in-progress": False},
            "permissions": {"contents": "read", "checks": "write"},
            "env": _env(facts),
            "steps": train,
        },
    }
    if plan.promote:
        promote = _setup(facts, plan, cache=False)
        promote.append({"name": "promote to production", "run": "\n".join(plan.promote)})
        jobs["promote"] = {
            "name": "promote to production",
            "needs": "train",
            "runs-on": "ubuntu-latest",
            "environment": PRODUCTION,
            "concurrency": {"group": "assay-promote", "cancel-in-progress": False},
            "permissions": {"contents": "read"},
            "env": _env(facts),
            "steps": promote,
        }
    workflow: dict[str, Any] = {
        "name": "assay",
        "on": {
            "push": None,
            "pull_request": None,
            "schedule": [{"cron": "0 3 * * 1"}],
            "workflow_dispatch": None,
        },
        "permissions": {"contents": "read"},
        "concurrency": {
            "group": "assay-${{ github.workflow }}-${{ github.event.pull_request.number || "
                     "github.sha }}",
            "cancel-in-progress": "${{ github.event_name == 'pull_request' }}",
        },
        "jobs": jobs,
    }
    text = dump(workflow).replace("push: null", "push:").replace(
        "pull_request: null", "pull_request:").replace(
        "workflow_dispatch: null", "workflow_dispatch:")
    for action, ref, tag in ACTIONS:
        if ref != tag:
            text = text.replace(f"uses: {action}@{ref}\n", f"uses: {action}@{ref}  # {tag}\n")
    extra = (
        "Repository settings: variables ASSAY_PACKAGE and ASSAY_USER, secret ASSAY_STORE_URL "
        "(the team's store) and the remote's credentials;",
        f"an environment '{PRODUCTION}' with required reviewers, so a person approves each "
        "promotion.",
    )
    return {PATH: header(facts, plan, "assay ci init github", extra) + text}
