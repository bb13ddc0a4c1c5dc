"""Pointer files: the small committed ``PATH.assay`` YAML that names the data at PATH by hash."""

from __future__ import annotations

from collections.abc import Callable
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
_KEYS = ("oid", "size", "nfiles", "name", "exec", "version", "history")
_HISTORY_KEYS = ("version", "oid", "size", "nfiles", "rows")


@dataclass(frozen=True)
class HistoryEntry:
    """One earlier (or the current) version of a pointer's dataset, as committed to git: what
    ``NAME@vN`` names in every clone, whatever its metadata store holds."""

    version: int
    oid: str
    size: int
    nfiles: int
    rows: int | None = None

    def to_yaml(self) -> str:
        rows = "" if self.rows is None else f", rows: {self.rows}"
        return (f"  - {{version: {self.version}, oid: {_yaml_str(self.oid)}, size: {self.size}, "
                f"nfiles: {self.nfiles}{rows}}}\n")


@dataclass(frozen=True)
class Pointer:
    """What a pointer file says: the data's object id, size, file count and dataset name.

    ``is_exec`` records a single file's executable bit (a folder's modes are in its manifest).
    ``version`` is the dataset version this data is, and ``history`` every version of the
    dataset up to it (oldest first), so a versioned reference (``churn@v1``) resolves in any
    clone; both are absent in pointers written before they existed.
    """

    oid: str
    size: int
    nfiles: int
    name: str
    is_exec: bool = False
    version: int | None = None
    history: tuple[HistoryEntry, ...] = ()

    def with_version(self, version: int, rows: int | None) -> Pointer:
        """This pointer as version ``version`` of its dataset: ``history`` keeps the earlier
        versions it lists (numbered below ``version``) and ends with this one."""
        from dataclasses import replace

        earlier = tuple(h for h in self.history if h.version < version and h.oid != self.oid)
        entry = HistoryEntry(version=version, oid=self.oid, size=self.size, nfiles=self.nfiles,
                             rows=rows)
        return replace(self, version=version, history=(*earlier, entry))

    @property
    def is_dir(self) -> bool:
        return self.oid.endswith(".dir")


def pointer_path(data_path: Path) -> Path:
    """``data/x.csv`` -> ``data/x.csv.assay``."""
    return data_path.with_name(data_path.name + POINTER_SUFFIX)


def not_pulled(root: Path, path: Path | str) -> str | None:
    """Why ``path`` (relative to ``root``, or absolute under it) is missing when it is, or lies
    inside, tracked data whose committed pointer is here but whose data is not (a fresh clone):
    the text names the fix, ``run: assay data pull DATA``. None when no pointer covers it.

    Example: ``tracked data (data/churn.parquet.assay) not pulled into this workspace;
    run: assay data pull data/churn.parquet``
    """
    target = Path(path)
    try:
        rel = target.relative_to(root) if target.is_absolute() else target
    except ValueError:
        return None
    parts = rel.as_posix().split("/")
    for cut in range(len(parts), 0, -1):
        tracked = "/".join(parts[:cut])
        if (root / f"{tracked}{POINTER_SUFFIX}").is_file():
            return (f"tracked data ({tracked}{POINTER_SUFFIX}) not pulled into this workspace; "
                    f"run: assay data pull {tracked}")
    return None


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
    version = raw.get("version")
    if version is not None and not _is_count(version, positive=True):
        raise corrupt("version must be a positive integer")
    history = _history(raw.get("history"), corrupt)
    return Pointer(oid=oid, size=size, nfiles=nfiles, name=name, is_exec=is_exec,
                   version=version, history=history)


def _is_count(value: object, *, positive: bool = False) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)
            and value >= (1 if positive else 0))


def _history(raw: object, corrupt: Callable[[str], PointerError]) -> tuple[HistoryEntry, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise corrupt("history must be a list")
    entries: list[HistoryEntry] = []
    for item in raw:
        if not isinstance(item, dict) or set(item) - set(_HISTORY_KEYS):
            raise corrupt(f"history entries take {', '.join(_HISTORY_KEYS)}")
        oid, rows = item.get("oid"), item.get("rows")
        if not isinstance(oid, str) or not is_object_id(oid):
            raise corrupt(f"bad oid {oid!r} in history")
        if not all(_is_count(item.get(k), positive=k == "version")
                   for k in ("version", "size", "nfiles")) or (
                rows is not None and not _is_count(rows)):
            raise corrupt("history version, size, nfiles and rows must be integers")
        entries.append(HistoryEntry(version=item["version"], oid=oid, size=item["size"],
                                    nfiles=item["nfiles"], rows=rows))
    numbers = [e.version for e in entries]
    if numbers != sorted(set(numbers)):
        raise corrupt("history versions must increase")
    return tuple(entries)


def write_pointer(path: Path, pointer: Pointer) -> None:
    """Write a pointer file atomically and durably."""
    text = (
        f"{_HEADER}oid: {pointer.oid}\nsize: {pointer.size}\nnfiles: {pointer.nfiles}\n"
        f"name: {_yaml_str(pointer.name)}\n"
    )
    if pointer.is_exec:
        text += "exec: true\n"
    if pointer.version is not None:
        text += f"version: {pointer.version}\n"
    if pointer.history:
        text += "history:\n" + "".join(entry.to_yaml() for entry in pointer.history)
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

