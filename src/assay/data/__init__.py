"""Dataset versioning: add, status, checkout, unprotect, push, pull, log, diff, gc and fsck.

Data lives in the content-addressed cache (:mod:`assay.objects`); the workspace holds small
committed pointer files (``PATH.assay``) naming it by hash, and the metadata store records each
dataset version with its rows, schema and a light profile for tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay._lazy import lazy_attributes

if TYPE_CHECKING:
    from assay._layout import POINTER_SUFFIX
    from assay.data._checkout import CheckoutResult
    from assay.data._fresh import find_pointers
    from assay.data._history import (
        DatasetDiff,
        DatasetVersion,
        committed_versions,
        diff,
        pick,
        versions,
    )
    from assay.data._maintenance import (
        DEFAULT_GRACE_MINUTES,
        FsckResult,
        GcResult,
        RemoteFsckResult,
        fsck,
        fsck_remote,
        gc,
        roots,
    )
    from assay.data._pointer import (
        Pointer,
        data_path,
        not_pulled,
        pointer_path,
        read_pointer,
        write_pointer,
    )
    from assay.data._profile import TableProfile, is_tabular, profile_table
    from assay.data._protection import UnprotectResult, unprotect
    from assay.data._results import AddResult, EntryStatus
    from assay.data._settings import DataSettings
    from assay.data._stage_outs import StageOut, stage_outs
    from assay.data._transfer import pull, push
    from assay.data._workspace import Target, Workspace, add_paths

_LAZY: dict[str, str] = {
    "AddResult": "assay.data._results",
    "CheckoutResult": "assay.data._checkout",
    "DEFAULT_GRACE_MINUTES": "assay.data._maintenance",
    "DataSettings": "assay.data._settings",
    "DatasetDiff": "assay.data._history",
    "DatasetVersion": "assay.data._history",
    "EntryStatus": "assay.data._results",
    "FsckResult": "assay.data._maintenance",
    "GcResult": "assay.data._maintenance",
    "POINTER_SUFFIX": "assay._layout",
    "Pointer": "assay.data._pointer",
    "RemoteFsckResult": "assay.data._maintenance",
    "StageOut": "assay.data._stage_outs",
    "TableProfile": "assay.data._profile",
    "Target": "assay.data._workspace",
    "UnprotectResult": "assay.data._protection",
    "Workspace": "assay.data._workspace",
    "add_paths": "assay.data._workspace",
    "committed_versions": "assay.data._history",
    "data_path": "assay.data._pointer",
    "diff": "assay.data._history",
    "find_pointers": "assay.data._fresh",
    "fsck": "assay.data._maintenance",
    "fsck_remote": "assay.data._maintenance",
    "gc": "assay.data._maintenance",
    "is_tabular": "assay.data._profile",
    "not_pulled": "assay.data._pointer",
    "pick": "assay.data._history",
    "pointer_path": "assay.data._pointer",
    "profile_table": "assay.data._profile",
    "pull": "assay.data._transfer",
    "push": "assay.data._transfer",
    "read_pointer": "assay.data._pointer",
    "roots": "assay.data._maintenance",
    "stage_outs": "assay.data._stage_outs",
    "unprotect": "assay.data._protection",
    "versions": "assay.data._history",
    "write_pointer": "assay.data._pointer",
}

__all__ = [
    "DEFAULT_GRACE_MINUTES",
    "POINTER_SUFFIX",
    "AddResult",
    "CheckoutResult",
    "DataSettings",
    "DatasetDiff",
    "DatasetVersion",
    "EntryStatus",
    "FsckResult",
    "GcResult",
    "Pointer",
    "RemoteFsckResult",
    "StageOut",
    "TableProfile",
    "Target",
    "UnprotectResult",
    "Workspace",
    "add_paths",
    "committed_versions",
    "data_path",
    "diff",
    "find_pointers",
    "fsck",
    "fsck_remote",
    "gc",
    "is_tabular",
    "not_pulled",
    "pick",
    "pointer_path",
    "profile_table",
    "pull",
    "push",
    "read_pointer",
    "roots",
    "stage_outs",
    "unprotect",
    "versions",
    "write_pointer",
]

__getattr__, __dir__ = lazy_attributes("assay.data", _LAZY, __all__, globals())
