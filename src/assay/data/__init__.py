"""Dataset versioning: add, status, checkout, unprotect, push, pull, log, diff, gc and fsck.

Data lives in the content-addressed cache (:mod:`assay.objects`); the workspace holds small
committed pointer files (``PATH.assay``) naming it by hash, and the metadata store records each
dataset version with its rows, schema and a light profile for tables.
"""

from __future__ import annotations

from assay.data._checkout import CheckoutResult
from assay.data._history import DatasetDiff, DatasetVersion, diff, pick, versions
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
    POINTER_SUFFIX,
    Pointer,
    data_path,
    find_pointers,
    pointer_path,
    read_pointer,
    write_pointer,
)
from assay.data._profile import TableProfile, is_tabular, profile_table
from assay.data._protection import UnprotectResult, unprotect
from assay.data._settings import DataSettings
from assay.data._stage_outs import StageOut, stage_outs
from assay.data._transfer import pull, push
from assay.data._workspace import (
    AddResult,
    EntryStatus,
    Target,
    Workspace,
)

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
    "data_path",
    "diff",
    "find_pointers",
    "fsck",
    "fsck_remote",
    "gc",
    "is_tabular",
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
