"""``assay init``: write assay.yaml (or a bundled example), ``.assay/``, the ``.gitignore`` entries,
create the store and record the project's first event."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from assay._layout import CONFIG_FILE, STATE_DIR, ignore_in_git, in_git_work_tree
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
GITIGNORE_ENTRIES = [f"/{STATE_DIR}/"]


@dataclass(frozen=True)
class InitResult:
    """What :func:`init_project` created."""

    root: Path
    example: str | None
    in_git: bool  # False: the CLI says to run git init (assay.lock and pointers are committed)


def init_project(directory: Path, *, example: str | None = None) -> InitResult:
    """Create a project in ``directory``: assay.yaml (or the bundled ``example``), ``.assay/``
    with its cache and store, and the ``.gitignore`` entries; record ``project.init``.

    Raises:
        UsageError: ``directory`` is a project already, the example is unknown, or a file of
            the example exists there.
    """
    from assay import examples
    from assay._atomic import write_bytes_atomic
    from assay.config import Project
    from assay.store import open_store

    root = directory.resolve()
    if (root / CONFIG_FILE).exists():
        raise UsageError(f"{root / CONFIG_FILE} already exists; this folder is a project already")
    if example is not None:
        if example not in examples.available():
            raise UsageError(
                f"Unknown example {example!r}; available: {', '.join(examples.available())}"
            )
        files = examples.files(example)
        for rel in files:
            target = root / rel
            if target.exists() and rel != ".gitignore":
                raise UsageError(f"{target} already exists; choose an empty folder")
        for rel, content in files.items():
            if rel == ".gitignore":
                ignore_in_git(root, content.decode().splitlines())
            else:
                write_bytes_atomic(root / rel, content)
    else:
        root.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(root / CONFIG_FILE, DEFAULT_CONFIG.format(name=root.name).encode())
    ignore_in_git(root, GITIGNORE_ENTRIES)
    project = Project.load(root)
    project.state_dir.mkdir(parents=True, exist_ok=True)
    project.cache_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(project.store_url)
    try:
        store.record_event("project.init", project.config.project or root.name,
                           {"example": example})
    finally:
        store.close()
    return InitResult(root=root, example=example, in_git=in_git_work_tree(root))
