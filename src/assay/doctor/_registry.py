"""What the registry says right now, for the rules that depend on it: which versions hold a
deployment alias (``production``, or an alias whose policy says ``deployed: true``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assay.config import AssayConfig, Project
    from assay.store import Store


@dataclass(frozen=True)
class HeldAlias:
    """A version currently holding an alias: ``churn@production`` -> v3."""

    name: str
    alias: str
    version: int

    @property
    def ref(self) -> str:
        """``NAME@ALIAS (vN)``."""
        return f"{self.name}@{self.alias} (v{self.version})"


def is_deployment_alias(config: AssayConfig, alias: str) -> bool:
    """True if the version holding ``alias`` serves users.

    ``production`` does unless its policy says ``deployed: false``; any other alias only when
    its policy says ``deployed: true``.
    """
    policy = config.promotion.get(alias)
    if policy is not None:
        return policy.is_deployed(alias)
    return alias == "production"


def _store_exists(url: str) -> bool:
    """False for a SQLite file that was never created (doctor must not create one)."""
    from assay.store import is_sqlite, sqlite_path

    if not is_sqlite(url):
        return True  # PostgreSQL, or a bad URL for open_store to report
    path = sqlite_path(url)
    return path is not None and path.is_file()


def held_aliases(project: Project, store: Store | None = None) -> list[HeldAlias]:
    """Every alias currently held, by model and alias.

    Args:
        project: the project (its store is opened when ``store`` is None and it exists).
        store: an open store to read instead.

    Returns:
        Held aliases sorted by model and alias; empty when the project has no store yet.
    """
    from assay.registry import list_models

    own = None
    if store is None:
        if not _store_exists(project.store_url):
            return []
        from assay.store import open_store

        store = own = open_store(project.store_url)
    try:
        return [
            HeldAlias(model.name, alias, version)
            for model in list_models(store)
            for alias, version in sorted(model.aliases.items())
        ]
    finally:
        if own is not None:
            own.close()
