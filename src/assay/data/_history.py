"""Dataset history: versions recorded by ``assay data add`` and the differences between them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import DataError, ObjectError, UsageError
from assay.objects import DIR_SUFFIX

if TYPE_CHECKING:
    from assay.objects import LocalCache
    from assay.store import Store


@dataclass(frozen=True)
class DatasetVersion:
    """One recorded version of a dataset (numbered from 1 per name)."""

    version: int
    name: str
    path: str
    hash: str
    kind: str
    size: int
    nfiles: int
    rows: int | None
    schema: dict[str, str] | None
    profile: dict[str, dict[str, Any]] | None
    actor: str
    created_at: float
    git_commit: str | None
    message: str | None
    contract: dict[str, Any] | None = None  # the latest contract result, whatever the contract
    contracts: dict[str, dict[str, Any]] = field(default_factory=dict)  # latest per contract

    def as_dict(self, *, full: bool = False) -> dict[str, Any]:
        out = dict(self.__dict__)
        if not full:
            out.pop("profile")
        return out

    def contract_summary(self) -> str:
        """``contract churn: passed, inferred: FAILED`` (latest result per contract), or ``""``."""
        if not self.contracts:
            return ""
        return "contract " + ", ".join(
            f"{name}: {'passed' if result['passed'] else 'FAILED'}"
            for name, result in sorted(self.contracts.items()))


def versions(store: Store, name: str) -> list[DatasetVersion]:
    """Every version of dataset ``name``, oldest first, with its latest contract results.

    Raises:
        DataError: no dataset of that name was ever added.
    """
    from assay.store import statements as sql

    with store.read() as conn:
        found = conn.execute(sql.DATASET_VERSIONS, {"name": name}).fetchall()
        if not found:
            known = [str(row[0]) for row in conn.execute(sql.DATASET_NAMES)]
            from assay.config import suggest

            raise DataError(
                f"No dataset named '{name}' (known: {', '.join(known) or 'none'})"
                f"{suggest(name, known)}; add one with: assay data add PATH --name {name}",
                name=name,
            )
        latest: dict[str, dict[str, Any]] = {}
        per_contract: dict[str, dict[str, dict[str, Any]]] = {}
        hashes = list(dict.fromkeys(row[2] for row in found))
        results = [row for start in range(0, len(hashes), sql.MAX_IN)
                   for row in conn.execute(*sql.contract_results_for(
                       hashes[start : start + sql.MAX_IN]))]
    for data_hash, contract, passed, errors, warnings, created_at in sorted(
            results, key=lambda r: r[5]):  # oldest first (across chunks): the last one wins
        result = {"contract": contract, "passed": bool(passed), "errors": errors,
                  "warnings": warnings, "created_at": created_at}
        latest[data_hash] = result
        per_contract.setdefault(data_hash, {})[contract] = result
    return [
        DatasetVersion(
            version=i, name=row_name, path=path, hash=oid, kind=kind, size=int(size),
            nfiles=int(nfiles), rows=rows, schema=schema, profile=profile, actor=actor,
            created_at=float(created_at), git_commit=git_commit, message=message,
            contract=latest.get(oid), contracts=dict(per_contract.get(oid, {})),
        )
        for i, (row_name, path, oid, kind, size, nfiles, rows, schema, profile, actor,
                created_at, git_commit, message) in enumerate(found, start=1)
    ]


def committed_versions(root: Path, name: str) -> list[DatasetVersion]:
    """The versions of dataset ``name`` that its committed pointer file lists (its
    ``history``), oldest first: what ``name@vN`` names in every clone of the project, whatever
    the local store holds. Empty when no readable pointer of that name has a history."""
    from assay.data._fresh import find_pointers
    from assay.data._pointer import data_path, read_pointer
    from assay.errors import PointerError

    for pfile in find_pointers(root):
        try:
            pointer = read_pointer(pfile)
        except PointerError:
            continue
        if pointer.name != name or not pointer.history:
            continue
        rel = data_path(pfile).relative_to(root).as_posix()
        return [DatasetVersion(version=h.version, name=name, path=rel, hash=h.oid,
                               kind="dir" if h.oid.endswith(DIR_SUFFIX) else "file",
                               size=h.size, nfiles=h.nfiles, rows=h.rows, schema=None,
                               profile=None, actor="", created_at=0.0, git_commit=None,
                               message=None)
                for h in pointer.history]
    return []


@dataclass(frozen=True)
class DatasetDiff:
    """What changed between two versions of a dataset."""

    name: str
    a: DatasetVersion
    b: DatasetVersion
    files: dict[str, list[str]] = field(default_factory=dict)
    schema: dict[str, Any] = field(default_factory=dict)
    rows: dict[str, int | None] = field(default_factory=dict)
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def is_same(self) -> bool:
        return self.a.hash == self.b.hash

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "a": self.a.as_dict(), "b": self.b.as_dict(),
            "same": self.is_same, "files": self.files, "schema": self.schema,
            "rows": self.rows, "columns": self.columns,
        }


def pick(found: list[DatasetVersion], rev: str) -> DatasetVersion:
    """A version by number (``3``, ``v3``, ``-1`` for the latest) or hash prefix.

    Raises:
        UsageError: no version matches, or a hash prefix is ambiguous.
    """
    text = rev.strip().lower().removeprefix("v")
    if text.lstrip("-").isdigit():
        number = int(text)
        if number < 0 and -number <= len(found):
            return found[number]
        numbered = [v for v in found if v.version == number]
        if numbered:
            return numbered[0]
        raise UsageError(f"Dataset '{found[0].name}' has no version {rev} "
                         f"({found[0].version}..{found[-1].version})")
    matches = [v for v in found if v.hash.startswith(text)] if len(text) >= 4 else []
    if len(matches) == 1:
        return matches[0]
    what = "is ambiguous" if matches else "matches no version"
    raise UsageError(f"Revision {rev!r} of dataset '{found[0].name}' {what}; "
                     "use a version number from: assay data log " + found[0].name)


def diff(store: Store, cache: LocalCache, name: str, rev_a: str | None = None,
         rev_b: str | None = None) -> DatasetDiff:
    """Compare two versions (default: the previous and the latest).

    Directories: files added, removed and modified (needs both manifests in the cache).
    Tables: schema changes, row counts and per-column summary changes from stored profiles.
    """
    found = versions(store, name)
    b = pick(found, rev_b) if rev_b else found[-1]
    if rev_a:
        a = pick(found, rev_a)
    else:
        a = found[b.version - 2] if b.version >= 2 else b
    files: dict[str, list[str]] = {}
    if a.hash.endswith(DIR_SUFFIX) and b.hash.endswith(DIR_SUFFIX) and a.hash != b.hash:
        try:
            old = {e.path: e.oid for e in cache.manifest(a.hash)}
            new = {e.path: e.oid for e in cache.manifest(b.hash)}
        except ObjectError as exc:
            raise DataError(
                f"Cannot diff the files of '{name}': {exc}; run: assay data pull", name=name
            ) from exc
        files = {
            "added": sorted(set(new) - set(old)),
            "removed": sorted(set(old) - set(new)),
            "modified": sorted(p for p in set(old) & set(new) if old[p] != new[p]),
        }
    schema: dict[str, Any] = {}
    columns: dict[str, dict[str, Any]] = {}
    if a.schema is not None or b.schema is not None:
        sa, sb = a.schema or {}, b.schema or {}
        schema = {
            "added": {c: sb[c] for c in sb if c not in sa},
            "removed": {c: sa[c] for c in sa if c not in sb},
            "changed": {c: [sa[c], sb[c]] for c in sa if c in sb and sa[c] != sb[c]},
        }
        pa, pb = a.profile or {}, b.profile or {}
        for col in sorted(set(pa) & set(pb)):
            changes = {
                stat: [pa[col].get(stat), pb[col].get(stat)]
                for stat in sorted(set(pa[col]) | set(pb[col]))
                if pa[col].get(stat) != pb[col].get(stat)
            }
            if changes:
                columns[col] = changes
    rows: dict[str, int | None] = {}
    if a.rows is not None or b.rows is not None:
        delta = (b.rows - a.rows) if a.rows is not None and b.rows is not None else None
        rows = {"a": a.rows, "b": b.rows, "delta": delta}
    return DatasetDiff(name=name, a=a, b=b, files=files, schema=schema, rows=rows,
                       columns=columns)
