"""``assay ci report``: a git repository with a base branch and a PR branch that changes the
data; the contract results come from a real ``assay validate``, the evaluations are written by
the evaluation package's own writer, and the base branch's evaluation is read from the cache
through the base branch's assay.lock."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TmpProject

CONTRACT = {
    "name": "sales",
    "columns": {
        "id": {"dtype": "int64", "nullable": False, "unique": True},
        "amount": {"dtype": "float64", "nullable": False, "min": 0, "max": 100},
        "note": {"dtype": "str"},
    },
}


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                          check=True)
    return done.stdout.strip()


def _csv(rows: list[tuple[int, float, str]]) -> str:
    return "id,amount,note\n" + "".join(f"{i},{a},{n}\n" for i, a, n in rows)


def _evaluation(auc: float, *, delta: float | None, candidate: str) -> dict[str, Any]:
    """An evaluation as the evaluate stage writes it (the fields to_markdown reads)."""
    comparison = ({"holdout": {"roc_auc": {"confidence": 0.95, "delta": delta,
                                           "low": delta - 0.01, "high": delta + 0.01}}}
                  if delta is not None else {})
    gate_ok = auc >= 0.7
    return {
        "stage": "evaluate", "passed": gate_ok,
        "selected": {"candidate": candidate} if gate_ok else None,
        "primary_metric": {"name": "roc_auc", "dataset": "holdout", "slice": "all"},
        "champion": {"ref": "sales@production"} if delta is not None else None,
        "baseline": None, "multiplicity": {"candidates": 1, "method": "holm"},
        "candidates": [{
            "candidate": candidate, "is_champion": False, "passed": gate_ok,
            "metrics": {"holdout": {"all": {"roc_auc": auc, "accuracy": auc - 0.1}}},
            "comparison": comparison,
            "gates": [{"gate": "roc_auc >= 0.7", "metric": "roc_auc", "dataset": "holdout",
                       "slice": "all", "value": auc, "op": ">=", "bound": 0.7,
                       "passed": gate_ok,
                       "detail": f"roc_auc = {auc:.4f} on holdout/all, needs >= 0.7"}],
        }],
    }


def _store_in_cache(project: TmpProject, evaluation: dict[str, Any]) -> str:
    """Put an evaluate stage's outs folder into the project's cache; return its object id."""
    from assay.objects import LocalCache, ManifestEntry

    cache = LocalCache(project.load().cache_dir)
    raw = json.dumps(evaluation).encode()
    oid = cache.add_bytes(raw)
    stored = cache.add_manifest([ManifestEntry(path="evaluation.json", oid=oid, size=len(raw))])
    return str(getattr(stored, "oid", stored))


@pytest.fixture
def repo(tmp_project: TmpProject) -> TmpProject:
    """main: sales v1 (valid) and a full run with roc_auc 0.80; branch pr: sales v2 (one
    more row, one bad amount) validated, and a light run with roc_auc 0.83."""
    from assay.evaluation import write_reports

    p = tmp_project
    config = {"project": "shop", "datasets": {"sales": "data/sales.csv"},
              "contracts": {"sales": {"path": "contracts/sales.yaml", "data": "sales"}},
              "stages": {"evaluate": {"kind": "evaluate", "candidates": ["train"],
                                      "datasets": {"holdout": "data/holdout.csv"},
                                      "target": "y"}}}
    p.gen({"assay.yaml": config, "contracts/sales.yaml": CONTRACT,
           "data/sales.csv": _csv([(1, 10.0, "a"), (2, 20.0, "b|c")]),
           ".gitignore": "/data/sales.csv\n/.assay/\n/reports/\n"})
    assert p.invoke("data", "add", "data/sales.csv").code == 0
    base_eval = _evaluation(0.80, delta=None, candidate="train[model=rf]")
    out = _store_in_cache(p, base_eval)
    p.gen({"assay.lock": json.dumps({"stages": {"evaluate": {
        "outs": {"reports/evaluate": out}}}})})
    _git(p.root, "init", "-q", "-b", "main")
    _git(p.root, "-c", "user.email=t@example.com", "-c", "user.name=t", "add", "-A")
    _git(p.root, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "base")
    _git(p.root, "checkout", "-qb", "pr")
    p.gen({"data/sales.csv": _csv([(1, 10.0, "a"), (2, 20.0, "b|c"), (3, 500.0, "*big*")])})
    assert p.invoke("data", "add", "data/sales.csv").code == 0
    _git(p.root, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qam", "v2")
    assert p.invoke("validate").code == 1  # amount 500 > max 100
    write_reports(_evaluation(0.83, delta=0.03, candidate="train[model=rf]"),
                  p.root / "reports" / "evaluate", plots=False)
    return p


def test_report_says_what_changed_against_the_base(repo: TmpProject) -> None:
    from assay.config import Project

    result = repo.invoke("ci", "report", "--base", "main", "--markdown",
                         "reports/ci-report.md")
    assert result.code == 0, result.output
    text = (repo.root / "reports" / "ci-report.md").read_text()
    project = Project.load(repo.root)
    assert text.splitlines()[0] == "<!-- assay-ci-report -->"
    assert "# assay report: `shop`" in text
    head = _git(repo.root, "rev-parse", "main")
    assert f"Base: `main` ({head[:10]})." in text
    # data: the pointer moved from v1 to v2, one more row
    data = text.split("## Data changes", 1)[1].split("## Data contracts", 1)[0]
    assert "| `sales` | `data/sales.csv` | v1 `" in data
    assert "| 2 → 3 (+1) |" in data
    # contracts: the stored result of the real validation, its failed check escaped
    contracts = text.split("## Data contracts", 1)[1]
    assert "| `sales` | `data/sales.csv` | ❌ failed | 1 | 0 |" in contracts
    assert "`columns.amount.max` (error)" in contracts
    assert project.config.contracts


def test_report_prints_to_stdout_without_markdown(repo: TmpProject) -> None:
    result = repo.invoke("ci", "report", "--base", "main")
    assert result.code == 0, result.output
    assert result.stdout.startswith("<!-- assay-ci-report -->\n")


def test_unknown_base_is_said_not_fatal(repo: TmpProject) -> None:
    result = repo.invoke("ci", "report", "--base", "origin/nope")
    assert result.code == 0, result.output
    assert "Base `origin/nope` not found in this clone: fetch it" in result.stdout


def test_no_change_against_itself(repo: TmpProject) -> None:
    result = repo.invoke("ci", "report", "--base", "HEAD")
    assert result.code == 0
    assert "No dataset changed against `HEAD`." in result.stdout


def test_report_compares_metrics_with_the_base_and_the_champion(repo: TmpProject) -> None:
    result = repo.invoke("ci", "report", "--base", "main")
    assert result.code == 0, result.output
    text = result.stdout
    # the evaluation package's own Markdown: the interval against the champion, the gates
    assert "| train[model=rf] | selected | 0.7300 | 0.8300 (+0.0300▲ [+0.0200, +0.0400]) |" in text
    assert "| train[model=rf] | roc_auc >= 0.7 | holdout/all | 0.8300 | >= 0.7000 | ✅ pass |" in text
    # against the base branch's full run, read from the cache through main's assay.lock
    assert "| `holdout` | `roc_auc` | 0.8000 | 0.8300 | +0.0300 ▲ |" in text
    # plots and reports as files
    assert "- `reports/evaluate/report.html`" in text


def test_base_evaluation_not_in_the_cache_says_pull(repo: TmpProject) -> None:
    import shutil

    shutil.rmtree(repo.load().cache_dir)
    result = repo.invoke("ci", "report", "--base", "main")
    assert result.code == 0, result.output
    assert ("No base metrics: the base run's outputs of evaluate are not in the cache; run: "
            "assay data pull.") in result.stdout.replace("\\", "")


def test_contract_without_stored_result_says_run_validate(tmp_project: TmpProject) -> None:
    tmp_project.gen({"contracts/sales.yaml": CONTRACT})
    tmp_project.config(datasets={"sales": "data/sales.csv"},
                       contracts={"sales": {"path": "contracts/sales.yaml", "data": "sales"}})
    result = tmp_project.invoke("ci", "report", "--base", "main")
    assert result.code == 0, result.output
    assert "- `sales`: no stored result; run: `assay validate`" in result.stdout


def test_contract_result_is_the_one_on_the_committed_data(repo: TmpProject) -> None:
    repo.gen({"data/other.csv": _csv([(1, 1.0, "fine")])})
    assert repo.invoke("validate", "data/other.csv", "--contract", "sales").code == 0
    text = repo.invoke("ci", "report", "--base", "main").stdout
    assert "| `sales` | `data/sales.csv` | ❌ failed | 1 | 0 |" in text
    assert "data/other.csv" not in text
    # once the committed data has no result, the latest one shows, marked as such
    repo.gen({"data/sales.csv": _csv([(9, 9.0, "new")])})
    assert repo.invoke("data", "add", "data/sales.csv").code == 0
    text = repo.invoke("ci", "report", "--base", "main").stdout
    assert "| `sales` | `data/other.csv` (not the committed data) | ✅ passed | 0 | 0 |" in text


def test_user_names_cannot_break_the_evaluation_tables() -> None:
    from assay.evaluation import to_markdown

    evaluation = _evaluation(0.8, delta=None, candidate="train[a|b]<script>")
    text = to_markdown(evaluation)
    row = next(line for line in text.splitlines() if line.startswith("| train"))
    assert row.startswith(r"| train[a\|b]\<script> | selected |")
    assert row.count("|") - row.count(r"\|") == 5  # candidate, verdict, accuracy, roc_auc
    assert "roc_auc >= 0.7" in text  # a comparison is not mistaken for a tag


@pytest.mark.parametrize(("env", "base"), [
    ({"GITHUB_BASE_REF": "release"}, "origin/release"),
    ({"CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "develop"}, "origin/develop"),
    ({"SEMAPHORE_GIT_PR_NUMBER": "4", "SEMAPHORE_GIT_BRANCH": "trunk"}, "origin/trunk"),
    ({}, "main"),
], ids=["github", "gitlab", "semaphore", "none"])
def test_default_base_is_the_pr_target(repo: TmpProject, monkeypatch: pytest.MonkeyPatch,
                                        env: dict[str, str], base: str) -> None:
    for name in ("GITHUB_BASE_REF", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME",
                 "SEMAPHORE_GIT_PR_NUMBER", "SEMAPHORE_GIT_BRANCH"):
        monkeypatch.delenv(name, raising=False)
    result = repo.invoke("ci", "report", env=env)
    assert result.code == 0, result.output
    assert f"Base: `{base}` (" in result.stdout
