"""What a CI configuration needs to know about a project, read from the loaded project and the
files beside assay.yaml: its contracts, whether it has a ``ci`` profile, which models it
registers and to which alias, its remote, its cache folder and the user's own lint and tests."""

from __future__ import annotations

import configparser
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.config import Project

CI_PROFILE = "ci"
PRODUCTION = "production"
_TEST_DIRS = ("tests", "test")


@dataclass(frozen=True)
class Registration:
    """A ``kind: register`` stage: the model it registers and the alias it moves."""

    stage: str
    model: str
    alias: str | None


@dataclass(frozen=True)
class ProjectFacts:
    """Everything the generated pipelines are derived from (nothing is a fixed blank)."""

    name: str
    contracts: tuple[str, ...]
    has_ci_profile: bool
    stages: tuple[str, ...]
    evaluate_stages: tuple[str, ...]
    registrations: tuple[Registration, ...]
    promotion_from: tuple[str, ...]
    """Aliases the ``production`` policy accepts a version from (empty: any)."""
    remote: str | None
    remote_url: str | None
    cache_dir: str
    has_lock: bool
    requirements: str | None
    has_ruff: bool
    has_pytest: bool
    python: str
    default_branch: str = "main"

    @property
    def promotions(self) -> tuple[str, ...]:
        """``MODEL@ALIAS`` refs to promote to production: each registered model from the alias
        its register stage moves (staging when the stage names none and the policy allows)."""
        refs: list[str] = []
        for reg in self.registrations:
            alias = reg.alias or (self.promotion_from[0] if self.promotion_from else "staging")
            if alias == PRODUCTION:
                continue
            ref = f"{reg.model}@{alias}"
            if ref not in refs:
                refs.append(ref)
        return tuple(refs)


def _pyproject(root: Path) -> dict[str, Any]:
    path = root / "pyproject.toml"
    if not path.is_file():
        return {}
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[import-not-found,no-redef]
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data


def _ini_has(path: Path, *sections: str) -> bool:
    if not path.is_file():
        return False
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        return False
    return any(parser.has_section(section) for section in sections)


def has_ruff_config(root: Path) -> bool:
    """The project configures ruff: ``ruff.toml``, ``.ruff.toml`` or ``[tool.ruff]``."""
    if (root / "ruff.toml").is_file() or (root / ".ruff.toml").is_file():
        return True
    return "ruff" in _pyproject(root).get("tool", {})


def has_pytest_config(root: Path) -> bool:
    """The project has unit tests pytest finds: a pytest configuration (``pytest.ini``,
    ``[tool.pytest.ini_options]``, ``[pytest]`` in tox.ini, ``[tool:pytest]`` in setup.cfg), a
    ``conftest.py``, or ``test_*.py`` files under ``tests/`` or ``test/``."""
    if (root / "pytest.ini").is_file() or (root / "conftest.py").is_file():
        return True
    if "pytest" in _pyproject(root).get("tool", {}):
        return True
    if _ini_has(root / "tox.ini", "pytest") or _ini_has(root / "setup.cfg", "tool:pytest"):
        return True
    for name in _TEST_DIRS:
        folder = root / name
        if folder.is_dir() and any(folder.rglob("test_*.py")):
            return True
    return False


def _python_version(root: Path) -> str:
    """``.python-version`` when the project pins one (pyenv, uv), else this interpreter's."""
    pinned = root / ".python-version"
    if pinned.is_file():
        text = pinned.read_text(encoding="utf-8").strip().splitlines()
        if text and text[0].replace(".", "").isdigit():
            return text[0]
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def default_branch(root: Path) -> str:
    """The branch the full run trains on: the remote's default branch when the clone knows it
    (``origin/HEAD``), else ``main``, or ``master`` when only that branch exists."""
    import subprocess

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(root), *args], capture_output=True,
                                  text=True, check=False, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    remote = git("symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD")
    if remote and "'" not in remote:
        return remote.removeprefix("origin/")
    has_main = git("rev-parse", "--verify", "--quiet", "refs/heads/main") is not None
    if not has_main and git("rev-parse", "--verify", "--quiet", "refs/heads/master"):
        return "master"
    return "main"


def facts_of(project: Project) -> ProjectFacts:
    """Read what the CI files need from ``project`` and the files beside its assay.yaml."""
    config = project.config
    root = project.root
    registrations = []
    evaluate_stages = []
    for name, stage in config.stages.items():
        extra = stage.model_extra or {}
        if stage.kind == "register" and isinstance(extra.get("model"), str):
            alias = extra.get("alias")
            registrations.append(Registration(stage=name, model=extra["model"],
                                              alias=alias if isinstance(alias, str) else None))
        elif stage.kind == "evaluate":
            evaluate_stages.append(name)
    policy = config.promotion.get(PRODUCTION)
    promotion_from = tuple(policy.from_aliases) if policy is not None else ()
    remote = config.default_remote or (next(iter(config.remotes)) if len(config.remotes) == 1
                                       else None)
    try:
        cache_dir = project.cache_dir.relative_to(root).as_posix()
    except ValueError:
        cache_dir = str(project.cache_dir)
    requirements = "requirements.txt" if (root / "requirements.txt").is_file() else None
    return ProjectFacts(
        name=config.project or root.name,
        contracts=tuple(config.contracts),
        has_ci_profile=CI_PROFILE in config.profiles,
        stages=tuple(config.stages),
        evaluate_stages=tuple(evaluate_stages),
        registrations=tuple(registrations),
        promotion_from=promotion_from,
        remote=remote,
        remote_url=config.remotes[remote].url if remote is not None else None,
        cache_dir=cache_dir,
        has_lock=(root / "assay.lock").is_file(),
        requirements=requirements,
        has_ruff=has_ruff_config(root),
        has_pytest=has_pytest_config(root),
        python=_python_version(root),
        default_branch=default_branch(root),
    )
