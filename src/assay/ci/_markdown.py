"""Putting user strings (dataset, contract, candidate and file names, check messages) into a
Markdown comment without letting them format it, break a table or open HTML."""

from __future__ import annotations

import re

_SPECIAL = re.compile(r"([\\`*_\[\]|<>~&])")
"""What formats text in the middle of a line (the report never starts a line with user text,
so ``#``, ``-``, ``+`` and ``1.`` cannot start a heading or a list)."""
_TICKS = re.compile(r"`+")


def escape(text: object) -> str:
    """``text`` as literal Markdown text inside a line: every character that formats there
    escaped (``|`` too, so it stays in its table cell; ``<`` so it never opens HTML; ``&`` so
    it never spells an entity)."""
    flat = " ".join(str(text).split())
    return _SPECIAL.sub(r"\\\1", flat)


def code(text: object) -> str:
    """``text`` as an inline code span on one line, fenced by more backticks than it holds;
    ``|`` (which a table would split on even inside code) becomes ``¦``."""
    flat = " ".join(str(text).split()).replace("|", "¦")
    longest = max((len(run) for run in _TICKS.findall(flat)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"
