"""Data freshness: answer ``assay data status`` and re-adding unchanged data from a marker.

A full ``assay data status`` that finds every tracked path clean, and every ``assay data add``,
leave a marker (``.assay/data-fresh.json``): the hash of assay.yaml, the set of pointer files,
and per tracked path the stat of its pointer file, a stat signature of its data (every file's
inode, size, mtime_ns and mode), its size and file count, and the objects it consists of. When
nothing of that changed and every object is still in the cache (found through the settings
cache of :mod:`assay._layout`), the answer is the one the full path gave:
:func:`clean_status` and :func:`unchanged_add` rebuild it, and the command front
(:mod:`assay.cli._front`) prints it the way the full command does. Any doubt (a changed stat, a
missing object, a new pointer file) means "no decision" (None) and the full command runs.

Only the standard library and blake3 are imported here: this runs before everything else. The
walk that finds pointer files lives here too, so the full path and the shortcut can never
disagree about which paths are tracked.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from assay._layout import (
    DATA_MARKER,
    POINTER_SUFFIX,
    STATE_DIR,
    STORE_ENV,
    cached_settings,
    config_digest,
    state_dir,
)
from assay.data._results import AddResult, EntryStatus
from assay.data._settings import cache_dir_of

SKIP_DIRS = frozenset({".git", STATE_DIR, ".venv", ".venv-bench", "node_modules", "__pycache__"})
_VERSION = 3


def find_pointers(root: Path) -> list[Path]:
    """Every pointer file in the workspace (tool folders skipped, tracked folders not walked)."""
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        pointer_names = {f for f in files if f.endswith(POINTER_SUFFIX)}
        tracked = {n[: -len(POINTER_SUFFIX)] for n in pointer_names}
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and d not in tracked)
        found.extend(Path(folder) / f for f in sorted(pointer_names))
    return sorted(found)


def _stat_list(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def data_signature(path: Path) -> list[Any] | None:
    """Inode, size, mtime_ns and mode of ``path`` or of every entry below it (None if absent)."""
    try:
        st = path.lstat()
    except OSError:
        return None
    if not os.path.isdir(path) or path.is_symlink():
        return [st.st_ino, st.st_size, st.st_mtime_ns, st.st_mode]
    out: list[Any] = []
    stack = [os.fspath(path)]
    base = len(os.fspath(path)) + 1
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                est = entry.stat(follow_symlinks=False)
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                    continue
                out.append([entry.path[base:], est.st_ino, est.st_size, est.st_mtime_ns,
                            est.st_mode])
    out.sort()
    return out


def snapshot(root: Path, pointers: list[Path] | None = None) -> dict[str, Any]:
    """What the marker's validity rests on: assay.yaml, git's index, the set of pointer files
    (``pointers`` when the caller has just walked for them, else walked here)."""
    found = find_pointers(root) if pointers is None else pointers
    return {
        "version": _VERSION,
        "config": config_digest(root),
        "git_index": _stat_list(root / ".git" / "index"),
        # another store (say a new PostgreSQL one) may lack the versions: the full path records
        "store": os.environ.get(STORE_ENV, "").strip(),
        "pointers": sorted({p.relative_to(root).as_posix() for p in found}),
    }


def entry_for(root: Path, rel: str, *, oid: str, name: str, size: int, nfiles: int,
              objects: list[str], signature: list[Any] | None) -> dict[str, Any]:
    """The marker entry of one clean tracked path (``signature`` taken before it was checked)."""
    return {"pointer": _stat_list(root / (rel + POINTER_SUFFIX)), "sig": signature, "oid": oid,
            "name": name, "size": size, "nfiles": nfiles, "objects": objects}


def read_marker(state: Path) -> dict[str, Any] | None:
    """The marker in the state folder ``state`` (None if absent, garbled or of another version)."""
    try:
        marker = json.loads((state / DATA_MARKER).read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) and marker.get("version") == _VERSION else None


def write_marker(state: Path, snap: dict[str, Any], entries: dict[str, dict[str, Any]], *,
                 replace_all: bool) -> None:
    """Record ``entries`` (rel path -> entry) under ``snap``; keep other still-valid entries
    unless ``replace_all``. Best effort: the marker only saves time, so errors are ignored."""
    from assay._atomic import write_text_atomic

    old = read_marker(state)
    kept: dict[str, Any] = {}
    if old is not None and not replace_all and old.get("config") == snap["config"]:
        tracked = {p[: -len(POINTER_SUFFIX)] for p in snap["pointers"]}
        kept = {k: v for k, v in old.get("entries", {}).items() if k in tracked}
    kept.update(entries)
    with contextlib.suppress(OSError):
        state.mkdir(parents=True, exist_ok=True)
        write_text_atomic(state / DATA_MARKER, json.dumps({**snap, "entries": kept}),
                          durable=False)


# -- the shortcuts -------------------------------------------------------------------------


def _valid_entry(root: Path, rel: str, entry: dict[str, Any], cache_dir: str) -> bool:
    if _stat_list(root / (rel + POINTER_SUFFIX)) != entry.get("pointer"):
        return False
    if data_signature(root / rel) != entry.get("sig"):
        return False
    for oid in entry.get("objects", []):
        if not isinstance(oid, str) or len(oid) < 3 or "/" in oid or oid.startswith("."):
            return False
        if not os.path.isfile(f"{cache_dir}/{oid[:2]}/{oid[2:]}"):
            return False
    return True


def _current(root: Path) -> tuple[dict[str, Any], dict[str, Any], str] | None:
    """(marker, current snapshot, cache folder) if the project-wide parts of the marker and
    the settings cache still hold."""
    settings = cached_settings(root)
    if settings is None:
        return None
    marker = read_marker(state_dir(root))
    if marker is None:
        return None
    snap = snapshot(root)
    for key in ("config", "git_index", "store", "pointers"):
        if snap[key] != marker.get(key):
            return None
    return marker, snap, os.fspath(cache_dir_of(root, settings[1]))


def clean_status(root: Path) -> list[EntryStatus] | None:
    """What ``assay data status`` (every tracked path, no remote) answers when every tracked
    path is as the marker saw it clean; None otherwise (no decision)."""
    found = _current(root)
    if found is None:
        return None
    marker, snap, cache_dir = found
    entries = marker.get("entries", {})
    rels = [p[: -len(POINTER_SUFFIX)] for p in snap["pointers"]]
    if not rels or set(rels) != set(entries):
        return None
    if not all(_valid_entry(root, rel, entries[rel], cache_dir) for rel in rels):
        return None
    return [EntryStatus(path=rel, name=str(entries[rel]["name"]), oid=str(entries[rel]["oid"]),
                        states=["ok"]) for rel in rels]


def unchanged_add(root: Path, raw: str) -> AddResult | None:
    """What ``assay data add RAW`` (no other option) answers when RAW is tracked data exactly
    as the marker saw it clean; None otherwise (no decision)."""
    path = Path(os.path.abspath(raw))
    try:
        rel = path.relative_to(root).as_posix()
    except ValueError:
        return None
    found = _current(root)
    if found is None:
        return None
    marker, snap, cache_dir = found
    entry = marker.get("entries", {}).get(rel)
    if entry is None or rel + POINTER_SUFFIX not in snap["pointers"]:
        return None
    if not _valid_entry(root, rel, entry, cache_dir):
        return None
    return AddResult(path=rel, pointer_file=rel + POINTER_SUFFIX, name=str(entry["name"]),
                     oid=str(entry["oid"]), size=int(entry["size"]), nfiles=int(entry["nfiles"]),
                     changed=False)
