"""The dataset versions a training run depends on: its own data and, through the pipeline, the
versioned datasets upstream of it.

``kind: train`` usually reads a prepared file (``data/train.parquet``) that no one versions; the
versioned data (``data/churn.parquet`` with its pointer file) is a dep of the stage that wrote
it. So the lineage follows the pipeline backwards: for a file, find the stage that produced it,
take that stage's dep hashes, and repeat. Each step is content-addressed:

- ``assay.lock`` says which dep hashes produced which out hashes. A lock entry is used only
  when the out hash it recorded is the hash of the file read now (or, further up, the hash the
  previous step recorded), so a stale entry can never lend its deps to another file.
- When the lock has no such entry yet (the runner writes it a moment after a stage finishes),
  the pipeline definition names the producer and its deps are hashed as they are now; that is
  only done for files read now, never for recorded hashes of the past.

A dep is a dataset when it has a pointer file, is declared under ``datasets:``, or its hash is a
recorded dataset version; its version number is the one ``assay data log`` shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import AssayError
from assay.store import statements as sql

if TYPE_CHECKING:
    from assay.config import Project
    from assay.objects import StateDB
    from assay.pipeline import Dag, LockEntry
    from assay.store import Connection


@dataclass(frozen=True)
class DataInput:
    """A file a training run reads directly: its role (``train``/``validation``) and name."""

    role: str
    name: str
    path: str


class _Hashes:
    """Current content hashes through the project's stat cache (unchanged files: no rehash)."""

    def __init__(self, root: Path, state: StateDB) -> None:
        self.root = root
        self.state = state
        self.memo: dict[str, str | None] = {}

    def of(self, rel: str) -> str | None:
        import os

        from assay.objects import hash_tree

        if rel not in self.memo:
            path = self.root / rel
            self.memo[rel] = (
                hash_tree(path, state=self.state).oid if os.path.lexists(path) else None
            )
        return self.memo[rel]


def _under(rel: str, out: str) -> bool:
    return rel == out or rel.startswith(out.rstrip("/") + "/")


class _Producers:
    """Which stage wrote a file with a given hash, and the hashes of that stage's deps."""

    def __init__(self, project: Project, profile: str | None, hashes: _Hashes,
                 pipeline: dict[str, dict[str, list[str]]] | None) -> None:
        from assay.pipeline import read_lock

        self.project = project
        self.profile = profile
        self.hashes = hashes
        try:
            self.lock: dict[str, LockEntry] = read_lock(project.root, profile)
        except AssayError:
            self.lock = {}
        self._stages = pipeline
        self._planned = pipeline is not None

    def stages(self) -> dict[str, dict[str, list[str]]]:
        """Each stage's outs and deps: as the run handed them over, else planned here."""
        if not self._planned:
            from assay.pipeline import build_dag

            self._planned = True
            try:
                dag: Dag = build_dag(self.project, profile=self.profile, check_missing_deps=False)
                self._stages = dag.stage_table()
            except AssayError:  # lineage is best effort; training must not fail on it
                pass
        return self._stages or {}

    def of(self, rel: str, oid: str) -> tuple[str, dict[str, str | None]] | None:
        is_current = self.hashes.of(rel) == oid
        for name in sorted(self.lock):
            entry = self.lock[name]
            for out, recorded in entry.out_hashes.items():
                if out == rel and recorded == oid:
                    return name, dict(entry.deps)
                inside = out != rel and _under(rel, out)
                if inside and is_current and self.hashes.of(out) == recorded:
                    return name, dict(entry.deps)
        if not is_current:
            return None
        for name, stage in self.stages().items():
            if any(_under(rel, out) for out in stage["outs"]):
                return name, {dep: self.hashes.of(dep) for dep in stage["deps"]}
        return None


class _Datasets:
    """Names and version numbers of datasets, from pointer files, assay.yaml and the store."""

    def __init__(self, project: Project, conn: Connection | None) -> None:
        self.root = project.root
        self.declared = {str(ds.path): name for name, ds in project.config.datasets.items()}
        self.conn = conn

    def pointer_name(self, rel: str) -> str | None:
        from assay.data import pointer_path, read_pointer
        from assay.errors import DataError

        pointer = pointer_path(self.root / rel)
        if not pointer.is_file():
            return None
        try:
            return read_pointer(pointer).name
        except DataError:
            return None

    def version(self, oid: str, name: str | None) -> tuple[str, int] | None:
        """(name, version number) of a recorded dataset version with this hash."""
        if self.conn is None:
            return None
        rows = [(str(found), int(number)) for _, found, _, _, number in self.conn.execute(
            sql.DATASET_VERSIONS_OF_HASH, {"hash": oid})]
        if not rows:
            return None
        return next((r for r in rows if r[0] == name), rows[0])

    def describe(self, rel: str, oid: str, *, fallback_name: str | None) -> dict[str, Any] | None:
        """The dataset entry for ``rel`` at ``oid``; None if it is not a dataset."""
        name = self.pointer_name(rel) or self.declared.get(rel)
        found = self.version(oid, name)
        if found is not None:
            name = name or found[0]
        name = name or fallback_name
        if name is None:
            return None
        return {
            "name": name,
            "version": found[1] if found is not None and found[0] == name else None,
            "hash": oid,
            "oid": oid,
            "path": rel,
        }


def dataset_lineage(
    project: Project, inputs: list[DataInput], *, store_url: str, profile: str | None = None,
    pipeline: dict[str, dict[str, list[str]]] | None = None,
) -> list[dict[str, Any]]:
    """Every dataset version a training run depends on, directly or through upstream stages.

    Args:
        project: the loaded project.
        inputs: the files the run reads directly (always listed, versioned or not).
        store_url: where dataset versions are recorded.
        profile: the pipeline profile of the run (it decides the upstream stages).
        pipeline: each stage instance's outs and deps, as a running stage gets them
            (:attr:`assay.config.StageContext.pipeline`); None: planned from assay.yaml.

    Returns:
        ``[{name, version, hash, oid, path, role, stage}]``: ``role`` is ``train``,
        ``validation`` or ``upstream``; ``stage`` names the upstream stage that read it (None
        for direct inputs); ``version`` is None when the hash is not a recorded version;
        ``oid`` repeats ``hash`` for readers of older packages.
    """
    from assay.objects import StateDB
    from assay.store import open_store

    state = StateDB(project.state_dir / "state.db")
    hashes = _Hashes(project.root, state)
    try:
        store = open_store(store_url)
    except AssayError:
        store = None
    try:
        if store is not None:
            with store.read() as conn:
                return _walk(project, inputs, hashes, _Datasets(project, conn), profile, pipeline)
        return _walk(project, inputs, hashes, _Datasets(project, None), profile, pipeline)
    finally:
        state.close()
        if store is not None:
            store.close()


def _walk(
    project: Project,
    inputs: list[DataInput],
    hashes: _Hashes,
    datasets: _Datasets,
    profile: str | None,
    pipeline: dict[str, dict[str, list[str]]] | None,
) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    listed: set[tuple[str, str]] = set()
    queue: list[tuple[str, str]] = []
    for item in inputs:
        oid = hashes.of(item.path)
        if oid is None:
            continue
        entry = datasets.describe(item.path, oid, fallback_name=item.name)
        assert entry is not None  # a fallback name always gives an entry
        entries.append({**entry, "role": item.role, "stage": None})
        listed.add((item.path, oid))
        queue.append((item.path, oid))
    producers = _Producers(project, profile, hashes, pipeline)
    visited: set[tuple[str, str]] = set()
    while queue:
        rel, oid = queue.pop(0)
        if (rel, oid) in visited:
            continue
        visited.add((rel, oid))
        found = producers.of(rel, oid)
        if found is None:
            continue
        stage, deps = found
        for dep in sorted(deps):
            dep_oid = deps[dep]
            if dep_oid is None:
                continue
            queue.append((dep, dep_oid))
            if (dep, dep_oid) in listed:
                continue
            entry = datasets.describe(dep, dep_oid, fallback_name=None)
            if entry is not None:
                entries.append({**entry, "role": "upstream", "stage": stage})
                listed.add((dep, dep_oid))
    return entries
