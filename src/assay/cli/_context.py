"""What every command shares: the project, the store, output helpers. Kept light to import."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from assay.config import Project
    from assay.store import Store


@dataclass
class Globals:
    """Options given before the command: ``assay --debug -C DIR ...``."""

    debug: bool = False
    project_dir: Path | None = None
    _project: Project | None = field(default=None, repr=False)
    _store: Store | None = field(default=None, repr=False)


GLOBALS = Globals()


def project() -> Project:
    """The current project (loaded once per process)."""
    from assay.config import Project

    if GLOBALS._project is None:
        GLOBALS._project = Project.load(GLOBALS.project_dir)
    return GLOBALS._project


def store() -> Store:
    """The current project's metadata store (opened and migrated once per process)."""
    from assay.store import open_store

    if GLOBALS._store is None:
        GLOBALS._store = open_store(project().store_url)
    return GLOBALS._store


def reset() -> None:
    """Forget the loaded project and store (tests run many commands in one process)."""
    if GLOBALS._store is not None:
        GLOBALS._store.close()
    GLOBALS._project = None
    GLOBALS._store = None


_console: Console | None = None
_err_console: Console | None = None


def console() -> Console:
    """The shared stdout console (wraps only in a terminal; see :mod:`assay._console`)."""
    global _console
    from assay._console import make_console

    if _console is None or _console.file is not sys.stdout:
        _console = make_console()
    return _console


def err_console() -> Console:
    global _err_console
    from assay._console import make_console

    if _err_console is None or _err_console.file is not sys.stderr:
        _err_console = make_console(stderr=True)
    return _err_console


def print_json(data: Any) -> None:
    """Machine output: JSON on stdout, nothing else (see :func:`assay.cli._front.print_json`)."""
    from assay.cli._front import print_json as write_json

    write_json(data)


def is_interactive() -> bool:
    return sys.stderr.isatty() and os.environ.get("CI", "") == ""


def table(*columns: str) -> Any:
    """A borderless table whose cells never wrap (a pipe or CI log shows each row on a line)."""
    from rich.table import Table

    from assay._console import escape

    made = Table(box=None)
    for column in columns:
        made.add_column(escape(column), no_wrap=True)
    return made
