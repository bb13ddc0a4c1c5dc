"""Pointer files: the small committed ``PATH.assay`` YAML that names the data at PATH by hash."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from assay._atomic import write_text_atomic
from assay._layout import POINTER_SUFFIX
from assay._paths import clean_relative, is_reserved
from assay.errors import ConfigError, ObjectError, PointerError, UsageError
from assay.objects import is_object_id

if TYPE_CHECKING:
    from assay.objects import LocalCache

_HEADER = "# assay data pointer: commit this file; get the data with: assay data pull\n"
_KEYS = ("oid", "size", "nfiles", "name", "exec")


@dataclass(frozen=True)
class Pointer:
    """What a pointer file says: the data's object id, size, file count and dataset name.

    ``is_exec`` records a single file's executable bit (a folder's modes are in its manifest).
    """

    oid: str
    size: int
    nfiles: int
    name: str
    is_exec: bool = False

    @property
    def is_dir(self) -> bool:
        return self.oid.endswith(".dir")


def pointer_path(data_path: Path) -> Path:
    """``data/x.csv`` -> ``data/x.csv.assay``."""
    return data_path.with_name(data_path.name + POINTER_SUFFIX)


def data_path(pointer: Path) -> Path:
    """``data/x.csv.assay`` -> ``data/x.csv`` (a pointer named just ``.assay`` gives its
    folder: check it with :func:`tracked_rel` before trusting it)."""
    return pointer.parent / pointer.name[: -len(POINTER_SUFFIX)]


def tracked_rel(root: Path, pointer: Path, *, shown: str) -> str:
    """The data path pointer file ``pointer`` tracks, relative to ``root``, checked by the
    path choke point: never empty, never ``.git`` or ``.assay`` (at any depth), never another
    pointer file, and taken literally.

    Raises:
        PointerError: naming the pointer file and how to get rid of it.
    """
    name = pointer.name[: -len(POINTER_SUFFIX)]
    fix = f"delete it: git rm {shown}"
    if not name:
        raise PointerError(f"{shown}: refusing this pointer file: it names no data (nothing "
                           f"before '{POINTER_SUFFIX}'); {fix}", path=shown)
    folder = pointer.parent.relative_to(root).as_posix()
    raw = name if folder == "." else f"{folder}/{name}"
    reserved = [part for part in raw.split("/") if is_reserved(part)]
    if reserved:
        raise PointerError(f"{shown}: refusing this pointer file: its data path {raw} addresses "
                           f"{reserved[0]}, which assay never writes or deletes; {fix}",
                           path=shown)
    try:
        clean = clean_relative(raw, what="data path").as_posix()
    except UsageError as exc:
        raise PointerError(f"{shown}: refusing this pointer file ({exc.message}); {fix}",
                           path=shown) from None
    if name.endswith(POINTER_SUFFIX):
        raise PointerError(f"{shown}: refusing this pointer file: its data would be another "
                           f"pointer file ({name}); {fix}", path=shown)
    return clean


def read_pointer(path: Path, *, shown: str | None = None) -> Pointer:
    """Parse and check a pointer file.

    Raises:
        PointerError: the file is missing, not YAML, or hand-edited into something invalid
            (a bad value or an unknown key).
    """
    from assay.config import read_yaml

    label = shown or str(path)
    fix = f"restore it from git (git checkout -- {label}) or re-run: assay data add"
    try:
        raw, _ = read_yaml(path, shown=label)
    except ConfigError as exc:
        if exc.fields.get("missing"):
            raise PointerError(f"{label}: pointer file not found", path=label) from None
        reason = str(exc.fields.get("reason") or exc)
        line = exc.fields.get("line")
        where = f"{label}:{line}" if line else label
        raise PointerError(f"{where}: unreadable pointer file ({reason}); {fix}",
                           path=label, line=line) from None

    def corrupt(reason: str) -> PointerError:
        return PointerError(f"{label}: corrupt pointer file ({reason}); {fix}", path=label,
                            reason=reason)

    if not isinstance(raw, dict):
        raise corrupt("not a mapping")
    unknown = [str(k) for k in raw if k not in _KEYS]
    if unknown:
        import difflib

        near = difflib.get_close_matches(unknown[0], _KEYS, n=1, cutoff=0.6)
        hint = f", did you mean '{near[0]}'?" if near else f"; known: {', '.join(_KEYS)}"
        raise corrupt(f"unknown key '{unknown[0]}'{hint}")
    oid = raw.get("oid")
    if not isinstance(oid, str) or not is_object_id(oid):
        raise corrupt(f"bad oid {oid!r}")
    size, nfiles, name = raw.get("size"), raw.get("nfiles", 1), raw.get("name")
    for key, value in (("size", size), ("nfiles", nfiles)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise corrupt(f"{key} must be a non-negative integer")
    if not isinstance(name, str) or not name.strip():
        raise corrupt("missing name")
    is_exec = raw.get("exec", False)
    if not isinstance(is_exec, bool):
        raise corrupt("exec must be true or false")
    assert isinstance(size, int) and isinstance(nfiles, int)
    if not oid.endswith(".dir") and nfiles != 1:
        raise corrupt(f"nfiles is {nfiles} but the oid names a single file")
    if is_exec and oid.endswith(".dir"):
        raise corrupt("exec is for a single file; a folder's modes are in its manifest")
    return Pointer(oid=oid, size=size, nfiles=nfiles, name=name, is_exec=is_exec)


def write_pointer(path: Path, pointer: Pointer) -> None:
    """Write a pointer file atomically and durably."""
    text = (
        f"{_HEADER}oid: {pointer.oid}\nsize: {pointer.size}\nnfiles: {pointer.nfiles}\n"
        f"name: {_yaml_str(pointer.name)}\n"
    )
    if pointer.is_exec:
        text += "exec: true\n"
    write_text_atomic(path, text)


def mismatch(pointer: Pointer, cache: LocalCache) -> str | None:
    """Why a pointer contradicts its object in the cache (None if it agrees or is not cached).

    A hand-edited ``size`` or ``nfiles`` is caught here: the object's manifest (hash-checked on
    read) or, for a file, the object's own size is the truth. A file object whose size differs
    is hashed first: if it is the object that is corrupt, that is fsck's finding, not this one.
    """
    if not cache.exists(pointer.oid):
        return None
    if pointer.is_dir:
        try:
            entries = cache.manifest(pointer.oid)
        except ObjectError:
            return None  # a corrupt manifest is fsck's to report
        size, nfiles = sum(e.size for e in entries), len(entries)
    else:
        try:
            size, nfiles = cache.path_of(pointer.oid).stat().st_size, 1
        except OSError:
            return None
        if size != pointer.size and not cache.verify(pointer.oid):
            return None
    return disagreement(pointer, size=size, nfiles=nfiles)


def disagreement(pointer: Pointer, *, size: int, nfiles: int) -> str | None:
    """Why a pointer's size or file count differs from the data's (None if they agree)."""
    if pointer.nfiles != nfiles:
        return f"nfiles is {pointer.nfiles} but the data has {nfiles} files"
    if pointer.size != size:
        return f"size is {pointer.size} but the data has {size} bytes"
    return None


def _yaml_str(value: str) -> str:
    import json

    return json.dumps(value)

