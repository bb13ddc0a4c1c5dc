"""``assay ci report``: one Markdown body for a pull-request comment.

It says what changed against the base branch and whether it is good enough: the datasets whose
committed pointers differ from the base branch's (with the store's diff of their schema and
rows when both versions are known), the latest stored result of each data contract, and each
evaluate stage's report (metrics, their intervals against the champion and the gate verdicts,
rendered by :func:`assay.evaluation.to_markdown`) with the selected candidate's metrics next to
the base branch's full run (its ``assay.lock`` names that run's evaluation in the cache).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.ci._markdown import code, escape
from assay.errors import AssayError

if TYPE_CHECKING:
    from assay.config import Project
    from assay.data import DatasetDiff, Pointer

MARKER = "<!-- assay-ci-report -->"
"""The hidden first line by which ``assay ci comment`` finds its own earlier comment."""
_BASE_ENV = ("GITHUB_BASE_REF", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME")


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Run git in ``root``; no git (or a hung one) answers as a failed command would."""
    command = ["git", "-C", str(root), *args]
    try:
        return subprocess.run(command, capture_output=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(command, 127, b"", str(exc).encode())


def default_base(root: Path) -> str:
    """The base branch: the PR's target in GitHub Actions, GitLab CI or Semaphore (whose
    ``SEMAPHORE_GIT_BRANCH`` is the target in a PR build), else ``origin/HEAD`` (the remote's
    default branch) when it exists, else ``main``."""
    for name in _BASE_ENV:
        value = os.environ.get(name)
        if value:
            return f"origin/{value}"
    if os.environ.get("SEMAPHORE_GIT_PR_NUMBER") and os.environ.get("SEMAPHORE_GIT_BRANCH"):
        return f"origin/{os.environ['SEMAPHORE_GIT_BRANCH']}"
    if _git(root, "rev-parse", "--verify", "--quiet", "origin/HEAD").returncode == 0:
        return "origin/HEAD"
    return "main"


def _commit_of(root: Path, ref: str) -> str | None:
    done = _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    return done.stdout.decode().strip() or None if done.returncode == 0 else None


def _show(root: Path, ref: str, rel: str) -> bytes | None:
    """``rel`` (relative to ``root``) as committed at ``ref``, or None when it is not there."""
    done = _git(root, "show", f"{ref}:./{rel}")
    return done.stdout if done.returncode == 0 else None


@dataclass(frozen=True)
class DataChange:
    """One dataset whose pointer differs between the base branch and this checkout."""

    name: str
    path: str
    base: Pointer | None
    head: Pointer | None
    diff: DatasetDiff | None = None


@dataclass
class Report:
    """The parts of the comment, for tests and ``--json`` readers alike."""

    project: str
    base: str
    base_commit: str | None
    data: list[DataChange] = field(default_factory=list)
    contracts: list[dict[str, Any]] = field(default_factory=list)
    missing_contracts: list[str] = field(default_factory=list)
    evaluations: list[tuple[str, dict[str, Any], dict[str, Any] | None, str | None]] = (
        field(default_factory=list))
    """(stage, this branch's evaluation, the base branch's or None, why it is None)."""
    missing_evaluations: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def _pointer_at(root: Path, ref: str, rel: str) -> Pointer | None:
    from assay.data import read_pointer

    raw = _show(root, ref, rel)
    if raw is None:
        return None
    with tempfile.TemporaryDirectory(prefix="assay-ci-") as tmp:
        path = Path(tmp) / Path(rel).name
        path.write_bytes(raw)
        return read_pointer(path, shown=f"{ref}:{rel}")


def _data_changes(project: Project, base: str) -> list[DataChange]:
    from assay._layout import POINTER_SUFFIX
    from assay.data import diff, read_pointer
    from assay.objects import LocalCache
    from assay.store import open_store

    changes: list[DataChange] = []
    root = project.root
    for name, dataset in project.config.datasets.items():
        rel = dataset.path + POINTER_SUFFIX
        head = read_pointer(root / rel, shown=rel) if (root / rel).is_file() else None
        before = _pointer_at(root, base, rel)
        if (head.oid if head else None) == (before.oid if before else None):
            continue
        detail = None
        if head is not None and before is not None:
            try:
                store = open_store(project.store_url)
                try:
                    detail = diff(store, LocalCache(project.cache_dir), name, before.oid,
                                  head.oid)
                finally:
                    store.close()
            except AssayError:
                detail = None  # a version this store never recorded: the pointers say enough
        changes.append(DataChange(name=name, path=dataset.path, base=before, head=head,
                                  diff=detail))
    return changes


def _committed_oid(project: Project, contract: str) -> str | None:
    """The object id the committed pointer gives the data ``contract`` validates, if any."""
    from assay._layout import POINTER_SUFFIX
    from assay.data import read_pointer

    ref = project.config.contracts[contract]
    data = ref.data or contract
    path = project.config.datasets[data].path if data in project.config.datasets else data
    pointer = project.root / (path + POINTER_SUFFIX)
    if not pointer.is_file():
        return None
    try:
        return read_pointer(pointer).oid
    except AssayError:
        return None


def _contract_results(project: Project) -> tuple[list[dict[str, Any]], list[str]]:
    """Per contract, the latest stored result on the committed data (its pointer's object id);
    else the latest on any data, marked ``current: False``."""
    from assay.contracts import contract_results_for

    found, missing = [], []
    for name in project.config.contracts:
        oid = _committed_oid(project, name)
        rows = (contract_results_for(project.store_url, contract=name, data_hash=oid, limit=1)
                if oid is not None else [])
        current = bool(rows)
        rows = rows or contract_results_for(project.store_url, contract=name, limit=1)
        if rows:
            found.append({**rows[0], "current": current or oid is None})
        else:
            missing.append(name)
    return found, missing


def _evaluation_stages(project: Project) -> list[str]:
    return [name for name, stage in project.config.stages.items() if stage.kind == "evaluate"]


def _base_evaluation(project: Project, base: str, stage: str
                     ) -> tuple[dict[str, Any] | None, str | None]:
    """The evaluation the base branch's ``assay.lock`` records for ``stage``, read from the
    cache (``assay data pull`` brings the run cache), or why there is none."""
    from assay.objects import LocalCache

    raw = _show(project.root, base, "assay.lock")
    if raw is None:
        return None, f"no assay.lock at {base}"
    try:
        outs = json.loads(raw).get("stages", {}).get(stage, {}).get("outs", {})
    except (ValueError, AttributeError):
        return None, f"assay.lock at {base} is not valid JSON"
    if not outs:
        return None, f"assay.lock at {base} has no run of {stage}"
    cache = LocalCache(project.cache_dir)
    for oid in outs.values():
        if not isinstance(oid, str) or not oid.endswith(".dir"):
            continue
        try:
            entries = cache.manifest(oid)
            found = next((e for e in entries if e.path.endswith("evaluation.json")), None)
            if found is not None:
                data: dict[str, Any] = json.loads(cache.read_bytes(found.oid))
                return data, None
        except (AssayError, ValueError):
            return None, (f"the base run's outputs of {stage} are not in the cache; "
                          "run: assay data pull")
    return None, f"the base run of {stage} recorded no evaluation.json"


def build_report(project: Project, *, base: str | None = None) -> Report:
    """Gather what the comment says about ``project`` against ``base`` (default:
    :func:`default_base`)."""
    from assay.evaluation import read_evaluation

    root = project.root
    ref = base or default_base(root)
    report = Report(project=project.config.project or root.name, base=ref,
                    base_commit=_commit_of(root, ref))
    if report.base_commit is not None:
        report.data = _data_changes(project, ref)
    report.contracts, report.missing_contracts = _contract_results(project)
    for stage in _evaluation_stages(project):
        folder = root / "reports" / stage
        path = folder / "evaluation.json"
        if not path.is_file():
            report.missing_evaluations.append(stage)
            continue
        current, _ = read_evaluation(path)
        if report.base_commit is not None:
            before, why = _base_evaluation(project, ref, stage)
        else:
            before, why = None, f"base {ref} not found"
        report.evaluations.append((stage, current, before, why))
        report.files += [p.relative_to(root).as_posix() for p in sorted(folder.iterdir())
                         if p.is_file() and p.suffix in (".html", ".png", ".svg", ".xml")]
    return report


def _size(value: int | None) -> str:
    if value is None:
        return "?"
    size = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{value} B"  # pragma: no cover


def _count(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _rows_of(pointer: Pointer | None) -> int | None:
    if pointer is None:
        return None
    for entry in reversed(pointer.history):
        if entry.oid == pointer.oid:
            return entry.rows
    return None


def _version(pointer: Pointer | None) -> str:
    if pointer is None:
        return "absent"
    number = f"v{pointer.version} " if pointer.version is not None else ""
    return f"{number}{code(pointer.oid[:12])}"


def _data_lines(report: Report) -> list[str]:
    lines = ["## Data changes", ""]
    if report.base_commit is None:
        return [*lines, f"Base {code(report.base)} not found in this clone: fetch it "
                        "(actions/checkout with fetch-depth: 0, GIT_DEPTH: 0).", ""]
    if not report.data:
        return [*lines, f"No dataset changed against {code(report.base)}.", ""]
    lines += ["| dataset | path | base | this branch | rows | size |",
              "|---|---|---|---|---|---|"]
    details: list[str] = []
    for change in report.data:
        a, b = _rows_of(change.base), _rows_of(change.head)
        rows = "?"
        if a is not None or b is not None:
            rows = f"{_count(a)} → {_count(b)}"
            if a is not None and b is not None:
                rows += f" ({b - a:+,})"
        size = (f"{_size(change.base.size if change.base else None)} → "
                f"{_size(change.head.size if change.head else None)}")
        lines.append(f"| {code(change.name)} | {code(change.path)} | {_version(change.base)} | "
                     f"{_version(change.head)} | {rows} | {size} |")
        if change.diff is not None:
            for kind, cols in change.diff.schema.items():
                for col, dtype in cols.items():
                    shown = " → ".join(map(str, dtype)) if isinstance(dtype, list) else dtype
                    details.append(f"- {code(change.name)}: column {kind} {code(col)} "
                                   f"({escape(shown)})")
            for kind, paths in change.diff.files.items():
                details += [f"- {code(change.name)}: file {kind} {code(p)}" for p in paths]
    return [*lines, "", *details, *([""] if details else [])]


def _contract_lines(report: Report) -> list[str]:
    lines = ["## Data contracts", ""]
    if not report.contracts and not report.missing_contracts:
        return [*lines, "No contracts in assay.yaml.", ""]
    if report.contracts:
        lines += ["| contract | data | result | errors | warnings | checked |",
                  "|---|---|---|---|---|---|"]
    failures: list[str] = []
    for row in report.contracts:
        body = row.get("report") or {}
        verdict = "✅ passed" if row["passed"] else "❌ failed"
        when = datetime.fromtimestamp(float(row["created_at"]), tz=timezone.utc)
        data = code(body.get("data", "?"))
        if not row.get("current", True):
            data += " (not the committed data)"
        lines.append(f"| {code(row['contract'])} | {data} | {verdict} | "
                     f"{row['errors']} | {row['warnings']} | {when:%Y-%m-%d %H:%M} UTC |")
        for check in body.get("checks", []):
            if check.get("status") == "fail":
                level = "error" if check.get("severity") == "error" else "warning"
                failures.append(f"- {code(row['contract'])} {code(check.get('id', '?'))} "
                                f"({level}): {escape(check.get('message', ''))}")
    lines += [""] if report.contracts else []
    for name in report.missing_contracts:
        lines.append(f"- {code(name)}: no stored result; run: `assay validate`")
    if report.missing_contracts:
        lines.append("")
    if failures:
        lines += ["Failed checks:", "", *failures, ""]
    return lines


def _selected(evaluation: dict[str, Any]) -> dict[str, Any] | None:
    chosen = (evaluation.get("selected") or {}).get("candidate")
    return next((c for c in evaluation.get("candidates", []) if c.get("candidate") == chosen),
                None)


def _compared_metrics(evaluation: dict[str, Any]) -> list[str]:
    """The primary metric, then every metric a gate of the selected candidate checks."""
    metrics = [evaluation.get("primary_metric", {}).get("name")]
    cand = _selected(evaluation) or {}
    metrics += [g.get("metric") for g in cand.get("gates", [])]
    return [m for i, m in enumerate(metrics) if isinstance(m, str) and m not in metrics[:i]]


def _base_lines(report: Report, stage: str, current: dict[str, Any],
                before: dict[str, Any] | None, why: str | None) -> list[str]:
    from assay.metrics import is_higher_better

    lines = [f"### {code(stage)} against the base branch", ""]
    now, then = _selected(current), _selected(before) if before is not None else None
    if before is None or then is None:
        reason = why or "the base run selected no candidate"
        return [*lines, f"No base metrics: {escape(reason)}.", ""]
    if now is None:
        return [*lines, "This branch selected no candidate: nothing to compare.", ""]
    lines += [f"Selected here: {code(now['candidate'])}; at {code(report.base)}: "
              f"{code(then['candidate'])} (its full run, from assay.lock). Intervals are "
              "against the champion, above.", "",
              "| dataset | metric | base | this branch | change |", "|---|---|---|---|---|"]
    for dataset in now.get("metrics", {}):
        ours = now["metrics"][dataset].get("all", {})
        theirs = then.get("metrics", {}).get(dataset, {}).get("all", {})
        for metric in _compared_metrics(current):
            a, b = theirs.get(metric), ours.get(metric)
            if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
                continue
            delta = b - a
            better = (delta > 0) == is_higher_better(metric)
            arrow = "" if delta == 0 else (" ▲" if better else " ▼")
            lines.append(f"| {code(dataset)} | {code(metric)} | {a:.4f} | {b:.4f} | "
                         f"{delta:+.4f}{arrow} |")
    return [*lines, ""]


def to_markdown(report: Report) -> str:
    """The comment body: the hidden marker first, then data, contracts and evaluations."""
    from assay.evaluation import to_markdown as evaluation_markdown

    short = report.base_commit[:10] if report.base_commit else "not found"
    lines = [MARKER, f"# assay report: {code(report.project)}", "",
             f"Base: {code(report.base)} ({short}).", ""]
    lines += _data_lines(report)
    lines += _contract_lines(report)
    for stage, current, before, why in report.evaluations:
        lines += [evaluation_markdown(current).rstrip("\n"), ""]
        lines += _base_lines(report, stage, current, before, why)
    for stage in report.missing_evaluations:
        lines += [f"## Evaluation {code(stage)}", "",
                  f"No reports/{escape(stage)}/evaluation.json: the stage has not run here "
                  "(`assay run --profile ci` runs it).", ""]
    if report.files:
        lines += ["## Files", "", "Plots and reports, kept as the job's artifacts:", ""]
        lines += [f"- {code(path)}" for path in report.files]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def write_report(project: Project, *, base: str | None = None,
                 markdown: Path | None = None) -> str:
    """Build the comment body; write it atomically to ``markdown`` when given."""
    from assay._atomic import write_text_atomic

    text = to_markdown(build_report(project, base=base))
    if markdown is not None:
        write_text_atomic(markdown, text)
    return text
