"""The split every generated pipeline implements, as shell commands derived from the project:
light checks on every push and pull request, the full run on the main branch, on a schedule or
by hand, and promotion to production as an approved step. Each CI system wraps these same
commands in its own syntax (:mod:`assay.ci._github`, :mod:`assay.ci._gitlab`,
:mod:`assay.ci._semaphore`), so the three files say the same thing."""

from __future__ import annotations

from dataclasses import dataclass

from assay.ci._facts import CI_PROFILE, PRODUCTION, ProjectFacts
from assay.ci._remote import is_local

REPORT_FILE = "reports/ci-report.md"
"""Where the PR report is written before it is posted."""
UNIT_JUNIT = "reports/unit/junit.xml"
CONTRACT_JUNIT_DIR = "reports/contracts"
LOCK_FILE = "assay.lock"


@dataclass(frozen=True)
class Step:
    """One named step: shell commands run in order in the project root."""

    name: str
    commands: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """The commands of each phase, and why a phase or step is absent (said in the file)."""

    install: tuple[str, ...]
    restore: tuple[str, ...]
    checks: tuple[Step, ...]
    pr_report: tuple[str, ...]
    train: tuple[Step, ...]
    share: tuple[str, ...]
    promote: tuple[str, ...]
    notes: tuple[str, ...]
    junit: tuple[str, ...]
    """Glob patterns of JUnit files the phases write (for the CI's test view)."""
    cache_dir: str


def install_commands(facts: ProjectFacts) -> tuple[str, ...]:
    """Install assay (its pip requirement is the ``ASSAY_PACKAGE`` variable, with the ``ci``
    extra for posting comments), the project's requirements and the user's lint/test tools."""
    extras = [name for name, wanted in (("ruff", facts.has_ruff), ("pytest", facts.has_pytest))
              if wanted]
    line = 'python -m pip install "$ASSAY_PACKAGE"'
    if facts.requirements:
        line += f" -r {facts.requirements}"
    if extras:
        line += " " + " ".join(extras)
    return ("python -m pip install --upgrade pip", line)


def plan_for(facts: ProjectFacts) -> Plan:
    """The pipeline of ``facts``' project (see the module docstring)."""
    notes: list[str] = []
    restore: tuple[str, ...] = ()
    share: tuple[str, ...] = ()
    if facts.remote is not None:
        restore = ("assay data pull",)
        share = ("assay data push",)
        if is_local(facts.remote_url):
            notes.append(f"remote '{facts.remote}' is a local folder ({facts.remote_url}), "
                         "which a CI runner cannot reach: point it at a shared URL (s3://, "
                         "gs://, ...) for CI")
    else:
        notes.append("no remote in assay.yaml (remotes:/default_remote:): data and run cache are "
                     "not pulled or pushed; only the CI cache of "
                     f"{facts.cache_dir} is kept between runs")
    checks: list[Step] = []
    if facts.has_ruff:
        checks.append(Step("lint", ("ruff check .",)))
    else:
        notes.append("no ruff configuration (ruff.toml, [tool.ruff]): lint skipped")
    if facts.has_pytest:
        checks.append(Step("unit tests", (f"python -m pytest -q --junitxml={UNIT_JUNIT}",)))
    else:
        notes.append("no pytest configuration or tests/test_*.py: unit tests skipped")
    checks.append(Step("config check", ("assay config check",)))
    if restore:
        checks.append(Step("data pull", restore))
    for contract in facts.contracts:
        checks.append(Step(f"validate {contract}", (
            f"assay validate --contract {contract} "
            f"--junit {CONTRACT_JUNIT_DIR}/{contract}.xml",)))
    if not facts.contracts:
        notes.append("no contracts in assay.yaml: assay validate skipped")
    checks.append(Step("doctor", ("assay doctor",)))
    if facts.has_ci_profile:
        checks.append(Step("light run", (f"assay run --profile {CI_PROFILE}",)))
    else:
        notes.append(f"no '{CI_PROFILE}' profile in assay.yaml: `assay run --profile "
                     f"{CI_PROFILE}` skipped on pushes (add one: docs/ci.md)")
    train = [Step("full run", ("assay run",))]
    promote = tuple(f"assay models promote {ref} --to {PRODUCTION}" for ref in facts.promotions)
    if not promote:
        notes.append("no register stage in assay.yaml: no promotion to production")
    junit = [f"{CONTRACT_JUNIT_DIR}/*.xml", "reports/*/junit.xml"]
    if facts.has_pytest:
        junit.append(UNIT_JUNIT)
    return Plan(
        install=install_commands(facts),
        restore=restore,
        checks=tuple(checks),
        pr_report=(f"assay ci report --markdown {REPORT_FILE}",),
        train=tuple(train),
        share=share,
        promote=promote,
        notes=tuple(notes),
        junit=tuple(junit),
        cache_dir=facts.cache_dir,
    )


def header(facts: ProjectFacts, plan: Plan, command: str, extra: tuple[str, ...] = ()) -> str:
    """The comment atop a generated file: what made it, and what it leaves out and why."""
    name = " ".join(facts.name.split())
    lines = [
        f"# Generated by `{command}` for the assay project '{name}'.",
        "# Regenerate after changing assay.yaml: "
        f"{command} --force",
        "# Every push and pull request: light checks (lint, unit tests, contracts, the ci "
        "profile) and the PR report.",
        "# Main branch, schedule or by hand: the full `assay run` (gates, registration); then "
        "promotion to production, approved by a person.",
        "# Set ASSAY_PACKAGE to assay's pip requirement with the ci extra, e.g. "
        "assay[ci,s3] @ git+https://github.com/your-org/assay",
    ]
    lines += [f"# {line}" for line in extra]
    lines += [f"# Note: {' '.join(note.split())}." for note in plan.notes]
    return "\n".join(lines) + "\n"
