"""BLAKE3 hashing of bytes and files; large files are hashed with several threads over mmap."""

from __future__ import annotations

import os
import re
from pathlib import Path

import blake3

from assay.objects import _prehash as prehash

CHUNK = 8 * 1024 * 1024
MMAP_THRESHOLD = 4 * 1024 * 1024
HASH_HEX_LEN = 64


def new_hasher() -> blake3.blake3:
    return blake3.blake3(max_threads=blake3.blake3.AUTO)


def hash_bytes(data: bytes) -> str:
    """The BLAKE3 hex digest of ``data``."""
    return blake3.blake3(data).hexdigest()


def hash_file(path: Path | str) -> str:
    """The BLAKE3 hex digest of a file's contents (multi-threaded mmap for large files).

    A digest begun by the console script for this exact file (:mod:`assay.objects._prehash`) is used.
    """
    st = os.stat(path)
    size = st.st_size
    early = prehash.take(path, st) if size >= prehash.MIN_BYTES else None
    if early is not None:
        return early
    if size >= MMAP_THRESHOLD:
        hasher = new_hasher()
        hasher.update_mmap(os.fspath(path))
        return hasher.hexdigest()
    with open(path, "rb") as handle:
        return blake3.blake3(handle.read()).hexdigest()


_OBJECT_ID = re.compile(r"[0-9a-f]{64}(?:\.dir)?")


def is_object_id(text: str) -> bool:
    """True if ``text`` looks like an object id (``<64 hex>`` or ``<64 hex>.dir``)."""
    return isinstance(text, str) and _OBJECT_ID.fullmatch(text) is not None
