"""Content-addressed objects: BLAKE3 hashing, the local cache, stat cache, workspace links, remotes.

Objects are immutable bytes named by their BLAKE3 hash; a directory is a manifest object
``<hash>.dir`` listing (path, oid, size, mode). Nothing stored is ever silently overwritten and
every read can be verified. The stat cache (:class:`StateDB`) keeps unchanged files from being
rehashed; :func:`hash_tree` says what a path would be stored as without storing it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay._lazy import lazy_attributes

if TYPE_CHECKING:
    from assay.objects._cache import (
        DIR_SUFFIX,
        AddMode,
        LocalCache,
        ManifestEntry,
        Stored,
        manifest_bytes,
        parse_manifest,
        sync_all,
    )
    from assay.objects._cache_lock import collecting
    from assay.objects._faults import local_fault
    from assay.objects._hashing import hash_bytes, hash_file, is_object_id
    from assay.objects._leftovers import Leftover, cache_leftovers
    from assay.objects._links import link_or_copy, make_readonly
    from assay.objects._remote import ProgressFn, Remote, Transfer, remote_for
    from assay.objects._state import StateDB
    from assay.objects._tree import (
        TreeScan,
        add_tree,
        choose_add_mode,
        hash_tree,
        scan_tree,
        tree_entries,
    )
    from assay.objects._walk import cache_link_stat, file_mode, walk_files

_LAZY: dict[str, str] = {
    "AddMode": "assay.objects._cache",
    "DIR_SUFFIX": "assay.objects._cache",
    "Leftover": "assay.objects._leftovers",
    "LocalCache": "assay.objects._cache",
    "ManifestEntry": "assay.objects._cache",
    "ProgressFn": "assay.objects._remote",
    "Remote": "assay.objects._remote",
    "StateDB": "assay.objects._state",
    "Stored": "assay.objects._cache",
    "Transfer": "assay.objects._remote",
    "TreeScan": "assay.objects._tree",
    "add_tree": "assay.objects._tree",
    "cache_leftovers": "assay.objects._leftovers",
    "cache_link_stat": "assay.objects._walk",
    "choose_add_mode": "assay.objects._tree",
    "collecting": "assay.objects._cache_lock",
    "file_mode": "assay.objects._walk",
    "hash_bytes": "assay.objects._hashing",
    "hash_file": "assay.objects._hashing",
    "hash_tree": "assay.objects._tree",
    "is_object_id": "assay.objects._hashing",
    "link_or_copy": "assay.objects._links",
    "local_fault": "assay.objects._faults",
    "make_readonly": "assay.objects._links",
    "manifest_bytes": "assay.objects._cache",
    "parse_manifest": "assay.objects._cache",
    "remote_for": "assay.objects._remote",
    "scan_tree": "assay.objects._tree",
    "sync_all": "assay.objects._cache",
    "tree_entries": "assay.objects._tree",
    "walk_files": "assay.objects._walk",
}

__all__ = [
    "DIR_SUFFIX",
    "AddMode",
    "Leftover",
    "LocalCache",
    "ManifestEntry",
    "ProgressFn",
    "Remote",
    "StateDB",
    "Stored",
    "Transfer",
    "TreeScan",
    "add_tree",
    "cache_leftovers",
    "cache_link_stat",
    "choose_add_mode",
    "collecting",
    "file_mode",
    "hash_bytes",
    "hash_file",
    "hash_tree",
    "is_object_id",
    "link_or_copy",
    "local_fault",
    "make_readonly",
    "manifest_bytes",
    "parse_manifest",
    "remote_for",
    "scan_tree",
    "sync_all",
    "tree_entries",
    "walk_files",
]

__getattr__, __dir__ = lazy_attributes("assay.objects", _LAZY, __all__, globals())
