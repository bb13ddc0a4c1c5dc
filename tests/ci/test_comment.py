"""``assay ci comment`` against a real HTTP server process on 127.0.0.1 (tests/ci/api_server.py)
that implements the GitHub and GitLab endpoints it uses: the first call creates the comment,
later calls update that same comment, and refusals exit with one line that names the fix and
never the token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TmpProject

SERVER = Path(__file__).parent / "api_server.py"
TOKEN = "tok-3f9a1c-secret"
_VARS = ("GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_EVENT_PATH", "GITHUB_API_URL",
         "GITHUB_BASE_REF", "GITLAB_TOKEN", "CI_JOB_TOKEN", "CI_API_V4_URL", "CI_PROJECT_ID",
         "CI_MERGE_REQUEST_IID", "GITLAB_CI", "SEMAPHORE_GIT_PR_NUMBER",
         "SEMAPHORE_GIT_REPO_SLUG")


class Api:
    def __init__(self, url: str) -> None:
        self.url = url

    def state(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/_state", timeout=10) as answer:
            data: dict[str, Any] = json.loads(answer.read())
        return data


@pytest.fixture(autouse=True)
def _no_ci_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _VARS:
        monkeypatch.delenv(name, raising=False)


def _start(*args: str) -> Iterator[Api]:
    process = subprocess.Popen([sys.executable, str(SERVER), "--token", TOKEN, *args],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield Api(f"http://127.0.0.1:{port}")
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def api() -> Iterator[Api]:
    yield from _start("--seed", "120")  # our comment lands on page 2 of 100


@pytest.fixture(params=[401, 404, 500], ids=["401", "404", "500"])
def failing(request: pytest.FixtureRequest) -> Iterator[tuple[Api, int]]:
    status = int(request.param)
    for api in _start("--fail", str(status)):
        yield api, status


@pytest.fixture
def project(tmp_project: TmpProject) -> TmpProject:
    tmp_project.gen({"reports/ci-report.md": "## first\n"})
    return tmp_project


def _github_env(api: Api, tmp: Path, token: str = TOKEN) -> dict[str, str]:
    event = tmp / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7}}))
    return {"GITHUB_TOKEN": token, "GITHUB_REPOSITORY": "acme/churn",
            "GITHUB_EVENT_PATH": str(event), "GITHUB_API_URL": api.url}


def _gitlab_env(api: Api, token: str = TOKEN) -> dict[str, str]:
    return {"GITLAB_TOKEN": token, "CI_API_V4_URL": f"{api.url}/api/v4", "CI_PROJECT_ID": "42",
            "CI_MERGE_REQUEST_IID": "5"}


def _ours(thread: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in thread if "<!-- assay-ci-report -->" in c["body"]]


def test_github_creates_then_updates_one_comment(api: Api, project: TmpProject,
                                                 tmp_path: Path) -> None:
    env = _github_env(api, tmp_path)
    first = project.invoke("ci", "comment", "--provider", "github", env=env)
    assert first.code == 0, first.output
    assert first.stdout.startswith("created comment ")
    thread = api.state()["threads"]["acme/churn/7"]
    assert len(thread) == 121
    (created,) = _ours(thread)
    assert created["body"] == "<!-- assay-ci-report -->\n## first\n"
    project.gen({"reports/ci-report.md": "<!-- assay-ci-report -->\n## second\n"})
    second = project.invoke("ci", "comment", "--provider", "github", env=env)
    assert second.code == 0, second.output
    assert second.stdout.startswith(f"updated comment {created['id']} on github #7")
    state = api.state()
    thread = state["threads"]["acme/churn/7"]
    assert len(thread) == 121
    assert _ours(thread) == [{**created, "body": "<!-- assay-ci-report -->\n## second\n"}]
    methods = [(r["method"], r["path"]) for r in state["requests"]]
    assert ("PATCH", f"/repos/acme/churn/issues/comments/{created['id']}") in methods
    assert [m for m, _ in methods].count("POST") == 1


def test_gitlab_creates_then_updates_one_note(api: Api, project: TmpProject) -> None:
    env = _gitlab_env(api)
    first = project.invoke("ci", "comment", "--provider", "gitlab", env=env)
    assert first.code == 0, first.output
    (created,) = _ours(api.state()["threads"]["42/5"])
    project.gen({"reports/ci-report.md": "## second\n"})
    second = project.invoke("ci", "comment", "--provider", "gitlab", env=env)
    assert second.code == 0, second.output
    assert second.stdout.startswith(f"updated comment {created['id']} on gitlab #5")
    state = api.state()
    ours = _ours(state["threads"]["42/5"])
    assert ours == [{**created, "body": "<!-- assay-ci-report -->\n## second\n"}]
    methods = [(r["method"], r["path"]) for r in state["requests"]]
    assert ("PUT", f"/api/v4/projects/42/merge_requests/5/notes/{created['id']}") in methods


def test_gitlab_is_picked_inside_gitlab_ci_with_the_job_token(api: Api,
                                                              project: TmpProject) -> None:
    env = {**_gitlab_env(api), "GITLAB_CI": "true", "CI_JOB_TOKEN": TOKEN}
    del env["GITLAB_TOKEN"]
    result = project.invoke("ci", "comment", env=env)
    assert result.code == 0, result.output
    assert len(_ours(api.state()["threads"]["42/5"])) == 1


@pytest.mark.parametrize("provider", ["github", "gitlab"])
def test_refusals_exit_1_with_one_line_and_no_token(failing: tuple[Api, int],
                                                    project: TmpProject, tmp_path: Path,
                                                    provider: str) -> None:
    api, status = failing
    env = _github_env(api, tmp_path) if provider == "github" else _gitlab_env(api)
    result = project.invoke("ci", "comment", "--provider", provider, env=env)
    assert result.code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert f"answered {status}" in lines[0]
    fix = {401: "GITHUB_TOKEN" if provider == "github" else "GITLAB_TOKEN",
           404: "GITHUB_REPOSITORY" if provider == "github" else "CI_PROJECT_ID",
           500: "retry"}[status]
    assert fix in lines[0]
    assert TOKEN not in result.output


def test_wrong_token_is_refused_by_the_server(api: Api, project: TmpProject,
                                              tmp_path: Path) -> None:
    result = project.invoke("ci", "comment", "--provider", "github",
                            env=_github_env(api, tmp_path, token="wrong-token-value"))
    assert result.code == 1
    assert "answered 401" in result.output and "wrong-token-value" not in result.output
    assert api.state()["threads"] == {}


def test_unreachable_api_exits_1(project: TmpProject, tmp_path: Path) -> None:
    env = _github_env(Api("http://127.0.0.1:9"), tmp_path)
    result = project.invoke("ci", "comment", "--provider", "github", env=env)
    assert result.code == 1
    assert "Cannot reach http://127.0.0.1:9/repos/acme/churn/issues/7/comments" in result.output
    assert TOKEN not in result.output


@pytest.mark.parametrize(("provider", "drop", "says"), [
    ("github", "GITHUB_TOKEN", "GITHUB_TOKEN is not set"),
    ("github", "GITHUB_REPOSITORY", "GITHUB_REPOSITORY"),
    ("github", "GITHUB_EVENT_PATH", "pass --pr N"),
    ("gitlab", "GITLAB_TOKEN", "GITLAB_TOKEN"),
    ("gitlab", "CI_API_V4_URL", "CI_API_V4_URL"),
    ("gitlab", "CI_MERGE_REQUEST_IID", "CI_MERGE_REQUEST_IID"),
], ids=["gh-token", "gh-repo", "gh-pr", "gl-token", "gl-api", "gl-mr"])
def test_missing_configuration_exits_2(api: Api, project: TmpProject, tmp_path: Path,
                                       provider: str, drop: str, says: str) -> None:
    env = _github_env(api, tmp_path) if provider == "github" else _gitlab_env(api)
    del env[drop]
    result = project.invoke("ci", "comment", "--provider", provider, env=env)
    assert result.code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and says in lines[0], lines
    assert api.state()["requests"] == []


def test_pr_option_overrides_the_event(api: Api, project: TmpProject, tmp_path: Path) -> None:
    env = _github_env(api, tmp_path)
    del env["GITHUB_EVENT_PATH"]
    result = project.invoke("ci", "comment", "--provider", "github", "--pr", "9", env=env)
    assert result.code == 0, result.output
    assert len(_ours(api.state()["threads"]["acme/churn/9"])) == 1


def test_missing_report_file_names_the_command(project: TmpProject) -> None:
    result = project.invoke("ci", "comment", "--file", "reports/nope.md")
    assert result.code == 2
    assert "assay ci report --markdown reports/nope.md" in result.output


def test_without_httpx_the_error_names_the_extra(project: TmpProject, tmp_path: Path) -> None:
    """An install without the ci extra: httpx cannot be imported (blocked in a subprocess)."""
    env = {**_github_env(Api("http://127.0.0.1:9"), tmp_path), "ASSAY_USER": "t@example.com"}
    code = ("import sys; sys.modules['httpx'] = None\n"
            "from assay.cli import run\n"
            "sys.exit(run(['ci', 'comment', '--provider', 'github']))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=project.root, capture_output=True,
                          text=True, env={**os.environ, **env}, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert "pip install 'assay[ci]'" in done.stderr
