"""What the data workspace needs from a project's configuration, and nothing more.

:class:`DataSettings` is taken from a loaded :class:`~assay.config.Project` (validated by
pydantic) and saved in the data marker (``.assay/data-fresh.json``) under the hash of the
assay.yaml it came from. ``assay data add`` on a project whose assay.yaml has not changed since
then rebuilds it from the marker, so the command never imports pydantic or the CLI framework
(see :mod:`assay._lean_add`). Any doubt about the saved form means the full path runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay._project_files import STATE_DIR, store_url

if TYPE_CHECKING:
    from assay.config import Project


@dataclass(frozen=True)
class DataSettings:
    """A project's root and the config values dataset versioning reads."""

    root: Path
    cache_dir: Path
    cache_types: tuple[str, ...] = ("reflink", "copy")
    params_files: tuple[str, ...] = ("params.yaml",)
    datasets: dict[str, str] = field(default_factory=dict)
    """Dataset name -> path, from ``datasets:`` in assay.yaml."""
    dataset_lines: dict[str, str] = field(default_factory=dict)
    """Dataset name -> where it is declared (``assay.yaml:LINE``), for messages."""
    configured_store: str | None = None
    config_hash: str | None = None
    """BLAKE3 of the assay.yaml these values were read from (the marker keeps them under it)."""

    @classmethod
    def of(cls, project: Project) -> DataSettings:
        from assay._data_fastpath import config_hash

        config = project.config
        return cls(
            root=project.root,
            cache_dir=project.cache_dir,
            cache_types=tuple(str(t) for t in config.cache.type),
            params_files=tuple(config.params),
            datasets={name: ds.path for name, ds in config.datasets.items()},
            dataset_lines={name: project.where("datasets", name) for name in config.datasets},
            configured_store=config.store,
            config_hash=config_hash(project.root),
        )

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def store_url(self) -> str:
        return store_url(self.configured_store, self.state_dir)

    def to_json(self) -> dict[str, Any]:
        """The saved form; paths inside the project are kept relative to it."""
        try:
            cache = self.cache_dir.relative_to(self.root).as_posix()
        except ValueError:
            cache = str(self.cache_dir)
        return {"cache_dir": cache, "cache_types": list(self.cache_types),
                "params_files": list(self.params_files), "datasets": dict(self.datasets),
                "dataset_lines": dict(self.dataset_lines), "store": self.configured_store}

    @classmethod
    def from_json(cls, root: Path, saved: dict[str, Any], config_hash: str) -> DataSettings:
        """Rebuild from :meth:`to_json` (saved under the assay.yaml hash ``config_hash``).

        Raises:
            ValueError: the saved form is not one :meth:`to_json` writes.
        """
        def strings(value: Any) -> tuple[str, ...]:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError("expected a list of strings")
            return tuple(value)

        def mapping(value: Any) -> dict[str, str]:
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            ):
                raise ValueError("expected a mapping of strings")
            return dict(value)

        cache, store = saved.get("cache_dir"), saved.get("store")
        if not isinstance(cache, str) or not cache or not (store is None or isinstance(store, str)):
            raise ValueError("malformed data settings")
        types = strings(saved.get("cache_types"))
        if not types or not set(types) <= {"reflink", "hardlink", "symlink", "copy"}:
            raise ValueError("unknown cache type")
        return cls(root=root, cache_dir=root / cache, cache_types=types,
                   params_files=strings(saved.get("params_files")),
                   datasets=mapping(saved.get("datasets")),
                   dataset_lines=mapping(saved.get("dataset_lines")), configured_store=store,
                   config_hash=config_hash)
