"""Terminal output, the one way: user text escaped for rich markup, consoles that never wrap
when the stream is not a terminal (pipes, CI logs), and plain lines without importing rich.

Stage and candidate names (``train[model=lr]``), regex checks (``^[a-z0-9]+@[a-z.]+$``), paths
and messages are user text: every one goes through :func:`escape` before it reaches rich
markup, or rich takes ``[model=lr]`` for a style tag and drops it.

Stdlib only at import (rich is imported when a console is made).
"""

from __future__ import annotations

import re
import sys
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

# Not a terminal: lines are never wrapped (tables are as wide as their content).
NON_TTY_WIDTH = 1000

# rich's tag grammar (rich.markup.RE_TAGS): only these bracket runs are taken for markup
_TAG = re.compile(r"(\\*)(\[([a-z#/@][^[]*?)])")


def escape(text: object) -> str:
    """``text`` (any value, shown as ``str(text)``) with every markup-like ``[...]`` escaped,
    as :func:`rich.markup.escape` does, so rich shows it literally."""

    def _escape(match: re.Match[str]) -> str:
        backslashes, tag = match.group(1), match.group(2)
        return f"{backslashes}{backslashes}\\{tag}"

    value = _TAG.sub(_escape, str(text))
    if value.endswith("\\") and not value.endswith("\\\\"):
        return value + "\\"
    return value


def plain(markup: str) -> str:
    """What rich would show for ``markup``, without styles: tags dropped, escapes undone."""

    def _render(match: re.Match[str]) -> str:
        backslashes, tag = match.group(1), match.group(2)
        kept = "\\" * (len(backslashes) // 2)
        return kept + tag if len(backslashes) % 2 else kept

    return _TAG.sub(_render, markup)


def is_terminal(stream: IO[str]) -> bool:
    """Whether ``stream`` is an interactive terminal (the only place lines may wrap)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def make_console(file: IO[str] | None = None, *, stderr: bool = False, **options: Any) -> Console:
    """A rich console on ``file`` (stdout, or stderr when ``stderr``) that wraps only in a
    terminal: elsewhere text is soft-wrapped (never broken) and tables are as wide as their
    content. ``options`` go to :class:`rich.console.Console` (``force_terminal`` in tests)."""
    from rich.console import Console

    stream = file if file is not None else (sys.stderr if stderr else sys.stdout)
    options.setdefault("highlight", False)
    if not is_terminal(stream):
        options.setdefault("width", NON_TTY_WIDTH)
        options.setdefault("soft_wrap", True)
    return Console(file=stream, **options)


class PlainLines:
    """Markup lines written as plain text, never wrapped, without importing rich (the
    shortcuts print through this when the stream is not a terminal)."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def print(self, text: str, **_: Any) -> None:
        self.stream.write(plain(text) + "\n")
        self.stream.flush()
