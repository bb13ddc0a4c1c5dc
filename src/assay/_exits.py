"""Exit codes: the one mapping from what ended a command to the code its process exits with.

:func:`exit_code` is the only place that decides a code; :func:`report` prints the one error
line and returns it. Used by the Typer front (:func:`assay.cli.run`), the console script's
shortcuts (:mod:`assay.cli._front`), the built-in kinds' subprocess
(:mod:`assay.pipeline.kind_exec`) and the runner when it records how a run ended, so every way
a command can fail exits the same way:

- an :class:`~assay.errors.AssayError`: the code its family declares (the tree in
  :mod:`assay.errors`: 1 a check, gate or stage failed, 2 usage or config, 3 internal);
- an interrupt (Ctrl-C, SIGTERM): 130; a closed stdout (``| head``): 0;
- ``SystemExit``: the code it carries (the CLI framework's own exits: ``--help``, ``--version``);
- anything else: 3, an internal error (``--debug`` prints the traceback).

Standard library only.
"""

from __future__ import annotations

import sys
import traceback

from assay.errors import EXIT_FAILED, EXIT_INTERNAL, EXIT_OK, AssayError

EXIT_INTERRUPTED = 130


def exit_code(exc: BaseException | None) -> int:
    """The exit code of a command that ended with ``exc`` (None: it succeeded)."""
    if exc is None or isinstance(exc, BrokenPipeError):
        return EXIT_OK
    if isinstance(exc, AssayError):
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, SystemExit):
        code = exc.code
        if code is None or isinstance(code, int):
            return code or EXIT_OK
        return EXIT_FAILED  # SystemExit("message") exits 1, as Python does
    return EXIT_INTERNAL


def fail(message: str) -> None:
    """Print ``error: <first line>`` (and any further lines) on stderr."""
    first, _, rest = message.partition("\n")
    sys.stderr.write(f"error: {first}\n")
    if rest:
        sys.stderr.write(rest + "\n")


def report(exc: BaseException, *, debug: bool = False) -> int:
    """Print the one error line ``exc`` deserves on stderr; return :func:`exit_code` of it."""
    code = exit_code(exc)
    if isinstance(exc, AssayError):
        if debug:
            traceback.print_exception(exc)
        fail(str(exc))
    elif isinstance(exc, KeyboardInterrupt):
        sys.stderr.write("error: interrupted\n")
    elif isinstance(exc, (BrokenPipeError, SystemExit)):
        pass
    else:
        if debug:
            traceback.print_exception(exc)
        fail(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for a traceback)")
    return code
