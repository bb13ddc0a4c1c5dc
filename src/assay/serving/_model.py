"""What a server serves: a reference resolved through the registry, verified, loaded, warmed.

A reference is ``MODEL@ALIAS`` (followed: when the alias moves, the server swaps to its new
version), ``MODEL:VERSION`` (pinned) or a package directory. A registry version's package is
checked out of the content-addressed cache with every file's hash verified against the
object the registry recorded (:func:`assay.models.materialize`), then loaded through the one
gate every load takes (:func:`assay.models.load_package`: files and content match
``model.json``, skops types on the trust list). A package directory is hashed and looked up in
the registry, so a registered package is served under its version. A pyfunc (pickle) model is
served only when the registry holds it (it was registered with the pickle opt-in) and the
server was started with ``--allow-pickle``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import AssayError, ServingError
from assay.serving._routing import Routing

if TYPE_CHECKING:
    from assay.config import Project
    from assay.models import LoadedModel


@dataclass(frozen=True)
class Target:
    """What a reference names right now."""

    ref: str
    name: str
    version: str
    """The registry version as text, or ``unregistered`` for a package not in the registry."""
    oid: str | None
    path: Path | None
    flavor: str | None = None
    alias: str | None = None


@dataclass
class Served:
    """A verified, loaded model version, ready to predict."""

    target: Target
    model: LoadedModel
    loaded_at: float = field(default_factory=time.time)

    @property
    def name(self) -> str:
        return self.target.name

    @property
    def version(self) -> str:
        return self.target.version


def find_project(root: str | None) -> Project | None:
    """The project at ``root`` (or around the working directory); None outside any project."""
    from assay import _layout
    from assay.config import Project

    if root is None and _layout.find_root(None) is None:
        return None  # a package path served outside any project (a container)
    return Project.load(Path(root) if root else None)


def is_path_ref(ref: str) -> bool:
    """True if ``ref`` names a package directory rather than a registry reference."""
    return ref.startswith(("/", "./", "../", "~")) or Path(ref).exists()


def _open_store(project: Project | None, ref: str) -> Any:
    from assay.store import open_store

    if project is None:
        raise ServingError(f"{ref!r} is a registry reference, but there is no assay project "
                           "here; run assay serve in the project (or -C PROJECT), or give a "
                           "package path")
    return open_store(project.store_url)


def resolve(ref: str, project: Project | None) -> Target:
    """What ``ref`` names now (the registry is read; nothing is loaded).

    Raises:
        ServingError, RegistryError: no such model, version or alias; no project.
    """
    if is_path_ref(ref):
        return _path_target(ref, project)
    from assay.registry import get_version, parse_ref

    parsed = parse_ref(ref)
    store = _open_store(project, ref)
    try:
        version = get_version(store, parsed)
    finally:
        store.close()
    package = version.meta.get("package") or {}
    return Target(ref=ref, name=version.name, version=str(version.version),
                  oid=version.model_hash, path=None, flavor=package.get("flavor"),
                  alias=parsed.alias)


def _path_target(ref: str, project: Project | None) -> Target:
    from assay.models import read_package
    from assay.objects import hash_tree

    path = Path(ref)
    if project is not None and not path.is_absolute() and not path.exists():
        path = project.root / path
    package = read_package(path)
    version = "unregistered"
    oid = hash_tree(path).oid
    if project is not None:
        from assay.store import statements as sql

        store = _open_store(project, ref)
        try:
            with store.read() as conn:
                found = conn.execute(sql.MODEL_VERSION_OF_HASH,
                                     {"name": package.name, "hash": oid}).scalar()
        finally:
            store.close()
        if found is not None:
            version = str(int(found))
    return Target(ref=ref, name=package.name, version=version, oid=oid, path=path,
                  flavor=package.flavor)


def load(target: Target, project: Project | None, *, allow_pickle: bool) -> Served:
    """Check out (hash-verified), check and load ``target``, then warm it with one prediction.

    Raises:
        ServingError, ModelError, ObjectError: the package cannot be served safely.
    """
    from assay.models import load_package, materialize

    pickled = target.flavor == "pyfunc"
    if pickled and not allow_pickle:
        raise ServingError(f"{target.name}:{target.version} is a pickled (pyfunc) model; "
                           "loading it runs code. Start the server with --allow-pickle only "
                           "if you trust it", model=target.name)
    if pickled and target.version == "unregistered":
        raise ServingError(f"{target.ref} is a pickled (pyfunc) package that is not in the "
                           "registry; register it (assay models register --allow-pickle) "
                           "before serving it", model=target.name)
    if target.path is not None:
        path = target.path
    else:
        assert project is not None and target.oid is not None
        path = materialize(target.oid, cache_dir=project.cache_dir, state_dir=project.state_dir)
    model = load_package(path, allow_pickle=pickled and allow_pickle)
    if model.package.flavor == "pyfunc" and not pickled:  # the registry row said otherwise
        raise ServingError(f"{target.ref}: the package is a pyfunc model, but the registry "
                           "recorded another flavor; refusing it", model=target.name)
    served = Served(target=target, model=model)
    warm(served)
    return served


def warm(served: Served) -> None:
    """One prediction on a made-up row, so the first request pays no first-call costs (a
    model that refuses the made-up row is still served: real rows decide)."""
    import polars as pl

    from assay.models import dtype_family

    values: dict[str, Any] = {}
    for spec in served.model.signature.inputs:
        family = dtype_family(spec.dtype)
        values[spec.name] = ([0.0] if spec.dtype.startswith("Float") else [0]) \
            if family == "numeric" else [False] if family == "boolean" else [""]
    with contextlib.suppress(AssayError, ValueError, TypeError):
        served.model.outputs(served.model.prepare(pl.DataFrame(values)))


class Slot:
    """One served reference: the version answering now (None until one loaded), why it is not
    ready, and the swap to a newer version when a followed alias moves."""

    def __init__(self, ref: str) -> None:
        self.ref = ref
        self.current: Served | None = None
        self.routing: Routing | None = None
        """What answers requests now (None until a version loaded); replaced whole."""
        self.reason: str | None = "loading"
        self.failed: tuple[str | None, str] | None = None  # (oid, reason) of the last failure
        self._lock = threading.Lock()

    @property
    def follows_alias(self) -> bool:
        return "@" in self.ref and not is_path_ref(self.ref)

    def close(self) -> None:
        """The server stops (a slot holding a store connection lets it go)."""

    def check(self, project: Project | None, *, allow_pickle: bool,
              force: bool = False) -> tuple[str, dict[str, Any]] | None:
        """Load what the reference names now if it is not what is served; swap to it.

        Returns:
            ``(event kind, details)`` when something happened (``serving.loaded``,
            ``serving.swapped``, ``serving.swap_failed``, ``serving.load_failed``), else None.
        """
        with self._lock:
            current = self.current
            try:
                target = resolve(self.ref, project)
            except AssayError as exc:
                return self._failed(None, str(exc), current)
            if current is not None and target.oid == current.target.oid:
                return None
            if not force and self.failed is not None and self.failed[0] == target.oid:
                return None  # the same broken version: retried on SIGHUP or when it moves
            try:
                served = load(target, project, allow_pickle=allow_pickle)
            except AssayError as exc:
                return self._failed(target, str(exc), current)
            except OSError as exc:
                return self._failed(target, f"cannot read the package: {exc}", current)
            self.routing = Routing.single(served)
            self.current = served
            self.reason = None
            self.failed = None
            details = {"ref": self.ref, "version": target.version, "oid": target.oid}
            if current is None:
                return "serving.loaded", details
            return "serving.swapped", {**details, "from_version": current.version,
                                       "from_oid": current.target.oid}

    def _failed(self, target: Target | None, reason: str,
                current: Served | None) -> tuple[str, dict[str, Any]]:
        self.failed = (target.oid if target else None, reason)
        details = {"ref": self.ref, "reason": reason,
                   "version": target.version if target else None,
                   "oid": target.oid if target else None}
        if current is None:
            self.reason = reason
            return "serving.load_failed", details
        return "serving.swap_failed", {**details, "serving_version": current.version}
