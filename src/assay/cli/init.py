"""``assay init``: scaffold a project, or write a bundled example."""

from __future__ import annotations

from pathlib import Path

import typer

from assay.cli import _context as ctx
from assay.errors import UsageError

DEFAULT_CONFIG = """\
# assay.yaml: the pipeline and everything around it. `assay config schema` prints the schema.
project: {name}
# store: postgresql+psycopg://user@host/db   # default: SQLite at .assay/assay.db
# remotes:
#   origin: s3://bucket/prefix                # any fsspec URL; a shared folder works too
# default_remote: origin
stages: {{}}
"""
GITIGNORE_ENTRIES = ["/.assay/"]


def _ensure_gitignore(root: Path, entries: list[str]) -> None:
    from assay._atomic import write_text_atomic

    path = root / ".gitignore"
    existing = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    missing = [e for e in entries if e not in existing]
    if missing:
        write_text_atomic(path, "\n".join([*existing, *missing]) + "\n")


def init(
    directory: Path = typer.Argument(Path("."), help="Where to create the project."),
    example: str | None = typer.Option(
        None, "--example", help="Write a bundled example project instead (e.g. churn)."
    ),
) -> None:
    """Create a project: assay.yaml, .assay/ (cache, store) and .gitignore entries.

    Examples:

      assay init                       # in the current folder

      assay init --example churn demo  # the bundled churn example in ./demo
    """
    from assay import examples
    from assay._atomic import write_bytes_atomic
    from assay.config import CONFIG_FILE, Project
    from assay.store import open_store

    root = directory.resolve()
    if (root / CONFIG_FILE).exists():
        raise UsageError(f"{root / CONFIG_FILE} already exists; this folder is a project already")
    if example is not None:
        if example not in examples.available():
            raise UsageError(
                f"Unknown example {example!r}; available: {', '.join(examples.available())}"
            )
        for rel in examples.files(example):
            target = root / rel
            if target.exists() and rel != ".gitignore":
                raise UsageError(f"{target} already exists; choose an empty folder")
        for rel, content in examples.files(example).items():
            if rel == ".gitignore":
                _ensure_gitignore(root, content.decode().splitlines())
            else:
                write_bytes_atomic(root / rel, content)
    else:
        root.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(root / CONFIG_FILE, DEFAULT_CONFIG.format(name=root.name).encode())
    _ensure_gitignore(root, GITIGNORE_ENTRIES)
    project = Project.load(root)
    project.state_dir.mkdir(parents=True, exist_ok=True)
    project.cache_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(project.store_url)
    store.record_event("project.init", project.config.project or root.name, {"example": example})
    store.close()
    what = f"example '{example}'" if example else "project"
    ctx.console().print(f"Initialised {what} in {root}")
    if example:
        ctx.console().print("Next: python generate.py && assay data add data/churn.parquet")


def register(app: typer.Typer) -> None:
    app.command("init")(init)
