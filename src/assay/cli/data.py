"""``assay data ...`` (versioned data) and the top-level ``assay gc`` and ``assay fsck``."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import typer

from assay.cli import _context as ctx
from assay.cli._front import DATA_ADD, DATA_STATUS, print_add, print_status, size_text

if TYPE_CHECKING:
    from assay.data import Workspace
    from assay.objects import ProgressFn

data_app = typer.Typer(help="Version data: add, status, checkout, unprotect, push, pull, log, diff.",
                       no_args_is_help=True)

JSON_OPT = typer.Option(False, "--json", help="Machine-readable output.")


def _workspace() -> Workspace:
    from assay.data import Workspace

    return Workspace(ctx.project())


@contextlib.contextmanager
def _progress(label: str, enabled: bool) -> Iterator[ProgressFn | None]:
    """A rich progress bar on stderr when interactive; nothing otherwise."""
    if not enabled or not ctx.is_interactive():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=ctx.err_console(), transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@data_app.command("add")
def add(
    paths: list[str] = typer.Argument(..., help="Files or folders to version."),
    name: str | None = typer.Option(None, *DATA_ADD.flags("name"), help=DATA_ADD.help("name")),
    message: str | None = typer.Option(None, *DATA_ADD.flags("message"),
                                       help=DATA_ADD.help("message")),
    json_out: bool = typer.Option(False, *DATA_ADD.flags("json_out"),
                                  help=DATA_ADD.help("json_out")),
) -> None:
    """Version data: store it in the cache, write PATH.assay (commit it), record the version.

    Example: assay data add data/churn.parquet
    """
    from assay.data import DataSettings, add_paths

    started = time.perf_counter()
    results = add_paths(DataSettings.of(ctx.project()), paths, name=name, message=message)
    print_add(results, time.perf_counter() - started, as_json=json_out)


@data_app.command("status")
def status(
    targets: list[str] = typer.Argument(None, help="Tracked paths (default: all)."),
    remote: bool = typer.Option(False, *DATA_STATUS.flags("remote"),
                                help=DATA_STATUS.help("remote")),
    remote_name: str | None = typer.Option(None, *DATA_STATUS.flags("remote_name"),
                                           help=DATA_STATUS.help("remote_name")),
    json_out: bool = typer.Option(False, *DATA_STATUS.flags("json_out"),
                                  help=DATA_STATUS.help("json_out")),
) -> None:
    """Show tracked data that is modified, missing, not in the cache, or (with -r) not pushed.

    Example: assay data status -r
    """
    from assay.errors import PointerError
    from assay.objects import remote_for

    with _workspace() as ws:
        chosen = remote_for(ctx.project(), remote_name) if (remote or remote_name) else None
        entries = ws.status(targets or None, remote=chosen)
    corrupt = [e for e in entries if e.reason]
    print_status(entries, as_json=json_out)
    if corrupt:
        more = f" (and {len(corrupt) - 1} more corrupt pointers)" if len(corrupt) > 1 else ""
        raise PointerError(f"{corrupt[0].reason}{more}", path=corrupt[0].path)


@data_app.command("checkout")
def checkout(
    targets: list[str] = typer.Argument(None, help="Tracked paths (default: all)."),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite modified workspace "
                               "data that is not in the cache."),
    json_out: bool = JSON_OPT,
) -> None:
    """Make workspace data match the pointer files (hash-verified before placing it).

    Example: assay data checkout data/churn.parquet
    """
    with _workspace() as ws:
        result = ws.checkout(targets or None, force=force)
    if json_out:
        ctx.print_json(result.as_dict())
        return
    for path, action in sorted(result.actions.items()):
        typer.echo(f"{action:>9}  {path}")
    if not result.actions:
        typer.echo("no tracked data")


@data_app.command("unprotect")
def unprotect(
    targets: list[str] = typer.Argument(..., help="Tracked paths to make editable."),
    json_out: bool = JSON_OPT,
) -> None:
    """Replace read-only links into the cache by private writable copies, to edit them.

    With the hardlink or symlink cache type a workspace file is its cache object; editing it
    in place would change the stored version. After unprotect the edit stays in the
    workspace; version it with assay data add.

    Example: assay data unprotect data/churn.parquet
    """
    from assay.data import unprotect as do_unprotect

    with _workspace() as ws:
        result = do_unprotect(ws, targets)
    if json_out:
        ctx.print_json(result.as_dict())
        return
    for path, count in sorted(result.copied.items()):
        typer.echo(f"unprotected {path} ({count} file{'' if count == 1 else 's'} made private "
                   "and writable)")
    typer.echo("edit freely; version the change with: assay data add PATH")


def _unavailable(result: Any, verb: str) -> None:
    if result.unavailable:
        shown = ", ".join(result.unavailable[:3]) + (", ..." if len(result.unavailable) > 3
                                                      else "")
        n = len(result.unavailable)
        typer.echo(f"{n} stage out{'' if n == 1 else 's'} {verb}: {shown}")


@data_app.command("push")
def push(
    targets: list[str] = typer.Argument(None, help="Tracked paths (default: all)."),
    remote: str | None = typer.Option(None, "--remote", "-r", help="Remote name (default: "
                                      "default_remote)."),
    jobs: int | None = typer.Option(None, "--jobs", "-j", min=1, max=128,
                                    help="Parallel transfers."),
    verify: bool = typer.Option(False, "--verify", help="Also re-hash the remote's copies "
                                "(downloads them) and replace bad ones from the good local "
                                "copies."),
    json_out: bool = JSON_OPT,
) -> None:
    """Upload tracked data the remote lacks or has a bad copy of (hash-checked, parallel,
    idempotent, resumable).

    Without PATHS the pipeline's stage outs recorded in assay.lock go too, so a fresh clone
    restores cached stages instead of re-running them. A corrupt local object is quarantined,
    never pushed; a remote copy of the wrong size (or, with --verify, any bad remote copy) is
    set aside under quarantine/ on the remote and uploaded again.

    Example: assay data push --remote origin --verify
    """
    from assay.data import push as do_push
    from assay.objects import remote_for

    with _workspace() as ws:
        chosen = remote_for(ctx.project(), remote)
        with _progress(f"push -> {chosen.name}", not json_out) as bar:
            result = do_push(ws, chosen, targets or None, jobs=jobs, progress=bar,
                             verify=verify)
    if json_out:
        ctx.print_json({"remote": chosen.name, **result.as_dict()})
        return
    for oid, problem in sorted(result.repaired.items()):
        typer.echo(f"replaced bad remote copy {oid}: {problem}")
    checked = f"; {result.checked} remote copies verified" if verify else ""
    typer.echo(f"pushed {len(result.transferred)} objects ({size_text(result.bytes)}) to "
               f"'{chosen.name}'; {result.skipped} already there{checked}")
    _unavailable(result, "not in the local cache, not pushed (run the pipeline to make them)")


@data_app.command("pull")
def pull(
    targets: list[str] = typer.Argument(None, help="Tracked paths (default: all)."),
    remote: str | None = typer.Option(None, "--remote", "-r", help="Remote name (default: "
                                      "default_remote)."),
    jobs: int | None = typer.Option(None, "--jobs", "-j", min=1, max=128,
                                    help="Parallel transfers."),
    no_checkout: bool = typer.Option(False, "--no-checkout", help="Only fill the cache."),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite modified workspace data."),
    json_out: bool = JSON_OPT,
) -> None:
    """Download tracked data the cache lacks (hash-verified), then check it out.

    Without PATHS the stage outs in assay.lock are fetched into the cache too; assay run then
    restores them instead of re-running their stages.

    Example: assay data pull
    """
    from assay.data import pull as do_pull
    from assay.objects import remote_for

    with _workspace() as ws:
        chosen = remote_for(ctx.project(), remote)
        with _progress(f"pull <- {chosen.name}", not json_out) as bar:
            result, done = do_pull(ws, chosen, targets or None, jobs=jobs, progress=bar,
                                   checkout=not no_checkout, force=force)
    if json_out:
        ctx.print_json({"remote": chosen.name, **result.as_dict(),
                        "checkout": done.actions if done else {}})
        return
    typer.echo(f"pulled {len(result.transferred)} objects ({size_text(result.bytes)}) from "
               f"'{chosen.name}'; {result.skipped} already in the cache")
    _unavailable(result, f"not on '{chosen.name}' (their stages will run)")
    if done:
        for path, action in sorted(done.actions.items()):
            typer.echo(f"{action:>9}  {path}")


@data_app.command("log")
def log(name: str = typer.Argument(..., help="Dataset name."), json_out: bool = JSON_OPT) -> None:
    """List the versions of a dataset: who, when, size, rows, latest contract result, message.

    Example: assay data log churn
    """
    from assay.data import versions

    with _workspace() as ws:
        found = versions(ws.store, name)
    if json_out:
        ctx.print_json([v.as_dict() for v in found])
        return
    for v in reversed(found):
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(v.created_at))
        rows = f"{v.rows:,} rows" if v.rows is not None else f"{v.nfiles} files"
        verdict = f"  {v.contract_summary()}" if v.contracts else ""
        typer.echo(f"v{v.version}  {v.hash[:12]}  {when} UTC  {v.actor}  {size_text(v.size)}  "
                   f"{rows}{verdict}")
        if v.message:  # as git log does: the message of `assay data add -m`, indented below
            typer.echo("\n".join(f"    {line}" for line in v.message.splitlines()))


@data_app.command("diff")
def diff(
    name: str = typer.Argument(..., help="Dataset name."),
    rev_a: str | None = typer.Argument(None, help="Old version (number or hash prefix; "
                                       "default: the one before REV_B)."),
    rev_b: str | None = typer.Argument(None, help="New version (default: the latest)."),
    json_out: bool = JSON_OPT,
) -> None:
    """Compare two versions: files added/removed/modified, schema, rows, column summaries.

    Example: assay data diff churn 1 2
    """
    from assay.data import diff as do_diff

    with _workspace() as ws:
        result = do_diff(ws.store, ws.cache, name, rev_a, rev_b)
    if json_out:
        ctx.print_json(result.as_dict())
        return
    typer.echo(f"{name}: v{result.a.version} ({result.a.hash[:12]}) -> "
               f"v{result.b.version} ({result.b.hash[:12]})")
    if result.is_same:
        typer.echo("identical")
        return
    for kind, paths in result.files.items():
        for p in paths:
            typer.echo(f"  {kind:>8} {p}")
    for kind, cols in result.schema.items():
        for col, dtype in cols.items():
            typer.echo(f"  column {kind}: {col} {dtype}")
    if result.rows:
        typer.echo(f"  rows: {result.rows['a']} -> {result.rows['b']} "
                   f"({result.rows['delta']:+d})" if result.rows["delta"] is not None
                   else f"  rows: {result.rows['a']} -> {result.rows['b']}")
    for col, stats in result.columns.items():
        shown = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in stats.items())
        typer.echo(f"  {col}: {shown}")


def _leftover_lines(items: list[Any], where: str) -> list[str]:
    return [f"  {where}{t.name} ({size_text(t.size)}; {t.reason})" for t in items]


REMOTE_FLAG = typer.Option(False, "--remote", "-r", help="Also the remote (default_remote).")
REMOTE_NAME = typer.Option(None, "--remote-name", help="Which remote for -r (default: "
                           "default_remote).")
GRACE = typer.Option(None, "--grace", min=0.0, help="Minutes: keep unreferenced objects and "
                     "temp files younger than this (default: cache.gc_grace_minutes, 60).")


def gc(
    dry_run: bool = typer.Option(False, "--dry-run", help="Only list what would be removed "
                                 "(exactly what gc would remove now)."),
    grace: float | None = GRACE,
    remote: bool = REMOTE_FLAG,
    remote_name: str | None = REMOTE_NAME,
    workspace: bool = typer.Option(False, "--workspace", help="First remove the outs of "
                                   "stages no longer in the pipeline (a value removed from a "
                                   "matrix) from the workspace and assay.lock."),
    json_out: bool = JSON_OPT,
) -> None:
    """Remove cache objects that no pointer file, assay.lock or store record references, and
    temp files left by killed commands.

    With --workspace, first the outs `assay status` lists as left by stages no longer in the
    pipeline (say models/ and metrics/ of a removed matrix candidate), and their assay.lock
    entries; their cache objects then go like any unreferenced object.

    Waits for commands writing to the cache (a run in progress) to finish. Keeps objects younger
    than the grace period, and never touches a file that is not an object or its own temp file.
    With -r, also removes the remote's left-over temp files and unfinished multipart uploads
    (never remote objects: other clones may need them).

    Example: assay gc --dry-run
    """
    from assay.data import gc as do_gc
    from assay.objects import remote_for

    project = ctx.project()
    minutes = project.config.cache.gc_grace_minutes if grace is None else grace
    orphans: list[Any] = []
    if workspace:
        from assay.pipeline import build_dag, remove_orphan_outs

        orphans = remove_orphan_outs(project, build_dag(project, check_missing_deps=False),
                                     dry_run=dry_run)
    with _workspace() as ws:
        chosen = remote_for(project, remote_name) if (remote or remote_name) else None
        result = do_gc(ws, dry_run=dry_run, grace_minutes=minutes, remote=chosen,
                       on_wait=lambda: typer.echo("Waiting for assay commands that are writing "
                                                  "to the cache (a run in progress?)...",
                                                  err=True))
    if json_out:
        body = result.as_dict()
        if workspace:
            body["workspace_outs"] = [o.to_json() for o in orphans]
        ctx.print_json(body)
        return
    verb = "would remove" if dry_run else "removed"
    for orphan in orphans:
        typer.echo(f"{verb} {orphan.path} (out of '{orphan.stage}', no longer in the pipeline)")
    if dry_run:
        for oid in result.removed:
            typer.echo(f"  {oid}")
    for line in _leftover_lines(result.temp_files, ""):
        typer.echo(line)
    for line in _leftover_lines(result.remote_leftovers, f"{result.remote}: "):
        typer.echo(line)
    extra = ""
    if result.temp_files or result.remote_leftovers:
        n = len(result.temp_files) + len(result.remote_leftovers)
        extra = f" and {n} left-over temp file{'' if n == 1 else 's'}"
    young = (f" ({result.young} unreferenced but younger than {minutes:g} min)"
             if result.young else "")
    typer.echo(f"{verb} {len(result.removed)} objects{extra} ({size_text(result.bytes)}); "
               f"kept {result.kept}{young}")


def fsck(
    remote: bool = REMOTE_FLAG,
    remote_name: str | None = REMOTE_NAME,
    jobs: int | None = typer.Option(None, "--jobs", "-j", min=1, max=128,
                                    help="Parallel checks."),
    json_out: bool = JSON_OPT,
) -> Any:
    """Verify every cache object's hash; quarantine and name corrupt ones (exit 1 if any).

    With -r, then re-hash every object on the remote (downloads it all): a bad remote copy is
    set aside under quarantine/ on the remote and replaced from a good local copy; one without
    a good copy here stays missing there, so assay data push from any clone that has it
    repairs it. Also lists temp files left by killed commands (assay gc removes them).

    Example: assay fsck -r
    """
    from assay.data import fsck as do_fsck
    from assay.objects import remote_for

    project = ctx.project()
    with _workspace() as ws:
        chosen = remote_for(project, remote_name) if (remote or remote_name) else None
        with _progress(f"fsck {chosen.name}" if chosen else "fsck", not json_out) as bar:
            result = do_fsck(ws, jobs=jobs, remote=chosen, progress=bar,
                             grace_minutes=project.config.cache.gc_grace_minutes)
    if json_out:
        ctx.print_json(result.as_dict())
    else:
        _print_fsck(result)
    if not result.is_clean:
        from assay.errors import CorruptObject

        bad = len(result.corrupt) + (0 if result.remote is None else
                                     len(result.remote.corrupt) + len(result.remote.incomplete))
        raise CorruptObject(f"fsck found {bad} bad object{'' if bad == 1 else 's'} (listed "
                            "above); see each line for the fix")


def _print_fsck(result: Any) -> None:
    for oid, problem in sorted(result.corrupt.items()):
        typer.echo(f"corrupt {oid}: {problem}")
    typer.echo(f"checked {result.checked} objects: "
               + ("all good" if not result.corrupt else f"{len(result.corrupt)} corrupt "
                  "(quarantined; restore them with: assay data pull)"))
    if result.temp_files:
        typer.echo(f"{len(result.temp_files)} left-over temp files "
                   f"({size_text(sum(t.size for t in result.temp_files))}); assay gc removes "
                   "them:")
        for line in _leftover_lines(result.temp_files, ""):
            typer.echo(line)
    remote = result.remote
    if remote is None:
        return
    for oid, problem in sorted(remote.corrupt.items()):
        typer.echo(f"corrupt on '{remote.remote}' {oid}: {problem}")
    for manifest, files in sorted(remote.incomplete.items()):
        typer.echo(f"incomplete on '{remote.remote}' {manifest}: lacks {len(files)} of its "
                   "files (push them from a clone that has them: assay data push)")
    repaired = f"; {len(remote.repaired)} repaired from the local cache" if remote.repaired \
        else ""
    typer.echo(f"checked {remote.checked} objects on '{remote.remote}': "
               + ("all good" if not remote.corrupt and not remote.incomplete
                  else f"{len(remote.corrupt)} corrupt{repaired}"))
    if remote.leftovers:
        typer.echo(f"{len(remote.leftovers)} left-over uploads on '{remote.remote}'; assay gc -r "
                   "removes them:")
        for line in _leftover_lines(remote.leftovers, ""):
            typer.echo(line)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
    app.command("gc")(gc)
    app.command("fsck")(fsck)
