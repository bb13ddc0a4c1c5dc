"""Hash large files named on the command line while the rest of assay loads.

``assay data add BIG_FILE`` in a link mode spends most of its time in BLAKE3, which releases the
GIL. :func:`start` begins that hash on a background thread as soon as the command line is
parsed, so the imports, the project lock and the checks run alongside it; :func:`take` hands
the digest to :func:`assay.objects._hashing.hash_file` when the add reaches the file.

A digest is handed over only for the exact file it was computed from: same device, inode, size,
mtime and ctime before and after hashing and at the time it is taken. Anything else (the file
was edited, replaced or is another file) means the caller hashes the file itself. Standard
library and blake3 only: this runs before the data layer is imported.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

MIN_BYTES = 64 * 1024 * 1024
"""Smaller files hash in a few milliseconds; a thread would not pay for itself."""

_Key = tuple[int, int, int, int, int]
_lock = threading.Lock()
_running: dict[str, tuple[_Key, threading.Thread, list[str]]] = {}


def is_worth_starting(cache_types: Sequence[str]) -> bool:
    """True if an add in a project with these cache types hardlinks files into the cache: the
    file is then hashed before (not while) it is stored, so hashing ahead saves its time."""
    return next((t for t in cache_types if t != "reflink"), None) == "hardlink"


def _key(st: os.stat_result) -> _Key:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _hash(path: str, before: _Key, out: list[str]) -> None:
    import blake3

    try:
        hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
        hasher.update_mmap(path)
        digest = hasher.hexdigest()
        if _key(os.stat(path)) == before:
            out.append(digest)
    except (OSError, ValueError):
        pass  # the add reads the file itself and reports any problem


def start(raw: str) -> bool:
    """Begin hashing ``raw`` if it is a regular file of at least :data:`MIN_BYTES`."""
    path = os.path.realpath(raw)
    try:
        st = os.stat(path)
    except OSError:
        return False
    if not os.path.isfile(path) or st.st_size < MIN_BYTES:
        return False
    out: list[str] = []
    thread = threading.Thread(target=_hash, args=(path, _key(st), out), daemon=True,
                              name="assay-prehash")
    with _lock:
        if path in _running:
            return True
        _running[path] = (_key(st), thread, out)
    thread.start()
    return True


def take(raw: str | os.PathLike[str], st: os.stat_result) -> str | None:
    """The digest started for this exact file (``st`` is its stat now), else None."""
    if not _running:
        return None
    with _lock:
        found = _running.pop(os.path.realpath(raw), None)
    if found is None:
        return None
    key, thread, out = found
    if key != _key(st):
        return None
    thread.join()
    return out[0] if out else None
