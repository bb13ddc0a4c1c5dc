"""Byte-reproducible skops files: the same model always gives the same bytes.

skops names the arrays it stores after ``id()`` of the objects (``140139980374928.npy``),
records those ids as ``__id__`` in ``schema.json`` for memoisation, names raw byte blobs with
random UUIDs, and stamps every zip member with the current time. None of that is part of the
model, but all of it changes the package's content hash, so two runs on the same inputs would
never produce the same object.

:func:`canonicalize_skops` rewrites a file in place with the same structure and content:
ids are renumbered 1, 2, ... and member files ``1.npy``, ``2.bin``, ... in the order they first
appear in the schema (a bijection, so which nodes share an object is preserved), and every
member gets the zip epoch as its timestamp.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from assay.errors import ModelError

_SCHEMA = "schema.json"
_EPOCH = (1980, 1, 1, 0, 0, 0)


class _Renumber:
    """Walks a skops schema, mapping ``__id__`` values and member file names to sequence numbers."""

    def __init__(self, members: set[str]) -> None:
        self.members = members
        self.ids: dict[int, int] = {}
        self.files: dict[str, str] = {}

    def file_name(self, old: str) -> str:
        if old not in self.files:
            suffix = Path(old).suffix
            self.files[old] = f"{len(self.files) + 1}{suffix}"
        return self.files[old]

    def walk(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "__id__" and isinstance(value, int) and not isinstance(value, bool):
                # skops treats a falsy id as "no id", so numbering starts at 1
                out[key] = self.ids.setdefault(value, len(self.ids) + 1)
            elif key == "file" and isinstance(value, str) and value in self.members:
                out[key] = self.file_name(value)
            else:
                out[key] = self.walk(value)
        return out


def canonicalize_skops(path: Path) -> None:
    """Rewrite the skops file at ``path`` into its canonical, reproducible form (atomically).

    Raises:
        ModelError: the file is not a skops archive.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            members = {info.filename: archive.read(info) for info in infos}
            compression = infos[0].compress_type if infos else zipfile.ZIP_STORED
    except (OSError, zipfile.BadZipFile) as exc:
        raise ModelError(f"Cannot read {path.name} back as a skops archive: {exc}") from None
    if _SCHEMA not in members:
        raise ModelError(f"{path.name} has no {_SCHEMA}; it is not a skops file")
    renumber = _Renumber(set(members) - {_SCHEMA})
    schema = renumber.walk(json.loads(members[_SCHEMA]))
    unreferenced = sorted(set(members) - {_SCHEMA} - set(renumber.files))
    for old in unreferenced:  # not expected from skops; kept so nothing is ever dropped
        renumber.file_name(old)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for old, new in renumber.files.items():
            archive.writestr(_member(new, compression), members[old])
        archive.writestr(_member(_SCHEMA, compression), json.dumps(schema, indent=2))
    tmp = path.with_name(f".{path.name}.canonical")
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(path)


def _member(name: str, compression: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.compress_type = compression
    info.external_attr = 0o644 << 16
    return info
