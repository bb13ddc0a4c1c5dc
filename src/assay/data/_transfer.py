"""Push and pull of tracked data between the local cache and a remote."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assay.data._workspace import CheckoutResult, Workspace
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
) -> Transfer:
    """Upload the objects of the tracked paths (all, or ``targets``) the remote lacks.

    Raises:
        ObjectNotFound: a tracked object is not in the local cache.
        RemoteError: the remote is unreachable or refuses us.
    """
    found = workspace.targets(targets)
    oids = [t.pointer.oid for t in found]
    result = remote.push(workspace.cache, oids, jobs=jobs, progress=progress)
    _event(workspace, "data.push", remote, result.as_dict(), [t.rel for t in found])
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
    interruption fetches only what is still missing.

    Raises:
        ObjectNotFound: an object is neither in the cache nor on the remote.
        CorruptObject: a download did not match its hash (nothing bad is stored).
        RemoteError: the remote is unreachable or refuses us.
        DataError: checkout would overwrite a modified workspace path (use ``force``).
    """
    found = workspace.targets(targets)
    with workspace.locked():
        result = remote.pull(
            workspace.cache, [t.pointer.oid for t in found], jobs=jobs, progress=progress
        )
    done = workspace.checkout(targets, force=force) if checkout else None
    _event(workspace, "data.pull", remote, result.as_dict(), [t.rel for t in found])
    return result, done


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
