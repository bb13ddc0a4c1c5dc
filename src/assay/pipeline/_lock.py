"""``assay.lock``: each stage's cache key, dep hashes, params and out hashes; written atomically.

The lock is committed with the code. It is JSON (sorted keys, one stage per block) so that a
diff shows what changed and reading it stays cheap on the no-op path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay._atomic import write_text_atomic
from assay._layout import lock_file
from assay.errors import ConfigError

LOCK_VERSION = 1


@dataclass(frozen=True)
class LockEntry:
    """What the last successful run of one stage recorded."""

    key: str
    definition: str  # hash of the resolved definition
    cmd: str | None
    deps: dict[str, str | None]
    params: dict[str, Any]
    outs: dict[str, str]  # out path -> cache object id
    out_hashes: dict[str, str] = field(default_factory=dict)  # out path -> content hash
    definition_body: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "definition": self.definition,
            "cmd": self.cmd,
            "deps": self.deps,
            "params": self.params,
            "outs": self.outs,
            "out_hashes": self.out_hashes,
            "resolved": self.definition_body,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LockEntry:
        return cls(
            key=str(data["key"]),
            definition=str(data.get("definition", "")),
            cmd=data.get("cmd"),
            deps=dict(data.get("deps") or {}),
            params=dict(data.get("params") or {}),
            outs=dict(data.get("outs") or {}),
            out_hashes=dict(data.get("out_hashes") or {}),
            definition_body=dict(data.get("resolved") or {}),
        )


def read_lock(root: Path, profile: str | None = None) -> dict[str, LockEntry]:
    """Stage name -> entry of ``assay.lock``, or of ``profile``'s own lock ({} when there is
    no lock file).

    Raises:
        ConfigError: the lock file is not valid JSON of the expected shape.
    """
    name = lock_file(profile)
    path = root / name
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(text)
        stages = data["stages"]
        return {name: LockEntry.from_json(entry) for name, entry in stages.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        if profile is not None and name != lock_file(None):
            return {}  # local state that only saves work (see write_lock): the stages rerun
        raise ConfigError(
            f"{name} is corrupt ({exc}); restore it from git or delete it to rerun "
            "every stage",
            file=name,
        ) from None


_ENTRY_TEXT: dict[int, tuple[LockEntry, str]] = {}


def _entry_text(entry: LockEntry) -> str:
    """``entry`` as it appears inside the lock file (memoised: entries are immutable, and a run
    rewrites the lock after every group of finished stages)."""
    known = _ENTRY_TEXT.get(id(entry))
    if known is not None and known[0] is entry:
        return known[1]
    text = _pretty(entry.to_json(), "    ")
    _ENTRY_TEXT[id(entry)] = (entry, text)
    return text


def _pretty(value: Any, indent: str) -> str:
    """``json.dumps(value, indent=2, sort_keys=True)`` nested at ``indent``, with the C
    encoder for every leaf (the pure-Python indenting encoder is several times slower)."""
    inner = indent + "  "
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{json.dumps(str(k))}: {_pretty(value[k], inner)}"
                 for k in sorted(value)]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        return "[\n" + ",\n".join(inner + _pretty(v, inner) for v in value) + "\n" + indent + "]"
    return json.dumps(value)


def render_lock(entries: dict[str, LockEntry]) -> str:
    """The lock file's text: ``json.dumps(body, indent=2, sort_keys=True)`` plus a newline."""
    if not entries:
        return json.dumps({"stages": {}, "version": LOCK_VERSION}, indent=2) + "\n"
    stages = ",\n".join(
        f"    {json.dumps(name)}: {_entry_text(entries[name])}" for name in sorted(entries)
    )
    live = {id(e) for e in entries.values()}
    for key in [k for k in _ENTRY_TEXT if k not in live]:
        del _ENTRY_TEXT[key]
    return f'{{\n  "stages": {{\n{stages}\n  }},\n  "version": {LOCK_VERSION}\n}}\n'


def write_lock(root: Path, entries: dict[str, LockEntry], profile: str | None = None) -> None:
    """Replace the lock file atomically (temp file, fsync, rename, fsync dir).

    A profile's own lock is local state that only saves work, like the run cache's index: it
    is replaced atomically but not synced (a run rewrites it every ``LOCK_FLUSH_SECONDS``), and
    one a crash left unreadable reads as empty, so its stages are restored or rerun."""
    name = lock_file(profile)
    path = root / name
    durable = name == lock_file(None)
    if not durable:
        path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, render_lock(entries), durable=durable)
