"""Serving a deployment (``assay serve --deployment NAME``): the variants its store row names.

The ``deployments`` row NAME says what the deployment serves now: ``stable_version``,
``candidate_version``, ``candidate_weight`` and ``mode`` (``split`` or ``shadow``), with a
``revision`` raised at every change (the rollout controller writes it). The server reads it at
every poll (and at SIGHUP):

- no row: the deployment's ``model`` alias is served, followed like ``assay serve MODEL@ALIAS``;
- a row: ``MODEL:stable_version`` (the alias, while it is NULL) is the ``stable`` variant and
  ``MODEL:candidate_version``, if any, the ``candidate`` (``split``) or ``shadow`` variant
  (``shadow``), in the share ``candidate_weight``.

A new revision is applied only once every version it names is resolved, checked out
(hash-verified), loaded and warmed (:func:`._model.load`); until then the previous variants
keep answering. A version that cannot be loaded leaves them answering too, and the failure
(revision, version, reason) is kept for ``GET /status`` and recorded as an event, like a hot
swap's; the same revision is tried again at SIGHUP or when the row changes. Versions already
loaded (the previous revision's too, for a fast return) are reused, not loaded again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assay.errors import AssayError, ServingError
from assay.serving._model import Served, Slot, Target, load, resolve
from assay.serving._routing import CANDIDATE, SHADOW, STABLE, Routing, Variant

if TYPE_CHECKING:
    from assay.config import DeploymentConfig, Project
    from assay.store import Store


@dataclass(frozen=True)
class Wanted:
    """What the deployment's row asks to serve (no row: the alias alone)."""

    revision: int | None
    stable: str
    """``MODEL:VERSION``, or ``MODEL@ALIAS`` when no stable version is set."""
    candidate: str | None
    weight: float
    mode: str

    @property
    def is_pinned(self) -> bool:
        """True if every reference is a fixed version (a revision names the same versions
        for ever: no need to resolve it again)."""
        return "@" not in self.stable


def wanted_of(row: Any, config: DeploymentConfig) -> Wanted:
    """What ``row`` (a ``deployments`` row, or None) asks to serve."""
    if row is None:
        return Wanted(None, config.model, None, 0.0, "split")
    # the columns of statements.DEPLOYMENT, in order (a store may give plain tuples)
    _, model, stable_version, candidate_version, weight, mode, _, revision, _ = row
    stable = config.model if stable_version is None else f"{model}:{int(stable_version)}"
    candidate = None if candidate_version is None else f"{model}:{int(candidate_version)}"
    weight = min(max(float(weight or 0.0), 0.0), 1.0)
    mode = str(mode or "split")
    if mode not in ("split", "shadow"):
        mode = "split"  # an unknown mode never sends traffic anywhere unexpected
    return Wanted(int(revision), stable, candidate, weight, mode)


class DeploymentSlot(Slot):
    """The served reference of a deployment: its routing follows the deployment's row."""

    def __init__(self, name: str, config: DeploymentConfig | None,
                 reason: str | None = None) -> None:
        super().__init__(config.model if config is not None else name)
        self.deployment = name
        self.config = config
        if reason is not None:
            self.reason = reason
        sticky = config.sticky if config is not None else None
        self.sticky_header = sticky.header.lower() if sticky and sticky.header else None
        self.sticky_column = sticky.column if sticky else None
        self.failure: dict[str, Any] | None = None
        """The last revision that could not be applied: revision, version, reason, time."""
        self._loaded: dict[str, Served] = {}  # by package hash
        self._store: Store | None = None

    @property
    def follows_alias(self) -> bool:
        return self.config is not None

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def _read_row(self, project: Project) -> Any:
        from assay.store import open_store
        from assay.store import statements as sql

        if self._store is None:
            self._store = open_store(project.store_url)
        try:
            with self._store.read() as conn:
                return conn.execute(sql.DEPLOYMENT, {"name": self.deployment}).fetchone()
        except AssayError:
            self.close()  # opened afresh at the next poll
            raise

    def check(self, project: Project | None, *, allow_pickle: bool,
              force: bool = False) -> tuple[str, dict[str, Any]] | None:
        """Apply the deployment row's revision if it is not the one applied.

        Returns:
            ``(event kind, details)`` when something happened (``serving.loaded``,
            ``serving.swapped``, ``serving.swap_failed``, ``serving.load_failed``), else None.
        """
        config = self.config
        if config is None:
            return None  # the reason says why (no such deployment in assay.yaml)
        with self._lock:
            routing = self.routing
            if project is None:
                return self._refused(None, None, "there is no assay project here; run assay "
                                                 "serve --deployment in the project (or -C "
                                                 "PROJECT)")
            try:
                wanted = wanted_of(self._read_row(project), config)
            except AssayError as exc:
                return self._refused(None, None, f"cannot read the deployment: {exc}")
            if routing is not None and wanted.is_pinned and wanted.revision is not None \
                    and routing.revision == wanted.revision:
                return None
            targets: dict[str, Target] = {}
            try:
                targets[STABLE] = resolve(wanted.stable, project)
                if wanted.candidate is not None:
                    targets[CANDIDATE] = resolve(wanted.candidate, project)
            except AssayError as exc:
                return self._refused(wanted, None, str(exc))
            key = repr((wanted.revision, *(t.oid for t in targets.values()), wanted.weight,
                        wanted.mode))
            if routing is not None and routing.key == key:
                return None
            if not force and self.failed is not None and self.failed[0] == key:
                return None  # the same broken revision: retried at SIGHUP or when it moves
            loaded: dict[str, Served] = {}
            for variant, target in targets.items():
                try:
                    loaded[variant] = self._load(target, project, allow_pickle=allow_pickle)
                except AssayError as exc:
                    return self._refused(wanted, target, str(exc), key=key)
                except OSError as exc:
                    return self._refused(wanted, target, f"cannot read the package: {exc}",
                                         key=key)
            applied = self._routing(wanted, loaded, key)
            keep = {s.target.oid for s in applied.served}
            if routing is not None:
                keep |= {s.target.oid for s in routing.served}  # a fast return
            self._loaded = {oid: s for oid, s in self._loaded.items() if oid in keep}
            self.routing = applied
            self.current = applied.stable
            self.reason = None
            self.failed = None
            self.failure = None
            details = {"ref": self.ref, "deployment": self.deployment,
                       "revision": applied.revision, "version": applied.stable.version,
                       "oid": applied.stable.target.oid, "variants": applied.to_list()}
            if routing is None:
                return "serving.loaded", details
            return "serving.swapped", {**details, "from_revision": routing.revision,
                                       "from_version": routing.stable.version,
                                       "from_variants": routing.to_list()}

    def _load(self, target: Target, project: Project, *, allow_pickle: bool) -> Served:
        if target.oid is not None and target.oid in self._loaded:
            return self._loaded[target.oid]
        served = load(target, project, allow_pickle=allow_pickle)
        if target.oid is not None:
            self._loaded[target.oid] = served
        return served

    def _routing(self, wanted: Wanted, loaded: dict[str, Served], key: str) -> Routing:
        stable = loaded[STABLE]
        candidate = loaded.get(CANDIDATE)
        if candidate is None:
            return Routing((Variant(STABLE, stable, 1.0, wanted.mode),),
                           revision=wanted.revision, key=key)
        if wanted.mode == "shadow":
            return Routing((Variant(STABLE, stable, 1.0, "shadow"),),
                           shadow=Variant(SHADOW, candidate, wanted.weight, "shadow"),
                           revision=wanted.revision, key=key)
        return Routing((Variant(STABLE, stable, 1.0 - wanted.weight, "split"),
                        Variant(CANDIDATE, candidate, wanted.weight, "split")),
                       revision=wanted.revision, key=key)

    def _refused(self, wanted: Wanted | None, target: Target | None, reason: str, *,
                 key: str | None = None) -> tuple[str, dict[str, Any]] | None:
        """The row's revision cannot be applied: the applied one keeps answering."""
        revision = wanted.revision if wanted is not None else None
        version = f"{target.name}:{target.version}" if target is not None else None
        failure = {"revision": revision, "version": version, "reason": reason,
                   "at": time.time()}
        repeated = self.failure is not None and \
            (self.failure["revision"], self.failure["reason"]) == (revision, reason)
        self.failure = failure
        self.failed = (key, reason)
        details = {"ref": self.ref, "deployment": self.deployment, "revision": revision,
                   "reason": reason, "version": target.version if target else None,
                   "oid": target.oid if target else None}
        if self.routing is None:
            self.reason = reason
        if repeated and key is None:
            return None  # an unreadable store or alias, seen again: said once
        if self.routing is None:
            return "serving.load_failed", details
        return "serving.swap_failed", {**details, "serving_version": self.routing.stable.version,
                                       "serving_revision": self.routing.revision}

    def describe(self) -> dict[str, Any]:
        """The deployment part of ``GET /status``."""
        routing = self.routing
        return {"name": self.deployment,
                "model": self.config.model if self.config is not None else None,
                "revision": routing.revision if routing is not None else None,
                "variants": routing.to_list() if routing is not None else [],
                "sticky": ({"header": self.sticky_header} if self.sticky_header else
                           {"column": self.sticky_column} if self.sticky_column else None),
                "failure": self.failure}


def deployment_slot(name: str, project: Project | None) -> DeploymentSlot:
    """The slot of deployment ``name`` of ``project``'s assay.yaml (not ready, with the
    reason, when there is none)."""
    if project is None:
        return DeploymentSlot(name, None, f"There is no assay project here to read deployment "
                                          f"{name!r} from; run assay serve in the project "
                                          "(or -C PROJECT)")
    config = project.config.deployments.get(name)
    if config is None:
        known = ", ".join(sorted(project.config.deployments)) or "none"
        return DeploymentSlot(name, None, f"No deployment {name!r} in assay.yaml (known: "
                                          f"{known}); add it under deployments:")
    return DeploymentSlot(name, config)


def require_deployment(name: str, project: Project | None) -> DeploymentConfig:
    """The configuration of deployment ``name``.

    Raises:
        ServingError: no project, or no such deployment in its assay.yaml.
    """
    slot = deployment_slot(name, project)
    if slot.config is None:
        raise ServingError(str(slot.reason), deployment=name)
    return slot.config
