"""Registered models and their immutable numbered versions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assay.errors import RegistryError
from assay.registry._refs import ModelRef, parse_ref
from assay.store import statements as sql

if TYPE_CHECKING:
    from assay.store import Connection, Store


@dataclass(frozen=True)
class ModelVersion:
    """One immutable version of a registered model."""

    name: str
    version: int
    model_hash: str
    author: str
    gates_passed: bool
    created_at: float
    run_id: str | None = None
    stage_run_id: str | None = None
    evaluation_id: int | None = None
    aliases: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def ref(self) -> str:
        """``NAME:VERSION``."""
        return f"{self.name}:{self.version}"

    @property
    def lineage(self) -> dict[str, Any]:
        """The package's lineage (run, stage, datasets, commit, params, environment)."""
        return dict((self.meta.get("package") or {}).get("lineage") or {})

    @property
    def evaluation(self) -> dict[str, Any]:
        """The evaluation results this version was registered with ({} without one)."""
        return dict(self.meta.get("evaluation") or {})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "name": self.name,
            "version": self.version,
            "model_hash": self.model_hash,
            "author": self.author,
            "gates_passed": self.gates_passed,
            "created_at": self.created_at,
            "run_id": self.run_id,
            "stage_run_id": self.stage_run_id,
            "evaluation_id": self.evaluation_id,
            "aliases": list(self.aliases),
            "meta": self.meta,
        }


@dataclass(frozen=True)
class RegisteredModel:
    """A model name with its latest version and current aliases."""

    name: str
    created_at: float
    latest_version: int | None
    versions: int
    aliases: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "name": self.name,
            "created_at": self.created_at,
            "latest_version": self.latest_version,
            "versions": self.versions,
            "aliases": dict(self.aliases),
        }


def _aliases_of(conn: Connection, name: str) -> dict[str, int]:
    return {str(alias): int(version)
            for alias, version in conn.execute(sql.ALIASES_OF, {"name": name})}


def _from_row(row: tuple[Any, ...], alias_map: dict[str, int]) -> ModelVersion:
    """A row of :data:`assay.store.statements.MODEL_VERSION_COLUMNS` as a ModelVersion."""
    (name, version, model_hash, author, gates_passed, created_at, run_id, stage_run_id,
     evaluation_id, meta) = row
    return ModelVersion(
        name=str(name),
        version=int(version),
        model_hash=str(model_hash),
        author=str(author),
        gates_passed=bool(gates_passed),
        created_at=float(created_at),
        run_id=run_id,
        stage_run_id=stage_run_id,
        evaluation_id=evaluation_id,
        aliases=tuple(a for a, v in alias_map.items() if v == int(version)),
        meta=dict(meta or {}),
    )


def known_models(conn: Connection) -> list[str]:
    """Every registered model name, sorted."""
    return [str(name) for name, _ in conn.execute(sql.REGISTERED_MODELS)]


def version_in(conn: Connection, ref: ModelRef | str) -> ModelVersion:
    """Resolve ``ref`` inside an open transaction.

    Raises:
        RegistryError: no such model, version or alias.
    """
    ref = parse_ref(ref) if isinstance(ref, str) else ref
    alias_map = _aliases_of(conn, ref.name)
    version = ref.version
    if ref.alias is not None:
        if ref.alias not in alias_map:
            known = ", ".join(sorted(alias_map)) or "none yet"
            raise RegistryError(
                f"Model {ref.name!r} has no alias {ref.alias!r} (aliases: {known}); "
                f"see: assay models show {ref.name}",
                model=ref.name,
                alias=ref.alias,
            )
        version = alias_map[ref.alias]
    if version is None:
        latest = conn.execute(sql.LATEST_MODEL_VERSION, {"name": ref.name}).scalar()
        version = int(latest) if latest is not None else None
    row = None
    if version is not None:
        row = conn.execute(sql.MODEL_VERSION, {"name": ref.name, "version": version}).fetchone()
    if row is None:
        names = known_models(conn)
        if ref.name not in names:
            from assay.config import suggest

            raise RegistryError(
                f"No registered model {ref.name!r}{suggest(ref.name, names)}; "
                "list models with: assay models list",
                model=ref.name,
            )
        raise RegistryError(
            f"Model {ref.name!r} has no version {version}; list versions with: "
            f"assay models versions {ref.name}",
            model=ref.name,
            version=version,
        )
    return _from_row(row, alias_map)


def get_version(store: Store, ref: ModelRef | str) -> ModelVersion:
    """The version named by ``NAME`` (latest), ``NAME:VERSION`` or ``NAME@ALIAS``.

    Raises:
        RegistryError: no such model, version or alias.

    Example:
        >>> get_version(store, "churn@production").version  # doctest: +SKIP
        3
    """
    with store.read() as conn:
        return version_in(conn, ref)


def list_models(store: Store) -> list[RegisteredModel]:
    """Every registered model with its latest version and aliases, by name."""
    with store.read() as conn:
        counts = {str(name): (int(n), int(latest))
                  for name, n, latest in conn.execute(sql.MODEL_VERSION_COUNTS)}
        out = []
        for name, created_at in conn.execute(sql.REGISTERED_MODELS).fetchall():
            n, latest = counts.get(str(name), (0, None))
            out.append(
                RegisteredModel(
                    name=str(name),
                    created_at=float(created_at),
                    latest_version=latest,
                    versions=n,
                    aliases=_aliases_of(conn, str(name)),
                )
            )
        return out


def versions(store: Store, name: str) -> list[ModelVersion]:
    """Every version of ``name``, oldest first.

    Raises:
        RegistryError: no such model.
    """
    with store.read() as conn:
        if name not in known_models(conn):
            version_in(conn, ModelRef(name))  # raises the precise error
        alias_map = _aliases_of(conn, name)
        return [_from_row(r, alias_map)
                for r in conn.execute(sql.MODEL_VERSIONS, {"name": name}).fetchall()]
