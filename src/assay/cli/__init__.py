"""The ``assay`` command line: Typer app, one module per command group; parsing and printing only.

The app is assembled in :mod:`assay.cli._app`; :mod:`assay.cli._front` holds the grammar and
the printing shared by the commands that the console script can answer before Typer loads.
Importing this package loads neither: names load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay._lazy import lazy_attributes

if TYPE_CHECKING:
    from assay.cli._app import build_app, main, run

_LAZY: dict[str, str] = {
    "build_app": "assay.cli._app",
    "main": "assay.cli._app",
    "run": "assay.cli._app",
}

__all__ = ["build_app", "main", "run"]

__getattr__, __dir__ = lazy_attributes("assay.cli", _LAZY, __all__, globals())
