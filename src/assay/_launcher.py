"""The ``assay`` console script: a shortcut's answer when one applies, else the full CLI.

:func:`assay.cli._front.dispatch` decides (standard library only until a shortcut answers);
every other command line goes to :func:`assay.cli.main`.
"""

from __future__ import annotations

import sys


def main() -> None:
    """Console-script entry point."""
    from assay.cli._front import dispatch, remembering_help

    code = dispatch(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from assay.cli import main as cli_main

    with remembering_help(sys.argv[1:]):
        cli_main()
