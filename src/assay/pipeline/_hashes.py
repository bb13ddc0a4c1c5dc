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
        self._memo: dict[str, str | None] = {}

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
        if not os.path.lexists(path):
            return None
        return hash_tree(path, state=self.state).oid

    def save(self) -> None:
        """Release the stat cache (entries are written as they are learnt)."""
        if self._state is not None:
            self._state.close()
            self._state = None
