"""Content-addressed objects: BLAKE3 hashing, the local cache, workspace links, remotes.

Objects are immutable bytes named by their BLAKE3 hash; a directory is a manifest object
``<hash>.dir`` listing (path, oid, size, mode). Nothing stored is ever silently overwritten and
every read can be verified.
"""

from __future__ import annotations

from assay.objects._cache import DIR_SUFFIX, LocalCache, ManifestEntry, Stored
from assay.objects._hashing import hash_bytes, hash_file, is_object_id
from assay.objects._links import link_or_copy, make_readonly

__all__ = [
    "DIR_SUFFIX",
    "LocalCache",
    "ManifestEntry",
    "Stored",
    "hash_bytes",
    "hash_file",
    "is_object_id",
    "link_or_copy",
    "make_readonly",
]
