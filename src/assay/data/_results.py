"""What ``assay data add`` and ``assay data status`` answer, per path: plain records that the
full commands and the shortcuts (:mod:`assay.data._fresh`) build alike and the command front
(:mod:`assay.cli._front`) prints. Named tuples, not dataclasses: the shortcuts load this module
and ``dataclasses`` costs them several milliseconds of start-up."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple


class AddResult(NamedTuple):
    """What ``assay data add`` did."""

    path: str
    pointer_file: str
    name: str
    oid: str
    size: int
    nfiles: int
    changed: bool
    version: int | None = None
    rows: int | None = None
    mode: str = "copy"
    skipped_links: Sequence[str] = ()
    """Symlinks inside the folder that were not followed (so not versioned)."""
    quarantined: Sequence[str] = ()
    """Objects of the previous version that were edited in place through a link."""
    recorded: bool = False
    """The data was unchanged but this store lacked its version: it is recorded now."""

    def as_dict(self) -> dict[str, Any]:
        return {**self._asdict(), "skipped_links": list(self.skipped_links),
                "quarantined": list(self.quarantined)}


class EntryStatus(NamedTuple):
    """The state of one tracked path (``states`` grows while ``assay data status`` checks)."""

    path: str
    name: str
    oid: str
    states: list[str]
    reason: str | None = None
    """Why the pointer is ``corrupt_pointer`` (one line), else None."""

    @property
    def is_clean(self) -> bool:
        return self.states == ["ok"]

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "name": self.name, "oid": self.oid, "states": self.states,
                "reason": self.reason}
