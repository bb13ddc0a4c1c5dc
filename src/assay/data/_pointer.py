"""Pointer files: the small committed ``PATH.assay`` YAML that names the data at PATH by hash."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from assay._atomic import write_text_atomic
from assay.errors import DataError
from assay.objects import is_object_id

POINTER_SUFFIX = ".assay"
_HEADER = "# assay data pointer: commit this file; get the data with: assay data pull\n"
_SKIP_DIRS = {".git", ".assay", ".venv", ".venv-bench", "node_modules", "__pycache__"}


@dataclass(frozen=True)
class Pointer:
    """What a pointer file says: the data's object id, size, file count and dataset name."""

    oid: str
    size: int
    nfiles: int
    name: str

    @property
    def is_dir(self) -> bool:
        return self.oid.endswith(".dir")


def pointer_path(data_path: Path) -> Path:
    """``data/x.csv`` -> ``data/x.csv.assay``."""
    return data_path.with_name(data_path.name + POINTER_SUFFIX)


def data_path(pointer: Path) -> Path:
    """``data/x.csv.assay`` -> ``data/x.csv``."""
    return pointer.with_name(pointer.name[: -len(POINTER_SUFFIX)])


def read_pointer(path: Path, *, shown: str | None = None) -> Pointer:
    """Parse and check a pointer file.

    Raises:
        DataError: the file is missing, not YAML, or hand-edited into something invalid.
    """
    import yaml

    label = shown or str(path)
    fix = f"restore it from git (git checkout -- {label}) or re-run: assay data add"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{label}: pointer file not found", path=label) from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        reason = str(exc).splitlines()[0]
        raise DataError(f"{label}: unreadable pointer file ({reason}); {fix}", path=label) from None
    if not isinstance(raw, dict):
        raise DataError(f"{label}: corrupt pointer file (not a mapping); {fix}", path=label)
    oid = raw.get("oid")
    if not isinstance(oid, str) or not is_object_id(oid):
        raise DataError(f"{label}: corrupt pointer file (bad oid {oid!r}); {fix}", path=label)
    size, nfiles, name = raw.get("size"), raw.get("nfiles", 1), raw.get("name")
    for key, value in (("size", size), ("nfiles", nfiles)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise DataError(
                f"{label}: corrupt pointer file ({key} must be a non-negative integer); {fix}",
                path=label,
            )
    if not isinstance(name, str) or not name.strip():
        raise DataError(f"{label}: corrupt pointer file (missing name); {fix}", path=label)
    assert isinstance(size, int) and isinstance(nfiles, int)
    return Pointer(oid=oid, size=size, nfiles=nfiles, name=name)


def write_pointer(path: Path, pointer: Pointer) -> None:
    """Write a pointer file atomically and durably."""
    text = (
        f"{_HEADER}oid: {pointer.oid}\nsize: {pointer.size}\nnfiles: {pointer.nfiles}\n"
        f"name: {_yaml_str(pointer.name)}\n"
    )
    write_text_atomic(path, text)


def _yaml_str(value: str) -> str:
    import json

    return json.dumps(value)


def find_pointers(root: Path) -> list[Path]:
    """Every pointer file in the workspace (hidden tool folders skipped, tracked data not walked)."""
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        pointer_names = {f for f in files if f.endswith(POINTER_SUFFIX)}
        tracked = {n[: -len(POINTER_SUFFIX)] for n in pointer_names}
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and d not in tracked)
        found.extend(Path(folder) / f for f in sorted(pointer_names))
    return sorted(found)
