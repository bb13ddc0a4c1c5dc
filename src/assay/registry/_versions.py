"""Registered models and their immutable numbered versions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assay.errors import RegistryError
from assay.registry._refs import ModelRef, parse_ref

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Row

    from assay.store import Store


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
    from sqlalchemy import select

    from assay.store.tables import aliases

    rows = conn.execute(
        select(aliases.c.alias, aliases.c.version)
        .where(aliases.c.name == name)
        .order_by(aliases.c.alias)
    )
    return {str(r.alias): int(r.version) for r in rows}


def _from_row(row: Row[Any], alias_map: dict[str, int]) -> ModelVersion:
    return ModelVersion(
        name=str(row.name),
        version=int(row.version),
        model_hash=str(row.model_hash),
        author=str(row.author),
        gates_passed=bool(row.gates_passed),
        created_at=float(row.created_at),
        run_id=row.run_id,
        stage_run_id=row.stage_run_id,
        evaluation_id=row.evaluation_id,
        aliases=tuple(a for a, v in alias_map.items() if v == int(row.version)),
        meta=dict(row.meta or {}),
    )


def known_models(conn: Connection) -> list[str]:
    """Every registered model name, sorted."""
    from sqlalchemy import select

    from assay.store.tables import registered_models

    return [
        str(r.name)
        for r in conn.execute(select(registered_models.c.name).order_by(registered_models.c.name))
    ]


def version_in(conn: Connection, ref: ModelRef | str) -> ModelVersion:
    """Resolve ``ref`` inside an open transaction.

    Raises:
        RegistryError: no such model, version or alias.
    """
    from sqlalchemy import func, select

    from assay.store.tables import model_versions

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
        latest = conn.execute(
            select(func.max(model_versions.c.version)).where(model_versions.c.name == ref.name)
        ).scalar()
        version = int(latest) if latest is not None else None
    row = None
    if version is not None:
        row = conn.execute(
            select(model_versions).where(
                (model_versions.c.name == ref.name) & (model_versions.c.version == version)
            )
        ).first()
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
    from sqlalchemy import func, select

    from assay.store.tables import model_versions, registered_models

    with store.read() as conn:
        counts = {
            str(r.name): (int(r.n), int(r.latest))
            for r in conn.execute(
                select(
                    model_versions.c.name,
                    func.count().label("n"),
                    func.max(model_versions.c.version).label("latest"),
                ).group_by(model_versions.c.name)
            )
        }
        out = []
        for row in conn.execute(select(registered_models).order_by(registered_models.c.name)):
            n, latest = counts.get(str(row.name), (0, None))
            out.append(
                RegisteredModel(
                    name=str(row.name),
                    created_at=float(row.created_at),
                    latest_version=latest,
                    versions=n,
                    aliases=_aliases_of(conn, str(row.name)),
                )
            )
        return out


def versions(store: Store, name: str) -> list[ModelVersion]:
    """Every version of ``name``, oldest first.

    Raises:
        RegistryError: no such model.
    """
    from sqlalchemy import select

    from assay.store.tables import model_versions

    with store.read() as conn:
        if name not in known_models(conn):
            version_in(conn, ModelRef(name))  # raises the precise error
        alias_map = _aliases_of(conn, name)
        rows = conn.execute(
            select(model_versions)
            .where(model_versions.c.name == name)
            .order_by(model_versions.c.version)
        )
        return [_from_row(r, alias_map) for r in rows]
