"""A monitor's reference: which data it is (by content hash), and its profile, computed once.

The reference is named by a hash before any of it is read: a dataset version (``churn@v3``), a
dataset's newest version (``churn``), or by default the training data recorded in the lineage
of the model version the deployment serves. Its profile (:func:`assay.contracts.profile_frame`:
quantile bins of every numeric column, every category's count) is stored as a JSON file keyed
by that hash and the profile's options under ``.assay/monitoring/profiles/``, written
atomically; every later window reads that file and never the reference again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import MonitoringError

if TYPE_CHECKING:
    from assay.config import DeploymentConfig, Project
    from assay.contracts import ReferenceProfile
    from assay.store import Store

#: Quantile bins of a numeric reference column.
BINS = 20
#: Bumped when the stored profile's layout changes (older files are then recomputed).
PROFILE_FORMAT = 1


@dataclass(frozen=True)
class Reference:
    """The data a monitor compares with: its content hash, where it lives, how it is shown."""

    oid: str
    path: str
    label: str
    model_version: int | None = None
    """The model version whose training data this is (default references only)."""
    dataset_version: int | None = None
    """The dataset's version number, for a named dataset version."""


def resolve_reference(project: Project, store: Store, *, monitor: str, text: str | None,
                      deployment: DeploymentConfig) -> Reference:
    """The reference named by ``text`` (a dataset name or ``NAME@VERSION``), or by default the
    training data of the version the deployment's alias points to (its registry lineage).

    Raises:
        MonitoringError: no such dataset or version, or no training data in the lineage.
    """
    if text is not None:
        return _named(project, store, monitor, text)
    return _training_data(store, monitor, deployment)


def dataset_version(project: Project, store: Store, *, monitor: str, text: str) -> Reference:
    """The dataset version ``text`` names (``NAME@VERSION``, or ``NAME``: its newest).

    Raises:
        MonitoringError: no such dataset or version.
    """
    return _named(project, store, monitor, text)


def _named(project: Project, store: Store, monitor: str, text: str) -> Reference:
    from assay.contracts import versioned
    from assay.data import committed_versions, pick, versions
    from assay.errors import DataError, UsageError

    spec = versioned(text)
    name, rev = spec if spec is not None else (text, "-1")
    version = None
    committed = committed_versions(project.root, name)
    if committed:
        try:
            version = pick(committed, rev)
        except UsageError:
            version = None
    if version is None:
        try:
            version = pick(versions(store, name), rev)
        except (DataError, UsageError) as exc:
            raise MonitoringError(
                f"monitor '{monitor}': reference {text!r} is not a recorded dataset version "
                f"({exc.message}); record it with: assay data add PATH", monitor=monitor,
                reference=text) from exc
    return Reference(version.hash, version.path,
                     f"{name}@v{version.version} ({version.path}, {version.hash[:12]})",
                     dataset_version=version.version)


def _training_data(store: Store, monitor: str, deployment: DeploymentConfig) -> Reference:
    from assay.errors import RegistryError
    from assay.registry import get_version

    try:
        mv = get_version(store, deployment.model)
    except RegistryError as exc:
        raise MonitoringError(
            f"monitor '{monitor}': {deployment.model} serves no version yet ({exc.message}); "
            "set reference: NAME@VERSION in its monitoring: entry", monitor=monitor) from exc
    entries = [d for d in mv.lineage.get("datasets") or []
               if isinstance(d, dict) and (d.get("hash") or d.get("oid"))]
    train = [d for d in entries if d.get("role") == "train"] or entries
    if not train:
        raise MonitoringError(
            f"monitor '{monitor}': the lineage of {mv.name}:{mv.version} names no training data; "
            "set reference: NAME@VERSION in its monitoring: entry", monitor=monitor)
    entry = train[0]
    oid = str(entry.get("hash") or entry.get("oid"))
    path = str(entry.get("path") or entry.get("name") or oid)
    name = str(entry.get("name") or path)
    shown = f"{name} v{entry['version']}" if entry.get("version") is not None else name
    return Reference(oid, path, f"{shown} ({path}, {oid[:12]}; training data of "
                                f"{mv.name}:{mv.version})", model_version=mv.version)


def profile_key(oid: str) -> str:
    """The stored profile's name: the reference's hash and the profile's options."""
    options = json.dumps({"oid": oid, "bins": BINS, "format": PROFILE_FORMAT}, sort_keys=True)
    return hashlib.blake2b(options.encode(), digest_size=16).hexdigest()


def profile_path(project: Project, oid: str) -> Path:
    return project.state_dir / "monitoring" / "profiles" / f"{profile_key(oid)}.json"


def reference_profile(project: Project, reference: Reference) -> ReferenceProfile:
    """The reference's profile: read from its stored JSON, or computed (one scan of the
    reference, read from the object cache by its hash) and stored first.

    Raises:
        MonitoringError: the reference's data is not in the cache (or cannot be read).
    """
    path = profile_path(project, reference.oid)
    stored = _load(path)
    if stored is not None:
        return stored
    profile = _compute(project, reference)
    from assay._atomic import write_text_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps({"format": PROFILE_FORMAT, "oid": reference.oid,
                                        "profile": asdict(profile)}, allow_nan=False))
    return profile


def _compute(project: Project, reference: Reference) -> ReferenceProfile:
    from assay.contracts import DistributionSpec, cached_source, profile_reference, scan
    from assay.errors import ContractError, ObjectError

    what = f"reference {reference.label}"
    try:
        source = cached_source(project, reference.oid, reference.path, what=what,
                               label=reference.label)
        names = list(scan(source).collect_schema())
        return profile_reference(source, {n: DistributionSpec(bins=BINS) for n in names})
    except (ObjectError, ContractError) as exc:
        raise MonitoringError(f"{exc.message}", reference=reference.label) from exc


def _load(path: Path) -> ReferenceProfile | None:
    from assay.contracts import ColumnProfile, ReferenceProfile

    try:
        data: dict[str, Any] = json.loads(path.read_text())
        raw = data["profile"]
        if data.get("format") != PROFILE_FORMAT:
            return None
        columns = {name: ColumnProfile(**col) for name, col in raw["columns"].items()}
        return ReferenceProfile(raw["location"], int(raw["rows"]), columns)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent or unreadable: computed again
