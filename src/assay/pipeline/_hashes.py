"""Content hashes of deps and outs through the objects stat cache (``.assay/state.db``), so
unchanged files are never rehashed. A directory hashes to the ``<hash>.dir`` id the cache gives
it, so a dep hash and an out's object id agree.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assay.objects import StateDB


class StatCache:
    """Hashes paths under ``root`` with :func:`assay.objects.hash_tree` and a shared StateDB."""

    def __init__(self, root: Path, path: Path) -> None:
        self.root = root
        self.path = path
        self._state: StateDB | None = None
        self._learnt: dict[str, tuple[os.stat_result, str]] = {}

    @property
    def state(self) -> StateDB:
        if self._state is None:
            from assay.objects import StateDB

            self._state = StateDB(self.path)
        return self._state

    def hash_path(self, rel: str) -> str | None:
        """The content hash (object id) of file or directory ``rel``; None if it is missing."""
        from assay.objects import hash_tree

        path = self.root / rel
        learnt = self._learnt.get(rel)
        if learnt is not None:
            try:
                st = os.stat(path)
            except OSError:
                return None
            if _same(st, learnt[0]):
                return learnt[1]
        if not os.path.lexists(path):
            return None
        return hash_tree(path, state=self.state).oid

    def learn(self, rel: str, oid: str) -> None:
        """Remember that file ``rel`` (as it is now) hashes to ``oid``: it was just stored.

        Saved to the stat cache in one transaction by :meth:`flush`.
        """
        try:
            self._learnt[rel] = (os.stat(self.root / rel), oid)
        except OSError:
            self._learnt.pop(rel, None)

    def flush(self) -> None:
        """Write what :meth:`learn` remembered to the stat cache."""
        if self._learnt:
            self.state.record(
                (os.fspath(self.root / rel), st, oid) for rel, (st, oid) in self._learnt.items()
            )
            self._learnt = {}

    def save(self) -> None:
        """Flush, and release the stat cache (entries are written as they are learnt)."""
        self.flush()
        if self._state is not None:
            self._state.close()
            self._state = None


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_ino, a.st_size, a.st_mtime_ns) == (b.st_ino, b.st_size, b.st_mtime_ns)
