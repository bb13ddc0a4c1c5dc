"""The reference data of distribution checks: a path, a dataset name, or a dataset *version*.

``reference:`` in a contract (or in ``assay.yaml`` / a ``kind: validate`` stage) may be

* a path (``data/reference.parquet``) or a dataset name (``churn``): the data there now;
* a recorded dataset version: ``churn@v1``, ``churn@3`` or ``churn@1a2b3c4d`` (a hash prefix of
  at least 4 characters), or ``{dataset: churn, version: 1}``. The version is looked up in the
  metadata store (``assay data log churn``) and read straight from the object cache, every
  object verified against its hash first. Versions are immutable, so a versioned reference
  never changes under a pipeline's cache key.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import TYPE_CHECKING

from assay.contracts._source import FORMATS, DataSource, dataset_path, format_of, source_for
from assay.errors import ContractError, DataError, UsageError

if TYPE_CHECKING:
    from assay.config import AssayConfig, Project
    from assay.contracts._model import DatasetRef
    from assay.objects import LocalCache

_VERSIONED = re.compile(
    r"^(?P<name>[A-Za-z0-9_][A-Za-z0-9_.-]*)@(?P<rev>[vV]?[1-9]\d*|[0-9a-fA-F]{4,64})$")


def reference_text(value: str | DatasetRef | None) -> str | None:
    """The one-string form of a reference: ``{dataset: churn, version: 1}`` -> ``churn@1``."""
    if value is None or isinstance(value, str):
        return value
    return value.dataset if value.version is None else f"{value.dataset}@{value.version}"


def versioned(text: str) -> tuple[str, str] | None:
    """``churn@v1`` -> ``("churn", "v1")``; None for a path or a plain dataset name."""
    match = _VERSIONED.match(text.strip())
    if match is None:
        return None
    return match.group("name"), match.group("rev")


def is_versioned(text: str) -> bool:
    return versioned(text) is not None


def open_reference(text: str, *, root: Path, config: AssayConfig, contract: str,
                   store_url: str | None = None) -> DataSource:
    """The reference named by ``text`` as a :class:`DataSource`.

    Raises:
        ContractError: the reference does not exist (no such file, dataset or version).
        ObjectNotFound: the version's objects are not in the local cache.
        CorruptObject: a cached object does not match its hash.
    """
    spec = versioned(text)
    if spec is None:
        path, _ = dataset_path(text, config)
        try:
            return source_for(path, root, what="reference data")
        except UsageError as exc:
            raise ContractError(
                f"Contract '{contract}': reference data {text!r} is missing ({exc.message}); "
                "create it, or remove reference: to skip drift checks",
                contract=contract, reference=text,
            ) from exc
    return _open_version(text, spec[0], spec[1], root=root, config=config, contract=contract,
                         store_url=store_url)


def _open_version(text: str, name: str, rev: str, *, root: Path, config: AssayConfig,
                  contract: str, store_url: str | None) -> DataSource:
    from assay.config import Project
    from assay.data import committed_versions, pick, versions
    from assay.store import open_store

    project = Project(root=root, config=config)
    version = None
    committed = committed_versions(root, name)  # the pointer's history: the same in every clone
    if committed:
        with contextlib.suppress(UsageError):
            version = pick(committed, rev)
    if version is None:
        store = open_store(store_url or project.store_url)
        try:
            version = pick(versions(store, name), rev)
        except (DataError, UsageError) as exc:
            raise ContractError(
                f"Contract '{contract}': reference {text!r} does not exist: {exc.message}",
                contract=contract, reference=text,
            ) from exc
        finally:
            store.close()
    return cached_source(
        project, version.hash, version.path,
        what=f"reference {text} ({version.path} v{version.version})",
        label=f"{text} ({version.path} v{version.version}, {version.hash[:12]})")


def cached_source(project: Project, oid: str, path: str, *, what: str,
                  label: str) -> DataSource:
    """The data stored at ``oid`` (a file, or a folder's manifest) in the project's object cache,
    as a :class:`DataSource` read straight from the cache; objects the cache lacks are pulled
    from the project's remote, and every object is verified against its hash first.

    Args:
        project: the project whose cache (and remote) hold the data.
        oid: the content hash of the data (a dataset version's, a lineage entry's).
        path: where the data lives in the workspace (its name gives the format).
        what: how messages name the data.
        label: how reports name it.

    Raises:
        ContractError: the folder holds no data files.
        ObjectNotFound: an object is neither in the cache nor on the remote.
        CorruptObject: a cached object does not match its hash.
    """
    from assay.objects import DIR_SUFFIX, LocalCache

    cache = LocalCache(project.cache_dir)
    _fetch_missing(project, cache, oid)
    oids = _verified_objects(cache, oid, what)
    if oid.endswith(DIR_SUFFIX):
        entries = [e for e in cache.manifest(oid) if Path(e.path).suffix.lower() in FORMATS]
        if not entries:
            raise ContractError(f"{what} holds no data files", location=path)
        fmt = format_of(entries[0].path)
        files = tuple(cache.path_of(e.oid) for e in entries if format_of(e.path) == fmt)
        location = f"{path.rstrip('/')}/{entries[0].path}"
    else:
        fmt = format_of(path)
        files = (cache.path_of(oids[0]),)
        location = path
    return DataSource(location, fmt, files=files, label=label)


def _fetch_missing(project: Project, cache: LocalCache, oid: str) -> None:
    """Download the version's objects the local cache lacks from the project's remote (a
    fresh clone has only the current data, if that); no remote configured: nothing to do,
    :func:`_verified_objects` then names the fix."""
    from assay.errors import ObjectError
    from assay.objects import remote_for

    try:
        if all(cache.exists(item) for item in cache.referenced(oid)):
            return
    except ObjectError:
        pass  # the object (or a manifest) is missing: fetch it
    try:
        remote = remote_for(project, None)
    except UsageError:
        return
    remote.pull(cache, [oid])


def _verified_objects(cache: LocalCache, oid: str, what: str) -> list[str]:
    """Every object of ``oid`` (a directory's entries too), each present and hash-verified."""
    from assay.errors import CorruptObject, ObjectNotFound

    fix_missing = ("check out the pointer file of that version (git) and run: assay data pull, "
                   "or choose a version that is in the cache (assay data log)")
    try:
        oids = cache.referenced(oid)
    except ObjectNotFound as exc:
        raise ObjectNotFound(f"{what}: object {oid} is not in the cache; {fix_missing}",
                             oid=oid) from exc
    except CorruptObject as exc:
        raise CorruptObject(f"{what}: cache object {oid} is corrupt; run: assay fsck, then "
                            "assay data pull", oid=oid) from exc
    for item in oids:
        if not cache.exists(item):
            raise ObjectNotFound(f"{what}: object {item} is not in the cache; {fix_missing}",
                                 oid=item)
        if not cache.verify(item):
            raise CorruptObject(f"{what}: cache object {item} is corrupt; run: assay fsck, then "
                                "assay data pull", oid=item)
    return oids
