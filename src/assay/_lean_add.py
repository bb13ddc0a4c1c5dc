"""``assay data add`` without the CLI framework or pydantic.

Adding a large file is mostly hashing; loading Typer and validating assay.yaml with pydantic
would add about a third of a second to every add. When assay.yaml is byte-for-byte the one a
previous command validated, the data marker holds the :class:`~assay.data.DataSettings` read
from it, and the console script runs the add from those: the same :class:`~assay.data.Workspace`
code, the same output (:func:`add_report`, also used by ``assay.cli.data``) and the same error
lines and exit codes (:mod:`assay._exits`). Anything else (another option, ``--help``, a changed
or never validated assay.yaml, ``ASSAY_DEBUG``) gets no decision here and the full CLI runs.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.data import AddResult, DataSettings

_VALUED = {"--name": "name", "-n": "name", "--message": "message", "-m": "message"}


def parse(args: list[str]) -> tuple[list[str], dict[str, str], bool] | None:
    """(paths, options, --json) of ``assay data add ARGS``, or None for anything unusual."""
    paths: list[str] = []
    options: dict[str, str] = {}
    as_json = False
    items = iter(args)
    for arg in items:
        key, eq, value = arg.partition("=")
        if arg == "--json":
            as_json = True
        elif key in ("--name", "--message") and eq:
            options[_VALUED[key]] = value
        elif arg in _VALUED:
            following = next(items, None)
            if following is None or following.startswith("-"):
                return None
            options[_VALUED[arg]] = following
        elif arg.startswith("-") or not arg:
            return None
        else:
            paths.append(arg)
    return (paths, options, as_json) if paths else None


def saved_settings(root: Path) -> tuple[str, dict[str, Any]] | None:
    """(assay.yaml hash, saved data settings) if assay.yaml is unchanged since they were saved."""
    from assay._data_fastpath import config_hash, read_marker

    marker = read_marker(root / ".assay")
    current = config_hash(root)
    if marker is None or current is None or marker.get("config") != current:
        return None
    saved = marker.get("settings")
    return (current, saved) if isinstance(saved, dict) else None


def links_first(saved: dict[str, Any]) -> bool:
    """True if files are hardlinked into the cache (so hashed before, not during, storing)."""
    types = saved.get("cache_types")
    if not isinstance(types, list):
        return False
    return next((t for t in types if t != "reflink"), None) == "hardlink"


def size_text(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def add_report(results: list[AddResult], elapsed: float) -> tuple[list[str], list[str]]:
    """What ``assay data add`` prints: (stdout lines, stderr lines)."""
    out: list[str] = []
    err: list[str] = []
    for r in results:
        what = f"{r.nfiles} files, " if r.oid.endswith(".dir") else ""
        rows = f", {r.rows:,} rows" if r.rows is not None else ""
        if r.changed:
            out.append(f"added {r.path} as '{r.name}' v{r.version} ({what}{size_text(r.size)}"
                       f"{rows}) -> {r.pointer_file} [{r.oid[:12]}, {r.mode}]")
        else:
            out.append(f"unchanged {r.path} ({r.oid[:12]})")
        if r.skipped_links:
            n = len(r.skipped_links)
            out.append(f"  skipped {n} symlink{'s' if n > 1 else ''} in {r.path} (not followed, "
                       f"not versioned): {', '.join(r.skipped_links[:3])}"
                       f"{', ...' if n > 3 else ''}")
        err.extend(
            f"  warning: the previous version's object {oid[:12]} was edited in place through "
            "a link; it is quarantined (assay data pull restores it if a remote has it; use "
            "assay data unprotect before editing)" for oid in r.quarantined
        )
    if any(r.changed for r in results):
        pointers = " ".join(r.pointer_file for r in results if r.changed)
        out.append(f"commit the pointer files: git add {pointers} .gitignore ({elapsed:.2f} s)")
    return out, err


def add_paths(settings: DataSettings, paths: list[str], *, name: str | None,
              message: str | None) -> list[AddResult]:
    """Add each path, as ``assay data add`` does.

    Raises:
        UsageError: ``--name`` with several paths; see :meth:`Workspace.add` for the rest.
    """
    from assay.data import Workspace
    from assay.errors import UsageError

    if name and len(paths) > 1:
        raise UsageError("--name works with one path at a time")
    with Workspace(settings) as ws:
        return [ws.add(p, name=name, message=message) for p in paths]


def try_add(root: Path, args: list[str]) -> int | None:
    """The exit code of ``assay data add ARGS`` run here, or None (the full CLI decides)."""
    if os.environ.get("ASSAY_DEBUG", "") == "1":
        return None
    parsed = parse(args)
    if parsed is None:
        return None
    found = saved_settings(root)
    if found is None:
        return None
    digest, saved = found
    paths, options, as_json = parsed
    if links_first(saved):
        from assay import _prehash

        for raw in paths:
            _prehash.start(raw)
    from assay._exits import exit_code_for, print_json
    from assay.data import DataSettings

    try:
        settings = DataSettings.from_json(root, saved, digest)
    except ValueError:
        return None
    started = time.perf_counter()
    try:
        results = add_paths(settings, paths, name=options.get("name"),
                            message=options.get("message"))
        if as_json:
            print_json([r.as_dict() for r in results])
            return 0
        out, err = add_report(results, time.perf_counter() - started)
        if out:
            sys.stdout.write("\n".join(out) + "\n")
            sys.stdout.flush()
        if err:
            sys.stderr.write("\n".join(err) + "\n")
    except (Exception, KeyboardInterrupt) as exc:
        code = exit_code_for(exc, debug=False)
        if code is None:  # pragma: no cover - exit_code_for answers every Exception
            raise
        return code
    return 0
