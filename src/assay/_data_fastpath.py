"""The fast path of ``assay data status`` and of re-adding unchanged data.

A full ``assay data status`` that finds every tracked path clean, and every ``assay data add``,
leave a marker (``.assay/data-fresh.json``): the hash of assay.yaml, the set of pointer files,
and per tracked path the stat of its pointer file, a stat signature of its data (every file's
inode, size, mtime_ns and mode) and the objects it consists of. When nothing of that changed
and every object is still in the cache, the answer is the one the full path gave, so the
console script answers from the marker without loading pydantic, SQLAlchemy or the CLI
framework. Any doubt (a changed stat, a missing object, a new pointer file, another option)
means "no decision" and the full command runs.

Only the standard library and blake3 are imported here: this module runs before everything
else. The walk that finds pointer files lives here too, so the full path and the fast path
can never disagree about which paths are tracked.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

MARKER = "data-fresh.json"
POINTER_SUFFIX = ".assay"
SKIP_DIRS = frozenset({".git", ".assay", ".venv", ".venv-bench", "node_modules", "__pycache__"})
_VERSION = 1
_OFF = "ASSAY_NO_FASTPATH"


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


def config_hash(root: Path) -> str | None:
    import blake3

    try:
        return str(blake3.blake3((root / "assay.yaml").read_bytes()).hexdigest())
    except OSError:
        return None


def snapshot(root: Path, pointers: list[Path] | None = None) -> dict[str, Any]:
    """What the marker's validity rests on: assay.yaml, git's index, the set of pointer files
    (``pointers`` when the caller has just walked for them, else walked here)."""
    found = find_pointers(root) if pointers is None else pointers
    return {
        "version": _VERSION,
        "config": config_hash(root),
        "git_index": _stat_list(root / ".git" / "index"),
        "pointers": sorted({p.relative_to(root).as_posix() for p in found}),
    }


def entry_for(root: Path, rel: str, *, oid: str, name: str, objects: list[str],
              signature: list[Any] | None) -> dict[str, Any]:
    """The marker entry of one clean tracked path (``signature`` taken before it was checked)."""
    return {"pointer": _stat_list(root / (rel + POINTER_SUFFIX)), "sig": signature, "oid": oid,
            "name": name, "objects": objects}


def _path(state_dir: Path) -> Path:
    return state_dir / MARKER


def read_marker(state_dir: Path) -> dict[str, Any] | None:
    try:
        marker = json.loads(_path(state_dir).read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) and marker.get("version") == _VERSION else None


def write_marker(state_dir: Path, snap: dict[str, Any], entries: dict[str, dict[str, Any]], *,
                 cache_dir: Path, replace_all: bool,
                 settings: tuple[str | None, dict[str, Any]] | None = None) -> None:
    """Record ``entries`` (rel path -> entry) under ``snap``; keep other still-valid entries
    unless ``replace_all``. ``settings`` is (assay.yaml hash, the data settings read from it),
    kept only while that hash is the snapshot's. Best effort: the marker only saves time, so
    errors are ignored."""
    from assay._atomic import write_text_atomic

    old = read_marker(state_dir)
    kept: dict[str, Any] = {}
    same_config = old is not None and old.get("config") == snap["config"]
    if old is not None and not replace_all and same_config:
        tracked = {p[: -len(POINTER_SUFFIX)] for p in snap["pointers"]}
        kept = {k: v for k, v in old.get("entries", {}).items() if k in tracked}
    kept.update(entries)
    body = {**snap, "cache_dir": os.fspath(cache_dir), "entries": kept}
    if settings is not None and settings[0] is not None and settings[0] == snap["config"]:
        body["settings"] = settings[1]
    elif old is not None and same_config and "settings" in old:
        body["settings"] = old["settings"]
    with contextlib.suppress(OSError):
        state_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(_path(state_dir), json.dumps(body), durable=False)


# -- the fast path ------------------------------------------------------------------------


def _root() -> Path | None:
    env = os.environ.get("ASSAY_PROJECT")
    here = (Path(env) if env else Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "assay.yaml").is_file():
            return candidate
    return None


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


def _current(root: Path) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(marker, current snapshot) if the project-wide parts of the marker still hold."""
    marker = read_marker(root / ".assay")
    if marker is None:
        return None
    snap = snapshot(root)
    for key in ("config", "git_index", "pointers"):
        if snap[key] != marker.get(key):
            return None
    return marker, snap


def _status(root: Path, as_json: bool) -> int | None:
    found = _current(root)
    if found is None:
        return None
    marker, snap = found
    entries = marker.get("entries", {})
    rels = [p[: -len(POINTER_SUFFIX)] for p in snap["pointers"]]
    if not rels or set(rels) != set(entries):
        return None
    cache_dir = str(marker.get("cache_dir", ""))
    if not all(_valid_entry(root, rel, entries[rel], cache_dir) for rel in rels):
        return None
    if as_json:
        body = [{"name": entries[r]["name"], "oid": entries[r]["oid"], "path": r,
                 "reason": None, "states": ["ok"]} for r in rels]
        sys.stdout.write(json.dumps(body, indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write("".join(f"{'ok':>22}  {r}\n" for r in rels) + "everything up to date\n")
    sys.stdout.flush()
    return 0


def _add(root: Path, raw: str) -> int | None:
    if raw.startswith("-"):
        return None
    path = Path(os.path.abspath(raw))
    try:
        rel = path.relative_to(root).as_posix()
    except ValueError:
        return None
    found = _current(root)
    if found is None:
        return None
    marker, snap = found
    entry = marker.get("entries", {}).get(rel)
    if entry is None or rel + POINTER_SUFFIX not in snap["pointers"]:
        return None
    if not _valid_entry(root, rel, entry, str(marker.get("cache_dir", ""))):
        return None
    sys.stdout.write(f"unchanged {rel} ({str(entry['oid'])[:12]})\n")
    sys.stdout.flush()
    return 0


def try_fast(args: list[str]) -> int | None:
    """An exit code when ``assay <args>`` was answered from the marker, else None."""
    if os.environ.get(_OFF):
        return None
    root = _root()
    if root is None:
        return None
    try:
        if args in (["data", "status"], ["data", "status", "--json"]):
            return _status(root, as_json=len(args) == 3)
        if args[:2] == ["data", "add"]:
            code = _add(root, args[2]) if len(args) == 3 else None
            if code is not None:
                return code
            from assay._lean_add import try_add

            return try_add(root, args[2:])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return None
