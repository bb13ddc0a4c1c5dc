"""The one path choke point (RELIABILITY.md rule 1).

Every path that comes from outside (CLI argument, pointer file, manifest entry, URL, JSON
field, model metadata) goes through :func:`resolve_inside` before it is read or written.
Handlers never validate paths themselves.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

from assay.errors import UsageError

_FORBIDDEN_PARTS = {"..", ".git", ".assay"}


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in text)


def clean_relative(raw: str, *, what: str = "path") -> PurePosixPath:
    """Validate a relative, forward-slash path from outside and return it normalised.

    Decodes percent-escapes fully, then rejects absolute paths, ``..``, ``.git``, backslashes,
    NUL and control characters.

    Raises:
        UsageError: the path is unsafe, naming what was wrong.
    """
    decoded = raw
    for _ in range(4):  # "%252e%252e" decodes twice; stop when stable
        nxt = unquote(decoded)
        if nxt == decoded:
            break
        decoded = nxt
    if not decoded or decoded.strip() == "":
        raise UsageError(f"Empty {what}", path=raw)
    if "\x00" in decoded or _has_control(decoded):
        raise UsageError(f"Unsafe {what} {raw!r}: contains control characters", path=raw)
    if "\\" in decoded:
        raise UsageError(f"Unsafe {what} {raw!r}: backslashes are not allowed", path=raw)
    if decoded.startswith("/") or (len(decoded) > 1 and decoded[1] == ":"):
        raise UsageError(f"Unsafe {what} {raw!r}: absolute paths are not allowed", path=raw)
    parts = [p for p in decoded.split("/") if p not in ("", ".")]
    if not parts:
        raise UsageError(f"Empty {what}", path=raw)
    bad = _FORBIDDEN_PARTS.intersection(parts)
    if bad:
        raise UsageError(f"Unsafe {what} {raw!r}: '{sorted(bad)[0]}' is not allowed", path=raw)
    return PurePosixPath(*parts)


def resolve_inside(root: Path, raw: str | os.PathLike[str], *, what: str = "path") -> Path:
    """Join an outside path to ``root`` and require the result (symlinks resolved) to stay inside.

    ``raw`` may be absolute only if it already points inside ``root`` (a CLI argument such as
    ``$PWD/data/x.csv``). Relative paths are validated by :func:`clean_relative`.

    Raises:
        UsageError: the path escapes ``root``, or is unsafe.
    """
    root_resolved = root.resolve()
    text = os.fspath(raw)
    candidate = Path(text)
    if candidate.is_absolute():
        resolved = candidate.resolve()
    else:
        rel = clean_relative(text, what=what)
        resolved = (root_resolved / Path(*rel.parts)).resolve()
    if resolved != root_resolved and root_resolved not in resolved.parents:
        raise UsageError(
            f"{what.capitalize()} {text!r} is outside the project {root_resolved}", path=text
        )
    inside = resolved.relative_to(root_resolved)
    if inside.parts and inside.parts[0] == ".git":
        raise UsageError(f"Refusing to touch {text!r}: it is inside .git", path=text)
    return resolved


def relative_posix(root: Path, path: Path) -> str:
    """Return ``path`` relative to ``root`` as a forward-slash string."""
    return path.resolve().relative_to(root.resolve()).as_posix()
