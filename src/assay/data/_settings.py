"""What the data workspace needs from a project's configuration, and nothing more.

:class:`DataSettings` is read from the settings a validated assay.yaml leaves in the settings
cache (:meth:`assay.config.Project.settings`, kept by :mod:`assay._layout` under the hash of
the assay.yaml bytes), by the full commands (:meth:`DataSettings.of`) and the shortcuts
(:meth:`DataSettings.cached`) alike, so ``assay data add`` on a project whose assay.yaml has not
changed since a full command read it never imports pydantic or the CLI framework. Any doubt
about the cached form means the full path runs. (A named tuple, not a dataclass: the shortcuts
load this module, and ``dataclasses`` costs them several milliseconds of start-up.)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from assay import _layout

if TYPE_CHECKING:
    from assay.config import Project


class DataSettings(NamedTuple):
    """A project's root and the config values dataset versioning reads."""

    root: Path
    cache_dir: Path
    cache_types: tuple[str, ...] = ("reflink", "copy")
    params_files: tuple[str, ...] = (_layout.DEFAULT_PARAMS_FILE,)
    datasets: Mapping[str, str] = MappingProxyType({})
    """Dataset name -> path, from ``datasets:`` in assay.yaml."""
    dataset_lines: Mapping[str, str] = MappingProxyType({})
    """Dataset name -> where it is declared (``assay.yaml:LINE``), for messages."""
    configured_store: str | None = None
    config_hash: str | None = None
    """BLAKE3 of the assay.yaml these values were read from."""

    @classmethod
    def of(cls, project: Project) -> DataSettings:
        """The settings of a loaded (validated) project."""
        return cls.from_json(project.root, project.settings(), project.digest)

    @classmethod
    def cached(cls, root: Path) -> DataSettings | None:
        """The settings of the project at ``root`` from the settings cache, if it holds those
        of assay.yaml as it is now; None otherwise (the full command loads the project)."""
        found = _layout.cached_settings(root)
        if found is None:
            return None
        try:
            return cls.from_json(root, found[1], found[0])
        except ValueError:
            return None

    @property
    def state_dir(self) -> Path:
        return _layout.state_dir(self.root)

    @property
    def store_url(self) -> str:
        return _layout.store_url(self.configured_store, self.state_dir)

    @classmethod
    def from_json(cls, root: Path, saved: dict[str, Any], config_hash: str | None
                  ) -> DataSettings:
        """Build from the JSON form :meth:`assay.config.Project.settings` writes.

        Raises:
            ValueError: ``saved`` is not of that form.
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

        cache, store = cache_dir_of(root, saved), saved.get("store")
        if not (store is None or isinstance(store, str)):
            raise ValueError("malformed data settings")
        types = strings(saved.get("cache_types"))
        if not types or not set(types) <= {"reflink", "hardlink", "symlink", "copy"}:
            raise ValueError("unknown cache type")
        return cls(root=root, cache_dir=cache, cache_types=types,
                   params_files=strings(saved.get("params_files")),
                   datasets=mapping(saved.get("datasets")),
                   dataset_lines=mapping(saved.get("dataset_lines")), configured_store=store,
                   config_hash=config_hash)


def cache_dir_of(root: Path, saved: dict[str, Any]) -> Path:
    """The cache folder in the cached settings ``saved`` of the project at ``root``.

    Raises:
        ValueError: ``saved`` names none.
    """
    cache = saved.get("cache_dir")
    if not isinstance(cache, str) or not cache:
        raise ValueError("malformed data settings")
    return root / cache
