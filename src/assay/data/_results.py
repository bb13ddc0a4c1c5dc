"""What ``assay data add`` and ``assay data status`` answer, per path: plain records that the
full commands and the shortcuts (:mod:`assay.data._fresh`) build alike and the command front
(:mod:`assay.cli._front`) prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class AddResult:
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
    skipped_links: list[str] = field(default_factory=list)
    """Symlinks inside the folder that were not followed (so not versioned)."""
    quarantined: list[str] = field(default_factory=list)
    """Objects of the previous version that were edited in place through a link."""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class EntryStatus:
    """The state of one tracked path."""

    path: str
    name: str
    oid: str
    states: list[str] = field(default_factory=list)
    reason: str | None = None
    """Why the pointer is ``corrupt_pointer`` (one line), else None."""

    @property
    def is_clean(self) -> bool:
        return self.states == ["ok"]

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "name": self.name, "oid": self.oid, "states": self.states,
                "reason": self.reason}
