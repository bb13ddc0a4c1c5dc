"""``assay ci comment``: post the PR report as ONE comment per pull or merge request, updated in
place on every push. The comment is found again by its hidden marker
(:data:`assay.ci._report.MARKER`): if an earlier one carries it, it is edited (GitHub: PATCH,
GitLab: PUT), else a new one is created (POST).

Everything comes from the CI's environment; the token is sent in a header and never printed.
httpx is needed (the ``ci`` extra: ``pip install 'assay[ci]'``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.ci._report import MARKER
from assay.errors import CIError, CommentRejected

if TYPE_CHECKING:
    import httpx

PROVIDERS = ("github", "gitlab")
GITHUB_API = "https://api.github.com"
_PER_PAGE = 100
_MAX_PAGES = 50
_TIMEOUT = 30.0


@dataclass(frozen=True)
class Target:
    """Where the comments of one pull or merge request live, and how to authenticate."""

    provider: str
    comments_url: str
    """The collection: GET lists, POST creates."""
    item_url: str
    """One comment, with ``{id}``: PATCH (GitHub) or PUT (GitLab) edits it."""
    update_method: str
    number: int
    token: str = field(repr=False)
    headers: dict[str, str] = field(repr=False, default_factory=dict)
    fix: str = ""
    """What to check when the API refuses the token."""


@dataclass(frozen=True)
class Posted:
    """What ``assay ci comment`` did: ``created`` or ``updated`` comment ``id``."""

    action: str
    id: int
    provider: str
    number: int
    url: str | None


def detect_provider() -> str:
    """GitLab inside GitLab CI, GitHub everywhere else (Actions, Semaphore on GitHub)."""
    return "gitlab" if os.environ.get("GITLAB_CI") or os.environ.get("CI_API_V4_URL") else "github"


def _env(name: str, *fallbacks: str) -> str | None:
    for key in (name, *fallbacks):
        value = os.environ.get(key)
        if value:
            return value
    return None


def _pr_from_event() -> int | None:
    path = os.environ.get("GITHUB_EVENT_PATH")
    if not path:
        return None
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for holder in (event.get("pull_request"), event.get("issue"), event):
        if isinstance(holder, dict) and isinstance(holder.get("number"), int):
            return int(holder["number"])
    return None


def github_target(pr: int | None = None) -> Target:
    """The GitHub pull request of this job: ``GITHUB_TOKEN``, ``GITHUB_REPOSITORY`` (or
    Semaphore's ``SEMAPHORE_GIT_REPO_SLUG``), the PR from ``--pr``, ``GITHUB_EVENT_PATH`` or
    ``SEMAPHORE_GIT_PR_NUMBER``, and ``GITHUB_API_URL`` (default https://api.github.com).

    Raises:
        CIError: one of them is missing.
    """
    token = _env("GITHUB_TOKEN")
    if token is None:
        raise CIError("GITHUB_TOKEN is not set; give the step env: GITHUB_TOKEN: "
                      "${{ secrets.GITHUB_TOKEN }} (and permissions: pull-requests: write)")
    repo = _env("GITHUB_REPOSITORY", "SEMAPHORE_GIT_REPO_SLUG")
    if repo is None or repo.count("/") != 1:
        raise CIError("GITHUB_REPOSITORY (owner/name) is not set; export it or run inside "
                      "GitHub Actions")
    number = pr or _pr_from_event()
    if number is None:
        pr_env = _env("SEMAPHORE_GIT_PR_NUMBER")
        number = int(pr_env) if pr_env and pr_env.isdigit() else None
    if number is None:
        raise CIError("No pull request number: this is not a pull_request event "
                      "(GITHUB_EVENT_PATH); pass --pr N")
    api = (_env("GITHUB_API_URL") or GITHUB_API).rstrip("/")
    base = f"{api}/repos/{repo}/issues"
    return Target(
        provider="github", comments_url=f"{base}/{number}/comments",
        item_url=f"{base}/comments/{{id}}", update_method="PATCH", number=number, token=token,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
                 "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "assay-ci"},
        fix="check GITHUB_TOKEN and give the job permissions: pull-requests: write",
    )


def gitlab_target(mr: int | None = None) -> Target:
    """The GitLab merge request of this job: ``GITLAB_TOKEN`` (a project access token, sent
    as PRIVATE-TOKEN) or else ``CI_JOB_TOKEN`` (JOB-TOKEN), ``CI_API_V4_URL``,
    ``CI_PROJECT_ID`` and the MR from ``--pr`` or ``CI_MERGE_REQUEST_IID``.

    Raises:
        CIError: one of them is missing.
    """
    private, job = _env("GITLAB_TOKEN"), _env("CI_JOB_TOKEN")
    if private is None and job is None:
        raise CIError("Neither GITLAB_TOKEN nor CI_JOB_TOKEN is set; add a project access "
                      "token with api scope as the masked CI/CD variable GITLAB_TOKEN")
    api = _env("CI_API_V4_URL")
    project = _env("CI_PROJECT_ID")
    if api is None or project is None:
        raise CIError("CI_API_V4_URL or CI_PROJECT_ID is not set; run inside GitLab CI or "
                      "export both")
    number = mr
    if number is None:
        iid = _env("CI_MERGE_REQUEST_IID")
        number = int(iid) if iid and iid.isdigit() else None
    if number is None:
        raise CIError("No merge request: CI_MERGE_REQUEST_IID is not set (run the job in a "
                      "merge request pipeline); pass --pr N")
    token = private or job or ""
    header = "PRIVATE-TOKEN" if private else "JOB-TOKEN"
    base = f"{api.rstrip('/')}/projects/{project}/merge_requests/{number}/notes"
    return Target(
        provider="gitlab", comments_url=base, item_url=f"{base}/{{id}}", update_method="PUT",
        number=number, token=token, headers={header: token, "User-Agent": "assay-ci"},
        fix="check GITLAB_TOKEN (a project access token with api scope)",
    )


def _refusal(target: Target, method: str, answer: httpx.Response) -> CommentRejected:
    status = answer.status_code
    name = "GitHub" if target.provider == "github" else "GitLab"
    where = f"{method} {answer.request.url.path}"
    if status in (401, 403):
        why = f"the token was refused; {target.fix}"
    elif status == 404:
        what = ("GITHUB_REPOSITORY and the PR number" if target.provider == "github"
                else "CI_PROJECT_ID and CI_MERGE_REQUEST_IID")
        why = f"not found; check {what}, and that the token can see the repository"
    elif status >= 500:
        why = "the server failed; retry the job later"
    else:
        why = "unexpected answer"
    try:
        said = answer.json().get("message")
    except (ValueError, AttributeError):
        said = None
    detail = f" ({str(said)[:120]})" if said else ""
    text = f"{name} answered {status} to {where}: {why}{detail}"
    return CommentRejected(text.replace(target.token, "***") if target.token else text,
                           status=status, provider=target.provider)


def _call(client: httpx.Client, target: Target, method: str, url: str,
          body: dict[str, Any] | None = None) -> Any:
    import httpx

    try:
        answer = client.request(method, url, json=body, headers=target.headers)
    except httpx.HTTPError as exc:
        text = f"Cannot reach {url.split('?')[0]}: {type(exc).__name__}; check the API URL"
        raise CommentRejected(text.replace(target.token, "***"), status=None,
                              provider=target.provider) from None
    if not 200 <= answer.status_code < 300:
        raise _refusal(target, method, answer)
    try:
        return answer.json()
    except ValueError:
        raise CommentRejected(f"{method} {answer.request.url.path} answered "
                              f"{answer.status_code} without JSON", status=answer.status_code,
                              provider=target.provider) from None


def find_existing(client: httpx.Client, target: Target) -> dict[str, Any] | None:
    """The earlier comment carrying :data:`MARKER`, if any (every page is read)."""
    for page in range(1, _MAX_PAGES + 1):
        found = _call(client, target, "GET",
                      f"{target.comments_url}?per_page={_PER_PAGE}&page={page}")
        if not isinstance(found, list):
            return None
        for item in found:
            if isinstance(item, dict) and MARKER in str(item.get("body", "")):
                return item
        if len(found) < _PER_PAGE:
            return None
    return None


def post_comment(body: str, target: Target) -> Posted:
    """Create or update the one report comment on ``target``'s PR or MR.

    Raises:
        CIError: httpx is not installed.
        CommentRejected: the API refused (401, 403, 404), failed (5xx) or did not answer.
    """
    try:
        import httpx
    except ImportError:
        raise CIError("assay ci comment needs httpx; install it: pip install 'assay[ci]'"
                      ) from None
    if MARKER not in body:
        body = f"{MARKER}\n{body}"
    with httpx.Client(timeout=_TIMEOUT, follow_redirects=False) as client:
        existing = find_existing(client, target)
        if existing is not None:
            url = target.item_url.format(id=existing["id"])
            done = _call(client, target, target.update_method, url, {"body": body})
            action = "updated"
        else:
            done = _call(client, target, "POST", target.comments_url, {"body": body})
            action = "created"
    link = done.get("html_url") if isinstance(done, dict) else None
    return Posted(action=action, id=int(done["id"]), provider=target.provider,
                  number=target.number, url=link)


def target_for(provider: str | None, pr: int | None = None) -> Target:
    """The target of ``provider`` (default: :func:`detect_provider`).

    Raises:
        CIError: an unknown provider, or its environment is incomplete.
    """
    chosen = provider or detect_provider()
    if chosen == "github":
        return github_target(pr)
    if chosen == "gitlab":
        return gitlab_target(pr)
    raise CIError(f"Unknown provider {chosen!r}; use --provider github or --provider gitlab",
                  provider=chosen)
