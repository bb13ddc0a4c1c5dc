"""How an exception becomes one error line and an exit code (see :mod:`assay.errors`).

Shared by the CLI (:func:`assay.cli.run`) and the commands the console script answers before
loading it (:mod:`assay._lean_add`), so both fail the same way. Standard library only.
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any

from assay.errors import EXIT_INTERNAL, AssayError

EXIT_INTERRUPTED = 130


def fail(message: str, code: int) -> int:
    """Print ``error: <first line>`` (and any further lines) on stderr; return ``code``."""
    first, _, rest = message.partition("\n")
    sys.stderr.write(f"error: {first}\n")
    if rest:
        sys.stderr.write(rest + "\n")
    return code


def exit_code_for(exc: BaseException, *, debug: bool) -> int | None:
    """Report ``exc`` and return the exit code; None for what must propagate (SystemExit)."""
    if isinstance(exc, AssayError):
        if debug:
            traceback.print_exception(exc)
        return fail(str(exc), exc.exit_code)
    if isinstance(exc, KeyboardInterrupt):
        sys.stderr.write("error: interrupted\n")
        return EXIT_INTERRUPTED
    if isinstance(exc, BrokenPipeError):
        return 0
    if isinstance(exc, Exception):
        if debug:
            traceback.print_exception(exc)
        return fail(
            f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for a traceback)",
            EXIT_INTERNAL,
        )
    return None


def json_safe(data: Any) -> Any:
    """``data`` with NaN and ±Inf floats as the strings ``"NaN"``, ``"Infinity"`` and
    ``"-Infinity"`` (protobuf's JSON mapping, which MLflow's REST API uses), so that machine
    output is strict JSON that every parser reads."""
    if isinstance(data, float):
        if data - data == 0.0:  # finite
            return data
        return "NaN" if data != data else "Infinity" if data > 0 else "-Infinity"
    if isinstance(data, dict):
        return {key: json_safe(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [json_safe(value) for value in data]
    return data


def print_json(data: Any) -> None:
    """Machine output: strict JSON on stdout, nothing else (non-finite numbers: see
    :func:`json_safe`)."""
    try:
        text = json.dumps(data, indent=2, sort_keys=True, default=str, allow_nan=False)
    except ValueError:  # a NaN or ±Inf somewhere: only then walk the whole structure
        text = json.dumps(json_safe(data), indent=2, sort_keys=True, default=str,
                          allow_nan=False)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
