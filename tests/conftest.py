"""Shared fixtures: small real projects, real stores (SQLite and PostgreSQL), the CLI in-process."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

POSTGRES_URL = os.environ.get("ASSAY_TEST_POSTGRES_URL", "")


@dataclass
class Result:
    """What a CLI invocation returned."""

    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def invoke(args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> Result:
    """Run the CLI in-process (fast), with the real exit-code mapping of ``assay.cli.run``."""
    from typer.testing import CliRunner

    from assay.cli import run

    runner = CliRunner()
    old_cwd = Path.cwd()
    old_env = {k: os.environ.get(k) for k in (env or {})}
    try:
        if cwd is not None:
            os.chdir(cwd)
        os.environ.update(env or {})
        with runner.isolation() as streams:
            code = run([str(a) for a in args])
            sys.stdout.flush()
            sys.stderr.flush()
            stdout = streams[0].getvalue().decode(errors="replace")
            stderr = streams[1].getvalue().decode(errors="replace")
    finally:
        os.chdir(old_cwd)
        for key, value in old_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return Result(code=code, stdout=stdout, stderr=stderr)


def run_assay(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``assay`` as a real process."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "assay", *[str(a) for a in args]],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class TmpProject:
    """A throwaway project folder: ``gen`` writes files, ``config`` rewrites assay.yaml."""

    def __init__(self, root: Path, store_url: str | None = None) -> None:
        self.root = root
        self.store_url = store_url
        self.env = {"ASSAY_USER": "tester@example.com"}
        if store_url:
            self.env["ASSAY_STORE_URL"] = store_url

    def gen(self, files: dict[str, Any]) -> TmpProject:
        for rel, content in files.items():
            path = self.root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            elif isinstance(content, (dict, list)):
                path.write_text(yaml.safe_dump(content, sort_keys=False))
            else:
                path.write_text(content)
        return self

    def config(self, **sections: Any) -> TmpProject:
        data = {"project": "test", **sections}
        return self.gen({"assay.yaml": data})

    def invoke(self, *args: Any, env: dict[str, str] | None = None) -> Result:
        return invoke([str(a) for a in args], cwd=self.root, env={**self.env, **(env or {})})

    def run(self, *args: Any, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return run_assay(list(args), cwd=self.root, env={**self.env, **(env or {})}, timeout=timeout)

    def load(self) -> Any:
        from assay.config import Project

        return Project.load(self.root)


@pytest.fixture(autouse=True)
def _isolated_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSAY_USER", "tester@example.com")
    monkeypatch.delenv("ASSAY_STORE_URL", raising=False)
    monkeypatch.delenv("ASSAY_PROJECT", raising=False)
    # The suite runs under CI too: a CI variable would turn every run's trigger into "ci".
    for var in ("CI", "GITHUB_ACTIONS", "GITLAB_CI", "SEMAPHORE", "JENKINS_URL", "BUILDKITE"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def tmp_project(tmp_path: Path) -> TmpProject:
    """An initialised project (assay.yaml + .assay/) on SQLite."""
    root = tmp_path / "project"
    root.mkdir()
    project = TmpProject(root)
    project.config()
    (root / ".assay").mkdir()
    return project


def _new_postgres_database() -> str:
    from sqlalchemy import create_engine, text

    name = f"assay_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    base, _, _ = POSTGRES_URL.rpartition("/")
    return f"{base}/{name}"


def _drop_postgres_database(url: str) -> None:
    from sqlalchemy import create_engine, text

    name = url.rpartition("/")[2]
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@contextlib.contextmanager
def store_connection(url: str) -> Iterator[Any]:
    """A SQLAlchemy connection to the store at ``url``, in one transaction committed at the
    end: for tests that look at or plant rows with :mod:`assay.store.tables`, whichever store
    implementation the code under test uses."""
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty metadata store URL on each backend (PostgreSQL when CI gives a URL)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store' / 'assay.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("no PostgreSQL: set ASSAY_TEST_POSTGRES_URL (CI always does)")
    url = _new_postgres_database()
    try:
        yield url
    finally:
        _drop_postgres_database(url)


@pytest.fixture
def project_on(store_url: str, tmp_path: Path) -> TmpProject:
    """A project whose store is ``store_url`` (runs once per backend)."""
    root = tmp_path / "project"
    root.mkdir()
    project = TmpProject(root, store_url=store_url)
    project.config()
    (root / ".assay").mkdir()
    return project
