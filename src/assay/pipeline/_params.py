"""Params files (``params.yaml``): loading, profile overrides, dotted lookup."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay._layout import DEFAULT_PARAMS_FILE
from assay.errors import ConfigError, PipelineError

if TYPE_CHECKING:
    from assay.config import Project
    from assay.pipeline._dag import Dag

_MISSING = object()


def lookup(data: Any, dotted: str) -> Any:
    """The value at ``a.b.c`` in nested mappings, or ``_MISSING``."""
    node = data
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return _MISSING
    return node


def is_missing(value: Any) -> bool:
    return value is _MISSING


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``a.b.c`` in nested mappings, creating levels as needed."""
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings -> ``{"a.b": value}`` (lists and scalars are leaves)."""
    if not isinstance(data, dict):
        return {prefix: data} if prefix else {}
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(flatten(value, name))
        else:
            out[name] = value
    return out


class ParamsFiles:
    """The params files of a project, read lazily, with a profile's overrides applied."""

    def __init__(self, root: Path, overrides: dict[str, Any] | None = None) -> None:
        self.root = root
        self.overrides = dict(overrides or {})
        self._cache: dict[str, dict[str, Any]] = {}

    def data(self, file: str = DEFAULT_PARAMS_FILE) -> dict[str, Any]:
        """The parsed file (``{}`` if absent), overrides applied to the default file."""
        if file not in self._cache:
            from assay._paths import clean_relative
            from assay.config import read_yaml

            path = self.root / clean_relative(file, what="params file")
            raw: Any = {}
            if path.is_file():
                raw, _ = read_yaml(path)
            if raw is None:
                raw = {}
            if not isinstance(raw, dict):
                raise ConfigError(f"{file}:1: expected a mapping of params", file=file, line=1)
            data = copy.deepcopy(raw)
            if file == DEFAULT_PARAMS_FILE:
                for key, value in self.overrides.items():
                    set_dotted(data, key, value)
            self._cache[file] = data
        return self._cache[file]

    def find(self, key: str, files: list[str]) -> str | None:
        """The first of ``files`` that holds ``key`` (None if none does)."""
        for file in files:
            if not is_missing(lookup(self.data(file), key)):
                return file
        return None

    def value(self, key: str, *, file: str = DEFAULT_PARAMS_FILE, stage: str = "",
              others: list[str] | None = None, where: str = "") -> Any:
        """The value of ``key``; a missing key is a :class:`PipelineError` naming the stage
        (and ``others``, the files that were searched too), after ``where`` (``assay.yaml:N``)."""
        found = lookup(self.data(file), key)
        if is_missing(found):
            from assay.config import suggest

            hint = suggest(key, sorted(flatten(self.data(file))))
            who = f"stage '{stage}' " if stage else ""
            searched = list(dict.fromkeys([file, *(others or [])]))
            raise PipelineError(
                f"{where}{': ' if where else ''}{who}uses param '{key}', which is not in "
                f"{' or '.join(searched)}{hint}",
                stage=stage,
                key=key,
            )
        return found


def params_files_of(project: Project, dag: Dag) -> list[str]:
    """Every params file the pipeline reads: params.yaml, ``params:`` and per-stage files."""
    from assay.pipeline._aliases import is_pseudo_param

    files = [DEFAULT_PARAMS_FILE, *project.config.params]
    for stage in dag.stages.values():
        for label in stage.params:
            file, sep, _ = label.partition(":")
            if sep and not is_pseudo_param(label):
                files.append(file)
    return list(dict.fromkeys(files))
