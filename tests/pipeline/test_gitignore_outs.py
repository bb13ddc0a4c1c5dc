"""Stage outs are git-ignored when a stage first runs (as dvc does); init asks for git."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from assay._layout import ignored_path
from tests.conftest import TmpProject, invoke


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                          check=True).stdout


def test_init_outside_git_says_to_run_git_init(tmp_path: Path) -> None:
    result = invoke(["init", tmp_path / "plain"])
    assert result.code == 0, result.output
    assert result.stdout.splitlines()[-1].endswith("run: git init")
    (tmp_path / "repo").mkdir()
    _git(tmp_path / "repo", "init", "-q")
    inside = invoke(["init", tmp_path / "repo"])
    assert inside.code == 0 and "git init" not in inside.output


def test_outs_of_a_first_run_are_not_staged_by_git_add(tmp_path: Path) -> None:
    root = tmp_path / "project"
    root.mkdir()
    _git(root, "init", "-q")
    assert invoke(["init", root]).code == 0
    config = yaml.safe_load((root / "assay.yaml").read_text())
    config["stages"] = {
        "split": {"cmd": "mkdir -p data/splits && echo a > data/splits/train.csv && "
                         "echo b > data/splits/test.csv",
                  "outs": ["data/splits"]},
        "train": {"matrix": {"model": ["lr", "rf"]},
                  "cmd": "mkdir -p 'models/${matrix.model}[x]' && "
                         "echo m > 'models/${matrix.model}[x]/model.bin' && "
                         "echo '{\"auc\": 0.8}' > metrics/${matrix.model}.json",
                  "deps": ["data/splits"],
                  "outs": ["models/${matrix.model}[x]"],
                  "metrics": ["metrics/${matrix.model}.json"]},
        "report": {"cmd": "mkdir -p reports && cat metrics/*.json > reports/summary.txt",
                   "deps": ["metrics/lr.json", "metrics/rf.json"],
                   "outs": ["reports/summary.txt"]},
    }
    (root / "metrics").mkdir()
    (root / "assay.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    project = TmpProject(root)
    ran = project.run("run")
    assert ran.returncode == 0, ran.stderr
    lines = (root / ".gitignore").read_text().splitlines()
    for out in ("data/splits", "models/lr[x]", "models/rf[x]", "metrics/lr.json",
                "reports/summary.txt"):
        assert ignored_path(out) in lines
    _git(root, "add", "-A")
    staged = _git(root, "diff", "--cached", "--name-only").split()
    assert sorted(staged) == [".gitignore", "assay.lock", "assay.yaml"], staged
    again = project.run("run", "--force")  # a rerun adds nothing twice
    assert again.returncode == 0, again.stderr
    assert (root / ".gitignore").read_text().splitlines() == lines


def test_an_unanchored_entry_the_user_wrote_is_kept(tmp_project: TmpProject) -> None:
    tmp_project.config(stages={"a": {"cmd": "echo x > out.txt", "outs": ["out.txt"]}})
    (tmp_project.root / ".gitignore").write_text("# mine\nout.txt\n")
    assert tmp_project.run("run").returncode == 0
    assert (tmp_project.root / ".gitignore").read_text() == "# mine\nout.txt\n"


def test_an_out_inside_an_ignored_folder_adds_no_line(tmp_project: TmpProject) -> None:
    tmp_project.config(stages={"a": {"cmd": "mkdir -p models/a && echo x > models/a/m.bin",
                                     "outs": ["models/a"]}})
    (tmp_project.root / ".gitignore").write_text("/models/\n")
    assert tmp_project.run("run").returncode == 0
    assert (tmp_project.root / ".gitignore").read_text() == "/models/\n"
