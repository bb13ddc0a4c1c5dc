"""Push and pull of tracked data, and of the pipeline's stage outs, between cache and remote.

Without explicit paths both also carry every stage out recorded in ``assay.lock`` (as ``dvc
push`` does), so a fresh clone can restore cached stages instead of re-running them: ``assay
data pull`` fills the cache and ``assay run`` then restores the outs. Stage outs are optional
freight: one that is not in the local cache (push) or not on the remote (pull) is listed in
``Transfer.unavailable`` rather than failing the transfer.

A pull records each dataset version it fetched in the store (once per name and hash), so the
data of another branch that was pulled here stays referenced: ``assay gc`` keeps it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assay.data._checkout import CheckoutResult
from assay.data._stage_outs import StageOut, stage_outs
from assay.data._workspace import Target, Workspace
from assay.errors import StoreError

if TYPE_CHECKING:
    from assay.objects import ProgressFn, Remote, Transfer


def push(
    workspace: Workspace,
    remote: Remote,
    targets: list[str] | None = None,
    *,
    jobs: int | None = None,
    progress: ProgressFn | None = None,
    verify: bool = False,
) -> Transfer:
    """Upload the objects of the tracked paths (all, or ``targets``) the remote lacks or has a
    bad copy of, with the earlier versions their pointers' history names that the local cache
    holds; every upload is hash-checked first.

    Without ``targets`` the stage outs in ``assay.lock`` that are in the local cache go too.
    ``verify`` re-hashes the remote's copies of all of them too and replaces bad ones (see
    :meth:`Remote.push`).

    Raises:
        ObjectNotFound: a tracked object is not in the local cache.
        CorruptObject: a local object is corrupt: it is quarantined, not pushed.
        RemoteError: the remote is unreachable or refuses us.
        ConfigError: assay.lock is corrupt.
    """
    found = workspace.targets(targets)
    oids = [t.pointer.oid for t in found]
    outs = _stage_outs(workspace, targets)
    present = [o for o in outs if workspace.has_all(o.oid)]
    # the earlier versions a pointer's history names, when this cache has them: a reference
    # to one (name@v1) in another clone is fetched from the remote
    earlier = [o for o in dict.fromkeys(h.oid for t in found for h in t.pointer.history)
               if o not in oids and workspace.has_all(o)]
    with workspace.cache.writing():  # what is pushed stays in the cache meanwhile
        result = remote.push(workspace.cache, [*oids, *earlier, *(o.oid for o in present)],
                             jobs=jobs, progress=progress, verify=verify)
    result.unavailable = [o.path for o in outs if o not in present]
    _event(workspace, "data.push", remote, result.as_dict(),
           [*(t.rel for t in found), *(o.path for o in present)])
    return result


def pull(
    workspace: Workspace,
    remote: Remote,
    targets: list[str] | None = None,
    *,
    jobs: int | None = None,
    progress: ProgressFn | None = None,
    checkout: bool = True,
    force: bool = False,
) -> tuple[Transfer, CheckoutResult | None]:
    """Download what the cache lacks for the tracked paths, then check them out.

    Every download is hash-verified before it enters the cache; a re-run after an
    interruption fetches only what is still missing. Without ``targets`` the stage outs in
    ``assay.lock`` that the remote has are fetched into the cache too (not checked out:
    ``assay run`` restores them when their stage's key matches).

    Raises:
        ObjectNotFound: an object is neither in the cache nor on the remote.
        CorruptObject: a download did not match its hash (nothing bad is stored).
        RemoteError: the remote is unreachable or refuses us.
        DataError: checkout would overwrite a modified workspace path (use ``force``).
        PointerError: a pointer file is corrupt or contradicts its object.
        ConfigError: assay.lock is corrupt.
    """
    found = workspace.targets(targets)
    outs = [o for o in _stage_outs(workspace, targets) if not workspace.has_all(o.oid)]
    with workspace.locked():
        absent = set(remote.missing(o.oid for o in outs)) if outs else set()
        pullable = [o for o in outs if o.oid not in absent]
        result = remote.pull(
            workspace.cache, [*(t.pointer.oid for t in found), *(o.oid for o in pullable)],
            jobs=jobs, progress=progress,
        )
        _remember(workspace, remote, [t for t in found if workspace.has_all(t.pointer.oid)])
    result.unavailable = [o.path for o in outs if o.oid in absent]
    done = workspace.checkout(targets, force=force) if checkout else None
    _event(workspace, "data.pull", remote, result.as_dict(),
           [*(t.rel for t in found), *(o.path for o in pullable)])
    return result, done


def _remember(workspace: Workspace, remote: Remote, pulled: list[Target]) -> None:
    """Record the dataset versions just pulled, so gc keeps them after a branch switch."""
    try:
        for t in pulled:
            workspace.remember_version(t, message=f"pulled from remote '{remote.name}'")
    except StoreError:
        # The data is complete in the cache; a store we cannot write (read-only credentials,
        # unreachable) must not fail the pull. Only gc's knowledge of this version is lost.
        return


def _stage_outs(workspace: Workspace, targets: list[str] | None) -> list[StageOut]:
    if targets:
        return []
    unique: dict[str, StageOut] = {}
    for out in stage_outs(workspace.root):
        unique.setdefault(out.oid, out)
    return list(unique.values())


def _event(
    workspace: Workspace, kind: str, remote: Remote, details: dict[str, Any], paths: list[str]
) -> None:
    if not details.get("transferred"):
        return
    try:
        workspace.store.record_event(
            kind, remote.name, {**details, "remote": remote.url, "paths": paths}
        )
    except StoreError:
        # The transfer itself succeeded and is complete; the audit record is best effort here.
        return
